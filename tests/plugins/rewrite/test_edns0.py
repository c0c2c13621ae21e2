"""rewrite edns0 rules: the options the rest of the chain sees, and what the client gets back.

The tables are CoreDNS's (rewrite_test.go, edns0_test.go). Their next handler, msgPrinter, writes
the query it got back as the reply, OPT record included; :class:`Echo` does the same here, so the
reply shows both what the rules did to the query and what ``revert`` undid.
"""

from __future__ import annotations

import asyncio
import inspect
import struct

import dnslib
import pytest

from pycoredns import wire
from pycoredns.plugin import Plugin, Request, Result
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.opt import find_opt, read_opt
from pycoredns.plugins.rewrite.parse import new_rule
from pycoredns.testing.handler import TEST_LOCAL, TEST_REMOTE

Opts = list[tuple[int, bytes]]


class Echo(Plugin):
    """Answers with the query it got (OPT and all) plus an A record, as CoreDNS's msgPrinter."""

    name = "echo"

    def __init__(self, with_opt: bool = True) -> None:
        super().__init__(None)
        self.with_opt = with_opt
        self.seen: list[Request] = []

    def serve(self, req: Request) -> Result:
        self.seen.append(req)
        data = req.wire
        # Built on the wire: dnslib drops a last option that has no data (an empty NSID).
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + bytes((10, 0, 0, 1))
        ar = data[10:12] if self.with_opt else b"\x00\x00"
        head = data[:2] + bytes((data[2] | 0x80, data[3])) + b"\x00\x01\x00\x01\x00\x00" + ar
        return head + data[12 : req.q.end] + answer + (data[req.q.end :] if self.with_opt else b"")


def query(opts: Opts | None = None, *, remote: tuple[str, int] = TEST_REMOTE, do: bool = False) -> Request:
    """example.com. A from ``remote``; with an OPT carrying ``opts`` when given (None: no OPT)."""
    q = dnslib.DNSRecord.question("example.com.", "A")
    if opts is not None:
        q.add_ar(
            dnslib.EDNS0(udp_len=4096, flags="do" if do else "", opts=[dnslib.EDNSOption(c, d) for c, d in opts])
        )
    data = bytes(q.pack())
    local = ("::1", 53) if ":" in remote[0] else TEST_LOCAL
    return Request(data, wire.read_question(data), "udp", remote, local, "dns://:53")


def options(msg: dnslib.DNSRecord | bytes | None) -> Opts | None:
    """The options of a message's OPT record, None when it has no OPT."""
    assert msg is not None
    data = msg if isinstance(msg, bytes) else bytes(msg.pack())
    begin, end = find_opt(data, wire.skip_name(data, 12) + 4)
    if begin < 0:
        return None
    return [(o.code, o.data) for o in read_opt(data, begin, end).options]


def run(h: Rewrite, req: Request) -> tuple[int, bytes | None]:
    """(rcode, reply wire): the reply as sent (dnslib would drop a last empty option)."""

    async def go() -> Result:
        result = h.serve(req)
        return await result if inspect.isawaitable(result) else result

    result = asyncio.run(go())
    if isinstance(result, bytes):
        return result[3] & 0xF, result
    return int(result), None  # type: ignore[arg-type]


def rewrite(*lines: str, next: Plugin | None = None) -> tuple[Rewrite, Echo]:
    echo = next if isinstance(next, Echo) else Echo()
    return Rewrite(echo, [new_rule(line.split()) for line in lines]), echo


def serve(lines: list[str], req: Request) -> tuple[Opts | None, Opts | None]:
    """(options the next handler saw, options of the client's reply)."""
    h, echo = rewrite(*lines)
    rcode, reply = run(h, req)
    assert rcode == 0
    return options(echo.seen[-1].wire), options(reply)


LOCAL = 0xFFEE


# TestRewriteEDNS0Local: no revert flag, so what the upstream saw comes back.
@pytest.mark.parametrize(
    ("rule", "want"),
    [
        ("local set 0xffee 0xabcdef", [(LOCAL, b"\xab\xcd\xef")]),
        ("local append 0xffee abcdefghijklmnop", [(LOCAL, b"abcdefghijklmnop")]),
        ("local replace 0xffee abcdefghijklmnop", []),
        ("nsid set", [(3, b"")]),
        ("nsid append", [(3, b"")]),
        ("nsid replace", []),
    ],
)
def test_local_and_nsid_without_edns(rule: str, want: Opts) -> None:
    seen, got = serve([f"edns0 {rule}"], query())
    # The query had no OPT: one is added (4096, DO clear) even when the rule changes nothing.
    assert seen == want and got == want


