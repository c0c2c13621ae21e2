"""loadbalance: CoreDNS's setup table (setup_test.go), its handler tables (loadbalance_test.go,
weighted_test.go, prefer_test.go) on wire replies, the compression safety of the wire reorder, and
a real server whose A records come back shuffled."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugin import parse_cidr
from pycoredns.plugins.loadbalance import policy
from pycoredns.plugins.loadbalance.handler import LoadBalance, _only_addresses
from pycoredns.plugins.loadbalance.policy import Weights
from pycoredns.plugins.loadbalance.weightfile import WeightFile, WeightFileError, parse_weights
from pycoredns.server import config
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory


def _lb(corefile: str) -> LoadBalance:
    instance = config.load(corefile)
    (handler,) = [h for h in instance.configs[0].handlers if isinstance(h, LoadBalance)]
    return handler


@pytest.mark.parametrize(
    ("body", "policy", "weight_file", "reload", "prefer"),
    [
        pytest.param("loadbalance", "round_robin", "", 0, [], id="default"),
        pytest.param("loadbalance round_robin", "round_robin", "", 0, [], id="round_robin"),
        pytest.param("loadbalance weighted wfile", "weighted", "wfile", 30.0, [], id="weighted"),
        pytest.param("loadbalance weighted wf {\n reload 10s\n }", "weighted", "wf", 10.0, [], id="reload"),
        pytest.param("loadbalance weighted wf {\n reload 0s\n }", "weighted", "wf", 0.0, [], id="reload-off"),
        pytest.param(
            "loadbalance round_robin {\n prefer 10.9.20.0/24 192.168.1.0/24\n }",
            "round_robin",
            "",
            0,
            ["10.9.20.0/24", "192.168.1.0/24"],
            id="prefer",
        ),
        pytest.param(
            "loadbalance {\n prefer 2001:db8::1/32\n prefer 10.0.0.0/8\n }",
            "round_robin",
            "",
            0,
            ["2001:db8::/32", "10.0.0.0/8"],
            id="prefer-lines-add-up",
        ),
        pytest.param("loadbalance {\n prefer\n }", "round_robin", "", 0, [], id="prefer-nothing"),
    ],
)
def test_setup(body: str, policy: str, weight_file: str, reload: float, prefer: list[str]) -> None:
    lb = _lb(f". {{\n {body}\n whoami\n}}\n")
    assert ("weighted" if lb.weights else "round_robin") == policy
    if lb.weights is not None:
        assert (lb.weights.path, lb.weights.reload) == (weight_file, reload)
    assert [str(n) for n in lb.prefer] == prefer


def test_weight_file_is_relative_to_root(tmp_path: Path) -> None:
    lb = _lb(f". {{\n root {tmp_path}\n loadbalance weighted db.weights\n whoami\n}}\n")
    assert lb.weights is not None and lb.weights.path == str(tmp_path / "db.weights")


E = "plugin/loadbalance: Corefile:2 - Error during parsing: "


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("loadbalance fleeb", "plugin/loadbalance: unknown policy: fleeb", id="unknown-policy"),
        pytest.param("loadbalance round_robin a", E + "unknown property for round_robin", id="round_robin-arg"),
        pytest.param("loadbalance weighted", E + "missing weight file argument", id="weighted-no-file"),
        pytest.param("loadbalance weighted a b", E + "unexpected argument(s)", id="weighted-two-files"),
        pytest.param(
            "loadbalance weighted wfile {\n susu\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: unknown property 'susu'",
            id="weighted-unknown-option",
        ),
        pytest.param(
            "loadbalance weighted wfile {\n reload a\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: invalid reload duration 'a'",
            id="bad-reload",
        ),
        pytest.param(
            "loadbalance weighted wfile {\n reload 30s a\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: unexpected argument",
            id="reload-two-values",
        ),
        pytest.param(
            "loadbalance weighted wfile {\n reload\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: reload duration value is missing",
            id="reload-no-value",
        ),
        pytest.param(
            "loadbalance weighted wfile {\n prefer 10.0.0.0/8\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: unknown property 'prefer'",
            id="prefer-is-not-a-weighted-option",
        ),
        pytest.param(
            "loadbalance {\n prefer 10.0.0.0/33\n }",
            'plugin/loadbalance: Corefile:3 - Error during parsing: invalid CIDR "10.0.0.0/33": invalid CIDR'
            " address: 10.0.0.0/33",
            id="bad-cidr",
        ),
        pytest.param(
            "loadbalance {\n weight 10.0.0.0/8\n }",
            "plugin/loadbalance: Corefile:3 - Error during parsing: unknown property 'weight'",
            id="unknown-option",
        ),
    ],
)
def test_setup_errors(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        config.load(f". {{\n {body}\n whoami\n}}\n")
    assert str(e.value) == error


# -- replies --------------------------------------------------------------------------------------


def _msg(answer: list[str], extra: list[str] = (), qtype: str = "SRV", rcode: int = 0) -> bytes:  # type: ignore[assignment]
    question = dnslib.DNSQuestion("region2.skydns.test", getattr(dnslib.QTYPE, qtype))
    m = dnslib.DNSRecord(dnslib.DNSHeader(id=7, qr=1, rcode=rcode), q=question)
    for text in answer:
        m.add_answer(*dnslib.RR.fromZone(text))
    for text in extra:
        m.add_ar(*dnslib.RR.fromZone(text))
    return bytes(m.pack())


def _types(rrs: list[dnslib.RR]) -> tuple[int, int, int, bool]:
    """CoreDNS's countRecords: (cnames, addresses, mxs, CNAMEs before addresses before MX)."""
    state = 0
    ordered = True
    counts = [0, 0, 0]
    for rr in rrs:
        kind = {5: 1, 1: 2, 28: 2, 15: 3}.get(rr.rtype, 4)
        if kind < 4:
            ordered = ordered and state <= kind
            counts[kind - 1] += 1
        state = kind
    return counts[0], counts[1], counts[2], ordered


