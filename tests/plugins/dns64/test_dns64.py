"""dns64: CoreDNS's setup table (plugin/dns64/setup_test.go), its handler tables (dns64_test.go)
and a real server whose A-only upstream gets AAAA answers synthesised."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable

import dnslib
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.metrics import REGISTRY
from pycoredns.plugin import HandlerError, Request, UpstreamError
from pycoredns.plugins.dns64.handler import DNS64, Options, Prefix, shape, to6
from pycoredns.plugins.dns64.setup import parse_cidr
from pycoredns.server import config
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.handler import run


def _dns64(corefile: str) -> DNS64:
    instance = config.load(corefile)
    (handler,) = [h for h in instance.configs[0].handlers if isinstance(h, DNS64)]
    return handler


@pytest.mark.parametrize(
    ("body", "prefix", "translate_all", "allow_ipv4"),
    [
        pytest.param("dns64", "64:ff9b::/96", False, False, id="default"),
        pytest.param("dns64 64:dead::/96", "64:dead::/96", False, False, id="argument"),
        pytest.param("dns64 {\n translate_all\n }", "64:ff9b::/96", True, False, id="translate_all"),
        pytest.param("dns64 {\n prefix 64:ff9b::/96\n }", "64:ff9b::/96", False, False, id="prefix"),
        pytest.param("dns64 {\n prefix 64:ff9b::/32\n }", "64:ff9b::/32", False, False, id="prefix-32"),
        pytest.param(
            "dns64 {\n prefix 2002:ac12:b083::/96\n }", "2002:ac12:b083::/96", False, False, id="prefix-other"
        ),
        pytest.param(
            "dns64 {\n prefix 2002:c0a8:a88a::/48\n }", "2002:c0a8:a88a::/48", False, False, id="prefix-48"
        ),
        pytest.param("dns64 {\n allow_ipv4\n }", "64:ff9b::/96", False, True, id="allow_ipv4"),
        pytest.param("dns64 64:ff9b:1::/96 {\n translate_all\n }", "64:ff9b:1::/96", False, False,
                     id="block-after-an-argument-is-skipped"),
        pytest.param("dns64 64:ff9b:1:2:3::/64", "64:ff9b:1:2::/64", False, False, id="host-bits-masked"),
    ],
)
def test_setup(body: str, prefix: str, translate_all: bool, allow_ipv4: bool) -> None:
    d = _dns64(f". {{\n {body}\n whoami\n}}\n")
    assert (str(d.prefix), d.translate_all, d.allow_ipv4) == (prefix, translate_all, allow_ipv4)


E = "plugin/dns64: Corefile:3 - Error during parsing: "


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("dns64 {\n prefix 64:ff9b::/52\n }", E + 'invalid prefix length "64:ff9b::/52"', id="len-52"),
        pytest.param(
            "dns64 {\n prefix 64:ff9b::/104\n }", E + 'invalid prefix length "64:ff9b::/104"', id="len-104"
        ),
        pytest.param("dns64 {\n prefix 64::/24\n }", E + 'invalid prefix length "64::/24"', id="len-24"),
        pytest.param(
            "dns64 {\n prefix 8.8.8.8/24\n }", E + 'invalid netmask 32 IPv6 address: "8.8.8.0/24"', id="ipv4"
        ),
        pytest.param("dns64 foobar {\n prefix 64:ff9b::/96\n }", "plugin/dns64: invalid CIDR address: foobar",
                     id="argument-not-a-cidr"),
        pytest.param("dns64 foobar", "plugin/dns64: invalid CIDR address: foobar", id="bare-argument-not-a-cidr"),
        pytest.param("dns64 {\n foobar\n }", E + "unknown property 'foobar'", id="unknown-property"),
        pytest.param(
            "dns64 {\n prefix\n }",
            E + "Wrong argument count or unexpected line ending after 'prefix'",
            id="prefix-without-value",
        ),
        pytest.param(
            "dns64 64:ff9b::/96 64:ff9b::/96",
            "plugin/dns64: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after"
            " '64:ff9b::/96'",
            id="two-arguments",
        ),
        pytest.param(
            "dns64 {\n translate_all yes\n }", E + "unknown property 'yes'", id="argument-to-a-flag"
        ),
        pytest.param(
            "dns64 {\n prefix ::ffff:1.2.3.4/120\n }", E + 'invalid prefix length "1.2.3.0/120"', id="mapped"
        ),
    ],
)
def test_setup_errors(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        config.load(f". {{\n {body}\n whoami\n}}\n")
    assert str(e.value) == error


@pytest.mark.parametrize(
    "text", ["foobar", "64:ff9b::/", "64:ff9b::", "64:ff9b::/129", "1.2.3.4/33", "64:ff9b::/-1", "fe80::1%lo/64"]
)
def test_parse_cidr_rejects_as_go(text: str) -> None:
    with pytest.raises(Exception, match="invalid CIDR address"):
        parse_cidr(text)


@pytest.mark.parametrize(
    ("prefix", "v4", "v6"),
    [  # dns64_test.go's TestTo6, and the /40 and /48 layouts of RFC 6052
        ("64:ff9b::/96", "64.64.64.64", "64:ff9b::4040:4040"),
        ("64:ff9b::/64", "64.64.64.64", "64:ff9b::40:4040:4000:0"),
        ("64:ff9b::/56", "64.64.64.64", "64:ff9b:0:40:40:4040::"),
        ("64::/32", "64.64.64.64", "64:0:4040:4040::"),
        ("2001:db8:100::/40", "192.0.2.33", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "192.0.2.33", "2001:db8:122:c000:2:2100::"),
    ],
)
def test_to6(prefix: str, v4: str, v6: str) -> None:
    network, length, _ = parse_cidr(prefix)
    got = to6(Prefix(network, length), ipaddress.IPv4Address(v4).packed)
    assert str(ipaddress.IPv6Address(got)) == v6


# -- the reply check (TestResponseShould) ---------------------------------------------------------


def _reply(rcode: int = 0, answer: list[str] = (), auth: list[str] = (), do: bool = False) -> bytes:  # type: ignore[assignment]
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=42, qr=1, rcode=rcode), q=dnslib.DNSQuestion("example.com", 28))
    for text in answer:
        r.add_answer(*dnslib.RR.fromZone(text))
    for text in auth:
        r.add_auth(*dnslib.RR.fromZone(text))
    if do:
        r.add_ar(dnslib.EDNS0(flags="do"))
    return bytes(r.pack())


SOA = "example.com. 70 IN SOA foo. bar. 1 1 1 1 1"


@pytest.mark.parametrize(
    ("reply", "translate_all", "translate"),
    [
        pytest.param(_reply(answer=["example.com. 60 IN AAAA ::1"]), False, False, id="has-aaaa"),
        pytest.param(_reply(auth=[SOA]), False, True, id="nodata"),
        pytest.param(_reply(rcode=4, auth=[SOA]), False, True, id="notimp-is-translated"),
        pytest.param(_reply(rcode=3, auth=[SOA]), False, False, id="name-error"),
        pytest.param(_reply(answer=["example.com. 60 IN AAAA ::1"]), True, True, id="translate-all"),
        pytest.param(_reply(rcode=3), False, True, id="nxdomain-without-soa-is-not-a-name-error"),
        pytest.param(_reply(rcode=3, auth=[SOA]), True, False, id="name-error-even-with-translate-all"),
    ],
)
def test_reply_check(reply: bytes, translate_all: bool, translate: bool) -> None:
    got = shape(reply, time.time())
    assert (not got.name_error and (translate_all or not got.has_aaaa)) == translate


def test_expired_signature_with_do_is_not_a_name_error() -> None:
    # CoreDNS's Typify: a DO reply carrying an RRSIG outside its validity is "other error".
    sig = "example.com. 70 IN RRSIG SOA 8 2 70 20000101000000 19990101000000 1 example.com. AAAA"
    assert shape(_reply(rcode=3, auth=[SOA, sig], do=True), time.time()).name_error is False
    assert shape(_reply(rcode=3, auth=[SOA, sig]), time.time()).name_error is True
    valid = "example.com. 70 IN RRSIG SOA 8 2 70 20991231000000 20000101000000 1 example.com. AAAA"
    assert shape(_reply(rcode=3, auth=[SOA, valid], do=True), time.time()).name_error is True


# -- synthesis (TestDNS64) ------------------------------------------------------------------------


class Chain:
    """The next handler: answers with a fixed AAAA reply (or an rcode, or raises)."""

    name = "chain"

    def __init__(self, reply: bytes | int | Exception, later: bool = False) -> None:
        self.reply = reply
        self.later = later
        self.calls = 0

    def serve(self, req: Request) -> bytes | int | Awaitable[bytes | int]:
        self.calls += 1
        reply = self.reply
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, bytes):
            reply = req.wire[:2] + reply[2:]
        if self.later:
            return _later(reply)
        return reply


async def _later(value: bytes | int) -> bytes | int:
    await asyncio.sleep(0)
    return value


class Lookups:
    """Stands in for the server's upstream (the Upstream protocol): answers the A lookup with a
    fixed reply, at once or after a turn of the loop; None: the lookup cannot run."""

    def __init__(self, reply: bytes | None, later: bool = False) -> None:
        self.reply = reply
        self.later = later
        self.asked: list[tuple[str, int]] = []

    async def lookup(self, req: Request, name: str, qtype: int) -> bytes:
        self.asked.append((name, qtype))
        if self.later:
            await asyncio.sleep(0)
        if self.reply is None:
            raise UpstreamError("no full server is running")
        return self.reply


def _a_reply(answer: list[str], auth: list[str] = (), tc: bool = False) -> bytes:  # type: ignore[assignment]
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=43, qr=1, rd=1, tc=int(tc)), q=dnslib.DNSQuestion("example.com", 1))
    for text in answer:
        r.add_answer(*dnslib.RR.fromZone(text))
    for text in auth:
        r.add_auth(*dnslib.RR.fromZone(text))
    return bytes(r.pack())


def _handler(chain: Chain, lookups: Lookups, **opts: bool) -> DNS64:
    network, length, _ = parse_cidr("64:ff9b::/96")
    return DNS64(chain, Options(Prefix(network, length), **opts), lookups)  # type: ignore[arg-type]


def _aaaa_request(remote: str = "2001:db8::1", name: str = "example.com") -> Request:
    return make_request(name, "AAAA", remote=(remote, 40212))


def _answers(msg: dnslib.DNSRecord) -> list[tuple[str, str, int]]:
    return [(dnslib.QTYPE.get(rr.rtype), str(rr.rdata), rr.ttl) for rr in msg.rr]


@pytest.mark.parametrize("later", [False, True], ids=["sync", "async"])
def test_standard_flow(later: bool) -> None:
    chain = Chain(_reply(auth=[SOA]), later=later)
    lookups = Lookups(
        _a_reply(["example.com. 60 IN A 192.0.2.42", "example.com. 5000 IN A 192.0.2.43"]), later=later
    )
    req = _aaaa_request()
    rcode, msg = run(_handler(chain, lookups), req)
    assert msg is not None and rcode == 0
    # The A TTL, or the SOA's 70 when lower.
    assert _answers(msg) == [("AAAA", "64:ff9b::c000:22a", 60), ("AAAA", "64:ff9b::c000:22b", 70)]
    assert lookups.asked == [("example.com.", 1)]
    assert msg.header.id == req.id and msg.header.rd == 1 and msg.header.ra == 0 and msg.header.aa == 0
    assert str(msg.q.qname) == "example.com." and msg.q.qtype == 28
    assert req.answered_by == "dns64"


def test_a_empty_keeps_the_a_replys_authority() -> None:
    soa = "example.com. 3600 IN SOA foo. bar. 1 7200 900 1209600 86400"
    rcode, msg = run(_handler(Chain(_reply(auth=[soa])), Lookups(_a_reply([], auth=[soa]))), _aaaa_request())
    assert msg is not None and rcode == 0 and msg.rr == []
    assert [dnslib.QTYPE.get(rr.rtype) for rr in msg.auth] == ["SOA"]


def test_failure_other_than_name_error_is_translated_with_the_600_second_bound() -> None:
    lookups = Lookups(_a_reply(["example.com. 60 IN A 192.0.2.42", "example.com. 5000 IN A 192.0.2.43"]))
    rcode, msg = run(_handler(Chain(_reply(rcode=5)), lookups), _aaaa_request())
    assert msg is not None and rcode == 0
    assert _answers(msg) == [("AAAA", "64:ff9b::c000:22a", 60), ("AAAA", "64:ff9b::c000:22b", 600)]


def test_name_error_is_passed_on_without_a_lookup() -> None:
    lookups = Lookups(_a_reply(["example.com. 60 IN A 192.0.2.42"]))
    soa = "example.com. 3600 IN SOA foo. bar. 1 7200 900 1209600 86400"
    rcode, msg = run(_handler(Chain(_reply(rcode=3, auth=[soa])), lookups), _aaaa_request())
    assert rcode == 3 and msg is not None and lookups.asked == []


def test_aaaa_answer_is_passed_on_and_translate_all_replaces_it() -> None:
    aaaa = _reply(answer=["example.com. 60 IN AAAA ::1"])
    lookups = Lookups(_a_reply(["example.com. 60 IN A 192.0.2.42"]))
    _, msg = run(_handler(Chain(aaaa), lookups), _aaaa_request())
    assert msg is not None and _answers(msg) == [("AAAA", "::1", 60)] and lookups.asked == []
    _, msg = run(_handler(Chain(aaaa), lookups, translate_all=True), _aaaa_request())
    assert msg is not None and _answers(msg) == [("AAAA", "64:ff9b::c000:22a", 60)]


def test_cname_and_truncation_of_the_a_reply_are_kept() -> None:
    lookups = Lookups(
        _a_reply(["example.com. 60 IN CNAME v4.example.net.", "v4.example.net. 60 IN A 192.0.2.42"], tc=True)
    )
    _, msg = run(_handler(Chain(_reply(auth=[SOA])), lookups), _aaaa_request())
    assert msg is not None and msg.header.tc == 1
    assert _answers(msg) == [("CNAME", "v4.example.net.", 60), ("AAAA", "64:ff9b::c000:22a", 60)]


@pytest.mark.parametrize(
    ("qtype", "remote", "allow_ipv4", "intercepted"),
    [  # TestRequestShouldIntercept
        ("AAAA", "::1", True, True),
        ("AAAA", "127.0.0.1", True, True),
        ("AAAA", "127.0.0.1", False, False),
        ("A", "::1", False, False),
        ("AAAA", "::1", False, True),
    ],
)
def test_which_requests_are_intercepted(qtype: str, remote: str, allow_ipv4: bool, intercepted: bool) -> None:
    chain = Chain(_reply(auth=[SOA]))
    lookups = Lookups(_a_reply(["example.com. 60 IN A 192.0.2.42"]))
    req = make_request("example.com", qtype, remote=(remote, 40212))
    run(_handler(chain, lookups, allow_ipv4=allow_ipv4), req)
    assert chain.calls == 1 and bool(lookups.asked) == intercepted


def test_errors_of_the_chain_and_of_the_lookup() -> None:
    # Nothing written by the chain: nothing to translate, its rcode or error goes back.
    assert run(_handler(Chain(2), Lookups(None)), _aaaa_request()) == (2, None)
    assert run(_handler(Chain(HandlerError(2, "upstream down")), Lookups(None)), _aaaa_request()) == (2, None)
    # The A lookup cannot be made (no server): SERVFAIL with CoreDNS's message for the errors plugin.
    assert run(_handler(Chain(_reply(auth=[SOA])), Lookups(None)), _aaaa_request()) == (2, None)
    with pytest.raises(HandlerError, match="no full server is running"):
        asyncio.run(_serve(_handler(Chain(_reply(auth=[SOA])), Lookups(None)), _aaaa_request()))


async def _serve(handler: DNS64, req: Request) -> object:
    """The handler's outcome, raised as it is (not turned into an rcode as run() does)."""
    return await handler.serve(req)  # type: ignore[misc]