def test_added_opt_has_coredns_defaults() -> None:
    h, echo = rewrite("edns0 local replace 0xffee abc")
    run(h, query())
    q = echo.seen[-1].q
    assert (q.edns, q.udp_size, q.do) == (True, 4096, False)


def test_client_opt_keeps_size_do_and_other_options() -> None:
    seen, _ = serve(["edns0 local set 0xffee abc"], query([(10, b"\x01" * 8)], do=True))
    assert seen == [(10, b"\x01" * 8), (LOCAL, b"abc")]
    h, echo = rewrite("edns0 local set 0xffee abc")
    run(h, query([], do=True))
    assert (echo.seen[-1].q.udp_size, echo.seen[-1].q.do) == (4096, True)


LOCAL_FOOBAR = [(LOCAL, b"foobar")]
NSID_EMPTY = [(3, b"")]
ECS_ZERO = [(8, b"\x00\x01\x00\x00")]


# TestEdns0MultiRule: two stop rules; a replace with nothing to replace is ignored, so the
# second rule runs. reply_want None: the reply is what the upstream saw (no revert flag).
FEDCBA = [(LOCAL, b"fedcba")]
QTYPE_A = [(LOCAL, b"\x00\x01")]
ECS_32 = [(8, b"\x00\x01\x20\x00\x0a\xf0\x00\x01")]


@pytest.mark.parametrize(
    ("rules", "client", "seen_want", "reply_want"),
    [
        (["local replace 0xffee abcdef", "local set 0xffee fedcba"], None, FEDCBA, None),
        (["local replace 0xffee abcdef", "local set 0xffee fedcba"], LOCAL_FOOBAR, [(LOCAL, b"abcdef")], None),
        (["local replace 0xffee abcdef revert", "local set 0xffee fedcba revert"], None, FEDCBA, []),
        (
            ["local replace 0xffee abcdef revert", "local set 0xffee fedcba revert"],
            LOCAL_FOOBAR,
            [(LOCAL, b"abcdef")],
            LOCAL_FOOBAR,
        ),
        (["local replace 0xffee {qname}", "local set 0xffee {qtype}"], None, QTYPE_A, None),
        (
            ["local replace 0xffee {qname}", "local set 0xffee {qtype}"],
            LOCAL_FOOBAR,
            [(LOCAL, b"example.com.")],
            None,
        ),
        (["local replace 0xffee {qname} revert", "local set 0xffee {qtype} revert"], None, QTYPE_A, []),
        (
            ["local replace 0xffee {qname} revert", "local set 0xffee {qtype} revert"],
            LOCAL_FOOBAR,
            [(LOCAL, b"example.com.")],
            LOCAL_FOOBAR,
        ),
        (["nsid replace", "nsid set"], None, NSID_EMPTY, None),
        (["nsid replace", "nsid set"], LOCAL_FOOBAR, [*LOCAL_FOOBAR, *NSID_EMPTY], None),
        (["nsid replace", "nsid set"], NSID_EMPTY, NSID_EMPTY, None),
        (["nsid replace revert", "nsid set revert"], None, NSID_EMPTY, []),
        (["nsid replace revert", "nsid set revert"], LOCAL_FOOBAR, [*LOCAL_FOOBAR, *NSID_EMPTY], LOCAL_FOOBAR),
        (["nsid replace revert", "nsid set revert"], NSID_EMPTY, NSID_EMPTY, NSID_EMPTY),
        (["subnet replace 32 56", "subnet set 0 56"], None, ECS_ZERO, None),
        (["subnet replace 32 56", "subnet set 0 56"], ECS_ZERO, ECS_32, None),
        (["subnet replace 32 56 revert", "subnet set 0 56 revert"], None, ECS_ZERO, []),
        (["subnet replace 32 56 revert", "subnet set 0 56 revert"], ECS_ZERO, ECS_32, ECS_ZERO),
    ],
)
def test_multi_rule(rules: list[str], client: Opts | None, seen_want: Opts, reply_want: Opts | None) -> None:
    seen, got = serve([f"stop edns0 {r}" for r in rules], query(client))
    assert seen == seen_want
    assert got == (seen_want if reply_want is None else reply_want)