def _round_robin() -> LoadBalance:
    return LoadBalance(None, None, [])


CASES = [
    (  # CNAMEs, one A, MX
        [
            "cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.",
            "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
            "cname5.region2.skydns.test. 300 IN CNAME cname6.region2.skydns.test.",
            "cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "mx.region2.skydns.test. 300 IN MX 2 mx2.region2.skydns.test.",
            "mx.region2.skydns.test. 300 IN MX 3 mx3.region2.skydns.test.",
        ],
        [],
        (4, 1, 3),
        (0, 0, 0),
    ),
    (  # a CNAME after the records it must come before
        [
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
        ],
        [],
        (1, 1, 1),
        (0, 0, 0),
    ),
    (  # everything mixed, in both sections
        [
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
            "mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.",
            "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
            "mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test.",
        ],
        [
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "endpoint.region2.skydns.test. 300 IN AAAA ::1",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
            "mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
            "endpoint.region2.skydns.test. 300 IN AAAA ::2",
            "mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test.",
        ],
        (1, 3, 3),
        (1, 4, 3),
    ),
]


def _same_records(a: list[dnslib.RR], b: list[dnslib.RR]) -> bool:
    return sorted(map(str, a)) == sorted(map(str, b))


@pytest.mark.parametrize(("answer", "extra", "in_answer", "in_extra"), CASES)
def test_round_robin_sorts_cnames_first_and_keeps_every_record(
    answer: list[str], extra: list[str], in_answer: tuple[int, int, int], in_extra: tuple[int, int, int]
) -> None:
    data = _msg(answer, extra)
    before = dnslib.DNSRecord.parse(data)
    for _ in range(20):
        after = dnslib.DNSRecord.parse(_round_robin().reorder(data, dnslib.QTYPE.SRV))
        assert _types(after.rr) == (*in_answer, True)
        assert _types(after.ar) == (*in_extra, True)
        assert _same_records(after.rr, before.rr) and _same_records(after.ar, before.ar)
        assert after.header.id == 7 and str(after.q.qname) == "region2.skydns.test."


def test_extended_rcode_is_left_alone() -> None:
    records = [f"region2.skydns.test. 60 IN A 192.0.2.{i}" for i in range(1, 5)]
    for extra in ([], ["x.example. 60 IN A 192.0.2.9"]):
        data = _msg(records, extra, qtype="A")
        bad = _with_opt(data, ext_rcode=1)  # BADVERS: NOERROR in the header, an error all the same
        assert _round_robin().reorder(bad, dnslib.QTYPE.A) is bad


