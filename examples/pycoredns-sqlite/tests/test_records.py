"""Rows to records: every type's value, the rows that are refused, and the answers built."""

from __future__ import annotations

import re
import struct

import dnslib
import pytest
from pycoredns_sqlite.records import Row, RowError, build, parse_row, to_wire

from pycoredns.plugin import wire


def _unpacked(row: Row) -> str:
    """The row's rdata as dnslib reads it back, in presentation form."""
    packed = wire.record(to_wire(row.name), row.rtype, row.ttl, row.rdata)
    rr = dnslib.RR.parse(dnslib.DNSBuffer(packed))
    assert (str(rr.rname), rr.rtype, rr.ttl) == (row.name, row.rtype, row.ttl)
    return str(rr.rdata)


@pytest.mark.parametrize(
    ("rtype", "value", "text"),
    [
        pytest.param("A", "192.0.2.1", "192.0.2.1", id="A"),
        pytest.param("aaaa", "2001:db8::1", "2001:db8::1", id="AAAA-lower-case-type"),
        pytest.param("CNAME", "Target.Example.ORG", "target.example.org.", id="CNAME"),
        pytest.param("NS", "ns1.example.org.", "ns1.example.org.", id="NS"),
        pytest.param("PTR", "www.example.org", "www.example.org.", id="PTR"),
        pytest.param("MX", "10 mail.example.org", "10 mail.example.org.", id="MX"),
        pytest.param("SRV", "10 5 5060 sip.example.org", "10 5 5060 sip.example.org.", id="SRV"),
        pytest.param("TXT", "v=spf1 mx -all", '"v=spf1 mx -all"', id="TXT"),
        pytest.param("TXT", "", '""', id="TXT-empty"),
        pytest.param("TXT", "x" * 300, '"' + "x" * 255 + '","' + "x" * 45 + '"', id="TXT-long"),
    ],
)
def test_values(rtype: str, value: str, text: str) -> None:
    row = parse_row("X.Example.ORG", rtype, 300, value)
    assert row.name == "x.example.org." and row.ttl == 300
    assert _unpacked(row) == text


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(("x.example.org", "A", 300, "192.0.2"), "bad A value '192.0.2'", id="short-address"),
        pytest.param(("x.example.org", "AAAA", 300, "192.0.2.1"), "bad AAAA value '192.0.2.1'", id="v4-as-v6"),
        pytest.param(("x.example.org", "HINFO", 300, "a b"), "unsupported type 'HINFO'", id="type"),
        pytest.param(("x.example.org", None, 300, "a"), "unsupported type None", id="null-type"),
        pytest.param(("x.example.org", "A", -1, "192.0.2.1"), "bad ttl -1", id="negative-ttl"),
        pytest.param(("x.example.org", "A", 2**31, "192.0.2.1"), "bad ttl 2147483648", id="huge-ttl"),
        pytest.param(("x.example.org", "A", "300", "192.0.2.1"), "bad ttl '300'", id="text-ttl"),
        pytest.param(("x.example.org", "A", None, "192.0.2.1"), "bad ttl None", id="null-ttl"),
        pytest.param(("", "A", 300, "192.0.2.1"), "bad name ''", id="empty-name"),
        pytest.param(("a..example.org", "A", 300, "192.0.2.1"), "bad name 'a..example.org.': empty label",
                     id="empty-label"),
        pytest.param(("x" * 64 + ".example.org", "A", 300, "192.0.2.1"), "label over 63 octets", id="long-label"),
        pytest.param(("a." * 128 + "org", "A", 300, "192.0.2.1"), "over 255 octets", id="long-name"),
        pytest.param(("x.example.org", "MX", 300, "mail.example.org"), "want PREFERENCE HOST", id="mx-fields"),
        pytest.param(("x.example.org", "MX", 300, "70000 mail.example.org"), "bad preference '70000'",
                     id="mx-preference"),
        pytest.param(("x.example.org", "SRV", 300, "1 2 sip.example.org"), "want PRIORITY WEIGHT PORT TARGET",
                     id="srv-fields"),
        pytest.param(("x.example.org", "SRV", 300, "1 2 port sip.example.org"), "bad port 'port'", id="srv-port"),
        pytest.param(("x.example.org", "CNAME", 300, "a.example.org b.example.org"), "want one name",
                     id="cname-two-names"),
        pytest.param(("x.example.org", "TXT", 300, b"raw"), "bad value b'raw'", id="blob-value"),
    ],
)
def test_refused(row: tuple[object, object, object, object], message: str) -> None:
    with pytest.raises(RowError, match=re.escape(message)):
        parse_row(*row)


def test_an_internationalised_name_is_keyed_as_resolvers_send_it() -> None:
    assert to_wire(parse_row("Bücher.example.org", "A", 300, "192.0.2.1").name) == (
        b"\x0dxn--bcher-kva\x07example\x03org\x00"
    )


def _rows(*rows: tuple[str, str, int, str]) -> list[Row]:
    return [parse_row(*r) for r in rows]


def _key(name: str, rtype: int) -> bytes:
    return to_wire(name) + struct.pack(">HH", rtype, 1)


def test_answers_and_names() -> None:
    records, warnings = build(
        _rows(("www.example.org", "A", 300, "192.0.2.10"), ("www.example.org", "A", 300, "192.0.2.10"),
              ("a.b.c.example.org", "TXT", 5, "deep")),
        ["example.org."],
    )
    assert warnings == [] and records.rows == 2  # the same record twice is served once
    assert records.answers[_key("www.example.org.", 1)].count == 1
    assert set(records.names) == {to_wire(n) for n in
                                  ["www.example.org.", "example.org.", "a.b.c.example.org.", "b.c.example.org.",
                                   "c.example.org."]}
    assert all(zone == "example.org." for zone in records.names.values())


def test_refused_combinations() -> None:
    records, warnings = build(
        _rows(("www.example.net", "A", 300, "192.0.2.1"),
              ("alias.example.org", "CNAME", 300, "www.example.org"),
              ("alias.example.org", "CNAME", 300, "other.example.org"),
              ("alias.example.org", "A", 300, "192.0.2.2"),
              ("www.example.org", "A", 300, "192.0.2.3"),
              ("www.example.org", "CNAME", 300, "elsewhere.example.org")),
        ["example.org."],
    )
    assert warnings == [
        "www.example.net. is not in the zones example.org.: left out",
        "alias.example.org. has more than one CNAME: the first is kept",
        "alias.example.org. has a CNAME: its A record is left out",
        "www.example.org. has other records: its CNAME is left out",
    ]
    assert records.rows == 2


def test_a_cname_loop_ends() -> None:
    records, _ = build(
        _rows(("a.example.org", "CNAME", 1, "b.example.org"), ("b.example.org", "CNAME", 1, "a.example.org")),
        ["example.org."],
    )
    assert records.cnames[to_wire("a.example.org.")].count == 2