# TestRewriteEDNS0LocalVariable: CoreDNS's test writer is 10.240.0.1:40212 -> 127.0.0.1:53.
@pytest.mark.parametrize(
    ("variable", "want"),
    [
        ("{qname}", b"example.com."),
        ("{qtype}", b"\x00\x01"),
        ("{client_ip}", b"\x0a\xf0\x00\x01"),
        ("{client_port}", b"\x9d\x14"),
        ("{protocol}", b"udp"),
        ("{server_port}", b"\x00\x35"),
        ("{server_ip}", b"\x7f\x00\x00\x01"),
    ],
)
def test_local_variables(variable: str, want: bytes) -> None:
    seen, _ = serve([f"edns0 local set 0xffee {variable}"], query())
    assert seen == [(LOCAL, want)]


def test_local_variables_ipv6_and_tcp() -> None:
    h, echo = rewrite("continue edns0 local set 0xffee {client_ip}", "edns0 local set 0xfffe {server_ip}")
    run(h, query(remote=("fe80::42:ff:feca:4c65", 40212)))
    ip6 = bytes.fromhex("fe80000000000000004200fffeca4c65")
    assert options(echo.seen[-1].wire) == [(LOCAL, ip6), (0xFFFE, b"\x00" * 15 + b"\x01")]
    h, echo = rewrite("edns0 local set 0xffee {protocol}")
    req = query()
    tcp = Request(req.wire, req.q, "tcp", req.remote, req.local, req.server)
    run(h, tcp)
    assert options(echo.seen[-1].wire) == [(LOCAL, b"tcp")]


def test_local_variable_from_metadata() -> None:
    req = query()
    req.meta = {"test/label": "my-value", "test/empty": ""}
    for label, want in [("{test/label}", [(LOCAL, b"my-value")]), ("{test/empty}", None), ("{test/none}", None)]:
        h, echo = rewrite(f"edns0 local set 0xffee {label}")
        rcode, reply = run(h, req)
        # An empty or missing label: the rule does nothing, the query goes on untouched (no OPT).
        assert options(echo.seen[-1].wire) == want and options(reply) == want


def test_variable_append_leaves_existing_option() -> None:
    seen, _ = serve(["edns0 local append 0xffee {qname}"], query(LOCAL_FOOBAR))
    assert seen == LOCAL_FOOBAR


def test_local_append_adds_beside_existing_option() -> None:
    # CoreDNS's local rule appends even when the code is there (its variable rule does not).
    seen, _ = serve(["edns0 local append 0xffee abc"], query(LOCAL_FOOBAR))
    assert seen == [*LOCAL_FOOBAR, (LOCAL, b"abc")]


def test_local_rule_never_matches_a_typed_option() -> None:
    # Code 3 is NSID: miekg/dns decodes it as such, so a local rule adds another one.
    seen, _ = serve(["edns0 local set 3 abc"], query(NSID_EMPTY))
    assert seen == [*NSID_EMPTY, (3, b"abc")]


# TestRewriteEDNS0Subnet (CoreDNS's IPv6 test writer is fe80::42:ff:feca:4c65)
IP6 = ("fe80::42:ff:feca:4c65", 40212)


@pytest.mark.parametrize(
    ("remote", "rule", "want"),
    [
        (TEST_REMOTE, "24 56", b"\x00\x01\x18\x00\x0a\xf0\x00"),
        (TEST_REMOTE, "32 56", b"\x00\x01\x20\x00\x0a\xf0\x00\x01"),
        (TEST_REMOTE, "0 56", b"\x00\x01\x00\x00"),
        (IP6, "24 56", b"\x00\x02\x38\x00" + bytes.fromhex("fe80000000000000")[:7]),
        (IP6, "24 128", b"\x00\x02\x80\x00" + bytes.fromhex("fe80000000000000004200fffeca4c65")),
        (IP6, "24 0", b"\x00\x02\x00\x00"),
        (("10.1.2.3", 5), "20 56", b"\x00\x01\x14\x00\x0a\x01\x00"),
    ],
)
def test_subnet(remote: tuple[str, int], rule: str, want: bytes) -> None:
    seen, _ = serve([f"edns0 subnet set {rule}"], query(remote=remote))
    assert seen == [(8, want)]


def test_subnet_append_and_replace() -> None:
    client = [(8, b"\x00\x01\x18\x00\xc0\x00\x02")]
    assert serve(["edns0 subnet append 24 56"], query(client))[0] == client  # ignored: one is there
    assert serve(["edns0 subnet replace 16 56"], query(client))[0] == [(8, b"\x00\x01\x10\x00\x0a\xf0")]
    assert serve(["edns0 subnet replace 16 56"], query([]))[0] == []  # nothing to replace