def test_zone_transfers_and_failures_are_left_alone() -> None:
    # loadbalance_test.go's TestLoadBalanceXFR, and the rcode check of WriteMsg.
    records = [
        "skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. 1542756695 7200 1800 86400 30",
        "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
        "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
        "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
        "skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. 1542756695 7200 1800 86400 30",
    ]
    for qtype in ("AXFR", "IXFR"):
        data = _msg(records, qtype=qtype)
        assert _round_robin().reorder(data, getattr(dnslib.QTYPE, qtype)) is data
    data = _msg(records, rcode=3)
    assert _round_robin().reorder(data, dnslib.QTYPE.A) is data


def test_nothing_to_do_returns_the_same_bytes() -> None:
    lb = _round_robin()
    one = _msg(["a.example. 60 IN A 192.0.2.1"], qtype="A")
    assert lb.reorder(one, dnslib.QTYPE.A) is one
    txt = _msg(['a.example. 60 IN TXT "x"', 'a.example. 60 IN TXT "y"', 'a.example. 60 IN TXT "z"'], qtype="TXT")
    assert lb.reorder(txt, dnslib.QTYPE.TXT) is txt
    cname_first = _msg(["a.example. 60 IN CNAME b.example.", "b.example. 60 IN A 192.0.2.1"], qtype="A")
    assert lb.reorder(cname_first, dnslib.QTYPE.A) is cname_first


def test_the_rest_goes_between_cnames_and_addresses() -> None:
    data = _msg(
        [
            "a.example. 60 IN A 192.0.2.1",
            'a.example. 60 IN TXT "t"',
            "a.example. 60 IN CNAME b.example.",
        ],
        qtype="A",
    )
    after = dnslib.DNSRecord.parse(_round_robin().reorder(data, dnslib.QTYPE.A))
    assert [dnslib.QTYPE.get(rr.rtype) for rr in after.rr] == ["CNAME", "TXT", "A"]


def _with_opt(data: bytes, ext_rcode: int = 0) -> bytes:
    m = dnslib.DNSRecord.parse(data)
    m.add_ar(dnslib.EDNS0(udp_len=1232, ext_rcode=ext_rcode))
    return bytes(m.pack())


@pytest.mark.parametrize(
    ("owner", "opt", "fast"),
    [
        pytest.param("many.example.", False, False, id="owner-written-out"),
        pytest.param("region2.skydns.test.", False, True, id="owner-is-the-question"),
        pytest.param("region2.skydns.test.", True, True, id="owner-is-the-question-with-opt"),
    ],
)
def test_every_order_of_four_addresses_comes_up(owner: str, opt: bool, fast: bool) -> None:
    records = [f"{owner} 60 IN A 192.0.2.{i}" for i in range(1, 5)]
    data = _msg(records, qtype="A")
    if opt:
        data = _with_opt(data)
    # The usual shape (addresses only, owners pointing at the question) takes the slice path.
    assert (_only_addresses(data, ()) is not None) == fast
    seen: collections.Counter[tuple[str, ...]] = collections.Counter()
    for _ in range(2400):
        after = dnslib.DNSRecord.parse(_round_robin().reorder(data, dnslib.QTYPE.A))
        seen[tuple(str(rr.rdata) for rr in after.rr)] += 1
    assert len(seen) == 24  # all 4! orders
    assert min(seen.values()) > 40  # about 100 each: uniform enough


# -- compression --------------------------------------------------------------------------------


def test_glue_pointing_into_moved_mx_records_is_repacked() -> None:
    # dnslib compresses the glue's owner names into the MX records' exchanges: moving the MX
    # records would break those pointers, so the reply is packed again; it must parse and keep
    # every record with the right data.
    mx = [f"example.org. 300 IN MX {i} mx{i}.example.org." for i in range(1, 5)]
    glue = [f"mx{i}.example.org. 300 IN A 192.0.2.{i}" for i in range(1, 5)]
    data = _msg(mx, glue, qtype="MX")
    before = dnslib.DNSRecord.parse(data)
    orders = set()
    for _ in range(200):
        out = _round_robin().reorder(data, dnslib.QTYPE.MX)
        after = dnslib.DNSRecord.parse(out)
        assert _same_records(after.rr, before.rr) and _same_records(after.ar, before.ar)
        orders.add(tuple(str(rr.rdata) for rr in after.rr))
    assert len(orders) > 10