def test_outside_a_server_the_real_upstream_says_so() -> None:
    d = _dns64(". {\n dns64\n whoami\n}\n")
    d.next = Chain(_reply(auth=[SOA]))  # type: ignore[assignment]
    with pytest.raises(HandlerError, match="no full server is running"):
        asyncio.run(_serve(d, _aaaa_request()))


# -- on a real server -----------------------------------------------------------------------------


def _a_only(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    name = str(q.q.qname)
    if q.q.qtype == dnslib.QTYPE.A:
        r.add_answer(dnslib.RR(name, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.42"), ttl=300))
        r.add_answer(dnslib.RR(name, dnslib.QTYPE.A, rdata=dnslib.A("198.51.100.7"), ttl=300))
    else:
        r.add_auth(*dnslib.RR.fromZone("example.org. 120 IN SOA ns. host. 1 7200 900 1209600 86400"))
    return r


def _translated(server: str) -> float:
    return REGISTRY.get_sample_value("coredns_dns64_requests_translated_total", {"server": server}) or 0.0


@pytest.mark.parametrize("cache", [False, True], ids=["forward", "cache-forward"])
def test_aaaa_is_synthesised_from_an_a_only_upstream(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, cache: bool
) -> None:
    up = fake_upstream(_a_only)
    cached = "    cache\n" if cache else ""
    corefile = f".:0 {{\n    bind ::1 127.0.0.1\n    dns64\n{cached}    forward . {up.address}\n}}\n"
    rs = dns_server(corefile)
    listeners = {k.host: k for k in rs.server.listeners}
    v6 = rs.server.port_of(listeners["::1"])
    v4 = rs.server.port_of(listeners["127.0.0.1"])
    server = str(listeners["::1"])
    before = _translated(server)
    for _ in range(2 if cache else 1):
        r = dns_client.query("www.example.org", "AAAA", v6, host="::1")
        assert r.header.rcode == 0
        # The A records' 300 s bounded by the AAAA reply's SOA TTL (120 s).
        assert sorted((str(rr.rdata), 0 < rr.ttl <= 120) for rr in r.rr) == [
            ("64:ff9b::c000:22a", True),
            ("64:ff9b::c633:6407", True),
        ]
    asked = [(str(q.q.qname), dnslib.QTYPE.get(q.q.qtype)) for _, q in up.queries]
    # The AAAA question, then the A lookup made through the server itself (once: the
    # second round is answered from the cache, both questions).
    assert asked == [("www.example.org.", "AAAA"), ("www.example.org.", "A")]
    assert _translated(server) == before + (2 if cache else 1)
    # Over IPv4 the same question is not translated (no allow_ipv4).
    r = dns_client.query("www.example.org", "AAAA", v4, host="127.0.0.1")
    assert r.header.rcode == 0 and r.rr == [] and r.auth
    # A questions pass through untouched.
    r = dns_client.query("www.example.org", "A", v6, host="::1")
    assert sorted(str(rr.rdata) for rr in r.rr) == ["192.0.2.42", "198.51.100.7"]


def test_allow_ipv4_translates_over_tcp_too(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream(_a_only)
    corefile = f".:0 {{\n    dns64 {{\n        allow_ipv4\n    }}\n    forward . {up.address}\n}}\n"
    dns_server(corefile)
    for proto in ("udp", "tcp"):
        r = dns_client.query("v4only.example.org", "AAAA", proto=proto)
        assert sorted(str(rr.rdata) for rr in r.rr) == ["64:ff9b::c000:22a", "64:ff9b::c633:6407"]


def test_wire_query_of_the_lookup_keeps_the_clients_edns(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream(_a_only)
    corefile = f".:0 {{\n    dns64 {{\n        allow_ipv4\n    }}\n    forward . {up.address}\n}}\n"
    dns_server(corefile)
    r = dns_client.query("Edns.Example.Org", "AAAA", edns=1400, do=True)
    assert [rr.rclass for rr in r.ar if rr.rtype == dnslib.QTYPE.OPT] == [1400]
    (_, a_query) = [(p, q) for p, q in up.queries if q.q.qtype == dnslib.QTYPE.A][-1]
    assert str(a_query.q.qname) == "edns.example.org."  # CoreDNS asks the lower-cased name
    opt = [rr for rr in a_query.ar if rr.rtype == dnslib.QTYPE.OPT]
    assert opt and opt[0].rclass == 1400 and opt[0].ttl & 0x8000  # size and DO kept