# TestRewriteEDNS0Revert: the response to the client does not keep what revert undoes.
@pytest.mark.parametrize(
    ("rule", "client", "want"),
    [
        ("local set 0xffee 0xabcdef revert", None, []),
        ("local append 0xffee abcdefghijklmnop revert", None, []),
        ("local replace 0xffee abcdefghijklmnop revert", None, []),
        ("nsid set revert", None, []),
        ("nsid append revert", None, []),
        ("nsid replace", None, []),
        ("local set 0xffee 0xabcd revert", [(0xFFED, b"\xab\xcd\xef")], [(0xFFED, b"\xab\xcd\xef")]),
        ("local replace 0xffee abcdefghijklmnop", [(0xFFEF, b"\xab\xcd\xef")], [(0xFFEF, b"\xab\xcd\xef")]),
        ("subnet set 24 56 revert", None, []),
        ("subnet set 24 56 revert", [(8, b"\x00\x01\x18\x00\xc0\x00\x02")], [(8, b"\x00\x01\x18\x00\xc0\x00\x02")]),
    ],
)
def test_revert(rule: str, client: Opts | None, want: Opts) -> None:
    _, got = serve([f"edns0 {rule}"], query(client))
    assert got == want


# TestRewriteEDNS0Unset
@pytest.mark.parametrize(
    ("client", "rule", "want"),
    [
        ([], "local unset 0xffee", []),
        ([(LOCAL, b"\xab\xcd\xef")], "local unset 0xffee", []),
        ([(LOCAL, b"\xab\xcd\xef")], "local unset 0xffed", [(LOCAL, b"\xab\xcd\xef")]),
        (NSID_EMPTY, "nsid unset", []),
        ([], "nsid unset", []),
        (ECS_ZERO, "subnet unset", []),
        ([], "subnet unset", []),
        ([*LOCAL_FOOBAR, *NSID_EMPTY], "nsid unset", LOCAL_FOOBAR),
        ([*LOCAL_FOOBAR, *NSID_EMPTY], "local unset 0xffee", NSID_EMPTY),
        ([*LOCAL_FOOBAR, *NSID_EMPTY], "subnet unset", [*LOCAL_FOOBAR, *NSID_EMPTY]),
        (None, "subnet unset", []),  # no OPT at all: one is added, empty
    ],
)
def test_unset(client: Opts | None, rule: str, want: Opts) -> None:
    seen, got = serve([f"edns0 {rule}"], query(client))
    assert seen == want and got == want


# edns0_test.go: the reply has no OPT of its own. CoreDNS's scrub writer then reuses the query's
# OPT, which is why "revert" must also clean the query there; here a reply is never given the
# query's options, so the added option cannot leak and the client's own options are not echoed.
def test_revert_with_reply_without_opt() -> None:
    h, _ = rewrite("edns0 local set 0xffee 0xabcdef revert", next=Echo(with_opt=False))
    rcode, reply = run(h, query([]))
    assert rcode == 0 and options(reply) is None
    h, _ = rewrite("edns0 local set 0xffee 0xabcdef revert", next=Echo(with_opt=False))
    rcode, reply = run(h, query([(LOCAL, b"\x11\x11\x11")]))
    assert rcode == 0 and options(reply) is None


def test_name_and_edns0_rules_together() -> None:
    h, echo = rewrite(
        "continue name example.com example.org",
        "edns0 local set 0xffee {qname} revert",
    )
    rcode, reply = run(h, query([(10, b"\x02" * 8)]))
    assert echo.seen[-1].qname == "example.org."
    assert options(echo.seen[-1].wire) == [(10, b"\x02" * 8), (LOCAL, b"example.org.")]
    assert options(reply) == [(10, b"\x02" * 8)]
    msg = dnslib.DNSRecord.parse(reply)
    assert str(msg.q.qname) == "example.com." and [str(rr.rname) for rr in msg.rr] == ["example.com."]


def test_error_reply_keeps_added_opt_and_question() -> None:
    class Fail(Plugin):
        name = "fail"

        def serve(self, req: Request) -> Result:
            return wire.SERVFAIL

    h = Rewrite(Fail(None), [new_rule("edns0 local set 0xffee abc revert".split())])
    rcode, reply = run(h, query())
    assert rcode == 2 and reply is not None
    assert str(dnslib.DNSRecord.parse(reply).q.qname) == "example.com." and options(reply) == []


def test_reply_through_dnslib_keeps_an_empty_last_option() -> None:
    # A name rule sends the reply through dnslib, which would drop the client's empty NSID.
    seen, got = serve(["name example.com example.org"], query(NSID_EMPTY))
    assert seen == NSID_EMPTY and got == NSID_EMPTY