def test_addresses_after_a_cname_keep_their_owner() -> None:
    # The A records' owners are pointers into the CNAME's target, which stays first.
    data = _msg(
        ["www.example.org. 60 IN CNAME lb.example.net."]
        + [f"lb.example.net. 60 IN A 198.51.100.{i}" for i in range(1, 6)],
        qtype="A",
    )
    for _ in range(50):
        out = _round_robin().reorder(data, dnslib.QTYPE.A)
        assert len(out) == len(data)  # moved as bytes, not packed again
        after = dnslib.DNSRecord.parse(out)
        assert str(after.rr[0].rname) == "www.example.org." and after.rr[0].rtype == dnslib.QTYPE.CNAME
        assert {str(rr.rname) for rr in after.rr[1:]} == {"lb.example.net."}


def test_a_record_written_in_full_and_pointed_to_is_handled() -> None:
    # The first A record carries its owner in full and the others point to it: after a shuffle
    # the reply is still readable with the same names.
    raw = bytearray(
        b"\x00\x07\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00"
        b"\x01q\x07example\x00\x00\x01\x00\x01"  # question q.example.
        b"\x01a\x07example\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01"  # a.example. at 27
        b"\xc0\x1b\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x02"  # -> a.example.
        b"\xc0\x1b\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x03"
    )
    data = bytes(raw)
    assert {str(rr.rname) for rr in dnslib.DNSRecord.parse(data).rr} == {"a.example."}
    for _ in range(50):
        after = dnslib.DNSRecord.parse(_round_robin().reorder(data, dnslib.QTYPE.A))
        assert {str(rr.rname) for rr in after.rr} == {"a.example."}
        assert sorted(str(rr.rdata) for rr in after.rr) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


# -- weighted (weighted_test.go) ----------------------------------------------------------------

ONE_DOMAIN = {"endpoint.region2.skydns.test.": {bytes([10, 240, 0, 2]): 3, bytes([10, 240, 0, 1]): 2}}
TWO_DOMAINS = {
    "endpoint.region2.skydns.test.": {bytes([10, 240, 0, 2]): 5, bytes([10, 240, 0, 1]): 2},
    "endpoint.region1.skydns.test.": {bytes(15) + b"\x02": 4, bytes(15) + b"\x01": 3},
}

WRR = [
    (
        [
            "cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.",
            "cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.",
            "cname5.region2.skydns.test. 300 IN CNAME cname6.region2.skydns.test.",
            "cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
            "endpoint.region1.skydns.test. 300 IN AAAA ::1",
            "endpoint.region1.skydns.test. 300 IN AAAA ::2",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "mx.region2.skydns.test. 300 IN MX 2 mx2.region2.skydns.test.",
            "mx.region2.skydns.test. 300 IN MX 3 mx3.region2.skydns.test.",
        ],
        [
            "cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.3",
            "endpoint.region1.skydns.test. 300 IN AAAA ::1",
            "endpoint.region1.skydns.test. 300 IN AAAA ::2",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
        ],
        TWO_DOMAINS,
        15,
        [(0, "10.240.0.2"), (4, "10.240.0.2"), (5, "::2"), (8, "::2"), (9, "::1"), (11, "::1"),
         (12, "10.240.0.1"), (13, "10.240.0.1"), (14, "10.240.0.3")],
    ),
    (
        [
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
            "mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
            "cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.",
            "endpoint.region2.skydns.test. 300 IN A 10.240.0.2",
            "endpoint.region1.skydns.test. 300 IN A 10.240.0.3",
        ],
        [],
        ONE_DOMAIN,
        6,
        [(0, "10.240.0.2"), (2, "10.240.0.2"), (3, "10.240.0.1"), (4, "10.240.0.1"), (5, "10.240.0.3")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "extra", "domains", "total", "draws"), WRR)
def test_weighted_puts_the_drawn_address_first(
    answer: list[str], extra: list[str], domains: dict[str, dict[bytes, int]], total: int,
    draws: list[tuple[int, str]],
) -> None:
    for value, top in draws:
        asked: list[int] = []

        def draw(limit: int, value: int = value, asked: list[int] = asked) -> int:
            asked.append(limit)
            return value

        wf = WeightFile("unused", 0, draw)
        wf.weights = Weights(domains)
        lb = LoadBalance(None, wf, [])
        after = dnslib.DNSRecord.parse(lb.reorder(_msg(answer, extra), dnslib.QTYPE.SRV))
        for section in (after.rr, after.ar):
            addresses = [str(rr.rdata) for rr in section if rr.rtype in (1, 28)]
            if addresses:
                assert addresses[0] == top
                cnames, _, _, ordered = _types(section)
                assert ordered or cnames == 0
        assert set(asked) == {total}


def test_weighted_without_addresses_or_for_other_types_changes_nothing() -> None:
    wf = WeightFile("unused", 0, lambda limit: 0)
    wf.weights = Weights(ONE_DOMAIN)
    lb = LoadBalance(None, wf, [])
    no_address = _msg(
        ["mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.",
         "cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test."]
    )  # fmt: skip
    assert lb.reorder(no_address, dnslib.QTYPE.SRV) is no_address
    addresses = _msg(["endpoint.region2.skydns.test. 300 IN A 10.240.0.1",
                      "endpoint.region2.skydns.test. 300 IN A 10.240.0.2"], qtype="MX")  # fmt: skip
    assert lb.reorder(addresses, dnslib.QTYPE.MX) is addresses


ONE = "\nw1,example.org\n192.168.1.15 10\n192.168.1.14 20\n"
TWO = """
# domain 1
w1.example.org
192.168.1.15   10
192.168.1.14   20

# domain 2
w2.example.org
 # domain 3
 w3.example.org
 192.168.2.16 11
 192.168.2.15 12
 192.168.2.14 13
"""


def _v4(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


@pytest.mark.parametrize(
    ("text", "domains"),
    [
        ("", {}),
        (ONE, {"w1,example.org.": {_v4("192.168.1.15"): 10, _v4("192.168.1.14"): 20}}),
        (
            TWO,
            {
                "w1.example.org.": {_v4("192.168.1.15"): 10, _v4("192.168.1.14"): 20},
                "w2.example.org.": {},
                "w3.example.org.": {_v4("192.168.2.16"): 11, _v4("192.168.2.15"): 12, _v4("192.168.2.14"): 13},
            },
        ),
        ("WWW.Example.ORG.\n::ffff:10.0.0.1 7\n2001:db8::1 255\n",
         {"www.example.org.": {_v4("10.0.0.1"): 7, bytes.fromhex("20010db8000000000000000000000001"): 255}}),
    ],
)  # fmt: skip
def test_weight_file(text: str, domains: dict[str, dict[bytes, int]]) -> None:
    assert parse_weights(text, "wfile") == domains


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("\nw1,example.org\n192.168.1.14\n192.168.1.15 20\n",
         'wrong domain name:"192.168.1.14" in weight file wfile. (Maybe a missing weight value?)'),
        ("\n# missing domain\n192.168.1.14 10\nw2,example.org\n192.168.2.14 11\n",
         "missing domain name in weight file wfile"),
        ("\nw1,example.org\n192.168.1.300 10\n", 'wrong IP address:"192.168.1.300" in weight file wfile'),
        ("\nw1,example.org\n192.168.1.14 300\n", 'wrong weight value:"300" in weight file wfile'),
        ("\nw1,example.org\n192.168.1.14 0\n", 'wrong weight value:"0" in weight file wfile'),
        ("\nw1,example.org\n192.168.1.14 1 2\n", 'could not parse weight line:"192.168.1.14 1 2" in weight file wfile'),
    ],
)  # fmt: skip
def test_weight_file_errors(text: str, error: str) -> None:
    with pytest.raises(WeightFileError) as e:
        parse_weights(text, "wfile")
    assert str(e.value) == error


def test_weight_file_is_read_at_start_and_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "weights"
    path.write_text(ONE)

    async def scenario() -> None:
        wf = WeightFile(str(path), 0.05)
        await wf.start()
        try:
            assert set(wf.weights.domains) == {"w1,example.org."}
            path.write_text("\nw1,example.org\n192.168.1.14 bad\n")
            await asyncio.sleep(0.3)
            assert set(wf.weights.domains) == {"w1,example.org."}  # a broken file keeps the old weights
            path.write_text(TWO)
            deadline = time.monotonic() + 5
            while set(wf.weights.domains) != {"w1.example.org.", "w2.example.org.", "w3.example.org."}:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await wf.stop()

    asyncio.run(scenario())


def test_weight_file_missing_at_start(tmp_path: Path) -> None:
    async def start(reload: float) -> None:
        wf = WeightFile(str(tmp_path / "absent"), reload)
        await wf.start()
        await wf.stop()

    asyncio.run(start(30.0))  # it will be read when it appears: a warning only
    with pytest.raises(Exception, match="plugin/loadbalance: weight file open error"):
        asyncio.run(start(0.0))


# -- prefer (prefer_test.go) ----------------------------------------------------------------------


def test_prefer_orders_addresses_by_subnet(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _msg(
        [
            "example.org. 300 IN A 10.9.30.1",
            "example.org. 300 IN A 10.9.20.5",
            "example.org. 300 IN A 192.168.1.2",
            "example.org. 300 IN A 10.10.0.1",
            "example.org. 300 IN A 10.9.20.3",
            "example.org. 300 IN A 172.16.0.1",
            "example.org. 300 IN AAAA 2001:db8::1",
            "example.org. 300 IN AAAA 2001:db8:abcd::1",
            "example.org. 300 IN AAAA fd00::1",
            "example.org. 300 IN CNAME alias.example.org.",
        ],
        qtype="A",
    )
    subnets = [parse_cidr(c) for c in ("2001:db8::/32", "10.9.20.0/24", "10.9.30.0/24")]
    # round_robin runs first; with its shuffle made a no-op the order prefer gives is exact.
    monkeypatch.setattr(policy, "shuffle", lambda records: None)
    after = dnslib.DNSRecord.parse(LoadBalance(None, None, subnets).reorder(data, dnslib.QTYPE.A))
    assert [str(rr.rdata) for rr in after.rr] == [
        "alias.example.org.", "2001:db8::1", "2001:db8:abcd::1", "10.9.20.5", "10.9.20.3", "10.9.30.1",
        "192.168.1.2", "10.10.0.1", "172.16.0.1", "fd00::1",
    ]  # fmt: skip


@pytest.mark.parametrize("owner", ["example.org.", "region2.skydns.test."], ids=["general", "slices"])
def test_prefer_after_the_shuffle(owner: str) -> None:
    data = _msg([f"{owner} 300 IN A 10.0.{i}.1" for i in range(6)], qtype="A")
    lb = _lb(". {\n loadbalance {\n prefer 10.0.3.0/24 10.0.5.0/24\n }\n whoami\n}\n")
    tails = set()
    for _ in range(100):
        got = [str(rr.rdata) for rr in dnslib.DNSRecord.parse(lb.reorder(data, dnslib.QTYPE.A)).rr]
        assert got[:2] == ["10.0.3.1", "10.0.5.1"]
        tails.add(tuple(got[2:]))
    assert len(tails) > 5  # the rest is still shuffled


# -- a real server ------------------------------------------------------------------------------

ADDRESSES = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]


def _four(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    if q.q.qtype == dnslib.QTYPE.A:
        for ip in ADDRESSES:
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=300))
    return r


def _first_positions(client: DNSClient, proto: str, rounds: int, seconds: float) -> collections.Counter[str]:
    """Ask the same question ``rounds`` times (stopping after ``seconds``); count who came first."""
    first: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds
    for _ in range(rounds):
        r = client.query("www.example.org", "A", proto=proto)
        got = [str(rr.rdata) for rr in r.rr]
        assert sorted(got) == ADDRESSES  # every record, every time
        first[got[0]] += 1
        if time.monotonic() > deadline:
            break
    return first


@pytest.mark.parametrize("chain", ["forward", "cache-forward"])
def test_a_records_are_shuffled(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient, chain: str
) -> None:
    cache = "    cache\n" if chain == "cache-forward" else ""
    up = fake_upstream(_four)
    corefile = f".:0 {{\n    loadbalance\n{cache}    forward . {up.address}\n}}\n"
    dns_server(corefile)
    first = _first_positions(dns_client, "udp", 200, 30.0)
    first += _first_positions(dns_client, "tcp", 40, 10.0)
    if cache:
        assert up.count() == 1  # cached once, shuffled on every way out
    total = sum(first.values())
    assert total >= 100
    # Each of the four comes first about a quarter of the time; 10% is far below what chance
    # allows to miss (a binomial tail of about 1e-7 at 200 draws).
    assert set(first) == set(ADDRESSES)
    assert min(first.values()) >= total * 0.10, first


def test_without_loadbalance_the_order_stays(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream(_four)
    dns_server(f".:0 {{\n    cache\n    forward . {up.address}\n}}\n")
    first = _first_positions(dns_client, "udp", 30, 10.0)
    assert set(first) == {ADDRESSES[0]}


def test_the_hit_path_keeps_its_bytes_for_a_single_address() -> None:
    one = _msg(["a.example. 60 IN A 192.0.2.1"], qtype="A")
    lb = _round_robin()
    assert all(lb.reorder(one, dnslib.QTYPE.A) is one for _ in range(3))


def test_weighted_on_a_real_server(dns_server: ServerFactory, dns_client: DNSClient, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("100.64.1.1 www.example.org\n100.64.1.2 www.example.org\n100.64.1.3 www.example.org\n")
    weights = tmp_path / "weights"
    weights.write_text("www.example.org\n100.64.1.1 8\n100.64.1.2 1\n100.64.1.3 1\n")
    corefile = (
        f"example.org:0 {{\n    root {tmp_path}\n    hosts hosts\n"
        "    loadbalance weighted weights {\n        reload 0s\n    }\n}\n"
    )
    first: collections.Counter[str] = collections.Counter()
    dns_server(corefile)
    deadline = time.monotonic() + 30
    for _ in range(300):
        r = dns_client.query("www.example.org", "A")
        got = [str(rr.rdata) for rr in r.rr]
        assert sorted(got) == ["100.64.1.1", "100.64.1.2", "100.64.1.3"]
        first[got[0]] += 1
        if time.monotonic() > deadline:
            break
    total = sum(first.values())
    assert total >= 100
    # Weight 8 of 10: about 80% first; the others about 10% each and never absent.
    assert 0.65 <= first["100.64.1.1"] / total <= 0.92, first
    assert first["100.64.1.2"] > 0 and first["100.64.1.3"] > 0, first


def test_weighted_start_fails_on_a_broken_weight_file(dns_server: ServerFactory, tmp_path: Path) -> None:
    (tmp_path / "weights").write_text("www.example.org\n100.64.1.300 8\n")
    corefile = f"example.org:0 {{\n    root {tmp_path}\n    loadbalance weighted weights\n    whoami\n}}\n"
    with pytest.raises(Exception, match='plugin/loadbalance: wrong IP address:"100.64.1.300" in weight file'):
        dns_server(corefile)


def _random_reply(rng: random.Random) -> bytes:
    names = ["a.example.org.", "b.example.org.", "mx1.example.org.", "example.org.", "x.example.net."]
    kinds = [
        lambda n: f"{n} 60 IN A 192.0.2.{rng.randrange(256)}",
        lambda n: f"{n} 60 IN AAAA 2001:db8::{rng.randrange(65536):x}",
        lambda n: f"{n} 60 IN CNAME {rng.choice(names)}",
        lambda n: f"{n} 60 IN MX {rng.randrange(50)} {rng.choice(names)}",
        lambda n: f"{n} 60 IN NS {rng.choice(names)}",
        lambda n: f'{n} 60 IN TXT "t{rng.randrange(9)}"',
        lambda n: f"{n} 60 IN SRV 1 2 53 {rng.choice(names)}",
    ]
    m = dnslib.DNSRecord(dnslib.DNSHeader(id=1, qr=1), q=dnslib.DNSQuestion(rng.choice(names), dnslib.QTYPE.A))
    for add in (m.add_answer, m.add_auth, m.add_ar):
        for _ in range(rng.randrange(6)):
            add(*dnslib.RR.fromZone(rng.choice(kinds)(rng.choice(names))))
    if rng.random() < 0.5:
        m.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(m.pack())


def test_random_replies_stay_whole_and_readable() -> None:
    # Any mix of types, names and compression: every reorder parses and holds the same records in
    # each section, and the records CoreDNS leaves in place (CNAMEs first) are where it puts them.
    rng = random.Random(20240601)
    lb = _round_robin()
    for _ in range(200):
        data = _random_reply(rng)
        before = dnslib.DNSRecord.parse(data)
        for _ in range(3):
            after = dnslib.DNSRecord.parse(lb.reorder(data, dnslib.QTYPE.A))
            for b, a in ((before.rr, after.rr), (before.auth, after.auth), (before.ar, after.ar)):
                assert _same_records(a, b)
                cnames = [str(rr) for rr in b if rr.rtype == dnslib.QTYPE.CNAME]
                assert [str(rr) for rr in a[: len(cnames)]] == cnames
