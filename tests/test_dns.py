"""pycoredns.dns: the one module for DNS mnemonics, zone tests and names in wire form."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns import dns, plugin


def test_the_plugin_api_exports_the_module() -> None:
    assert plugin.dns is dns
    assert plugin.zone_match is dns.zone_match


@pytest.mark.parametrize(
    ("qtype", "text"),
    [
        pytest.param(1, "A", id="A"),
        pytest.param(65, "HTTPS", id="HTTPS"),
        pytest.param(23, "NSAP-PTR", id="miekg-spelling"),
        pytest.param(0, "None", id="none"),
        pytest.param(259, "TYPE259", id="not-in-miekg"),
        pytest.param(65280, "TYPE65280", id="rfc3597"),
    ],
)
def test_type_text(qtype: int, text: str) -> None:
    assert dns.type_text(qtype) == text


def test_type_names_both_ways() -> None:
    assert all(dns.TYPES[name] == code for code, name in dns.TYPE_NAMES.items())
    assert dns.TYPES["AAAA"] == 28
    assert "NSAPPTR" not in dns.TYPES


@pytest.mark.parametrize(
    ("qclass", "text"),
    [pytest.param(1, "IN", id="IN"), pytest.param(3, "CH", id="CH"), pytest.param(42, "CLASS42", id="unknown")],
)
def test_class_text(qclass: int, text: str) -> None:
    assert dns.class_text(qclass) == text
    if not text.startswith("CLASS"):
        assert dns.CLASSES[text] == qclass


@pytest.mark.parametrize(
    ("rcode", "text", "label"),
    [
        pytest.param(0, "NOERROR", "NOERROR", id="noerror"),
        pytest.param(4, "NOTIMP", "NOTIMP", id="notimp"),
        pytest.param(11, "DSOTYPENI", "DSOTYPENI", id="dsotypeni"),
        pytest.param(16, "BADSIG", "BADSIG", id="badsig-not-badvers"),
        pytest.param(12, "12", "RCODE12", id="unknown"),
    ],
)
def test_rcode_text_and_label(rcode: int, text: str, label: str) -> None:
    assert dns.rcode_text(rcode) == text
    assert dns.rcode_label(rcode) == label


def test_rcodes_by_name_are_miekgs_string_to_rcode() -> None:
    assert dns.RCODES["NXDOMAIN"] == 3
    assert dns.RCODES["NOTIMPL"] == 4  # the old spelling miekg keeps
    assert "BADVERS" not in dns.RCODES
    assert all(dns.RCODES[name] == code for code, name in dns.RCODE_NAMES.items())


@pytest.mark.parametrize(
    ("qtype", "label"),
    [
        pytest.param(1, "A", id="A"),
        pytest.param(64, "SVCB", id="SVCB"),
        pytest.param(255, "ANY", id="ANY"),
        pytest.param(13, "other", id="HINFO"),
        pytest.param(65280, "other", id="unknown"),
    ],
)
def test_type_label(qtype: int, label: str) -> None:
    assert dns.type_label(qtype) == label


@pytest.mark.parametrize(
    ("parent", "child", "inside"),
    [
        pytest.param(".", "a.b.", True, id="root"),
        pytest.param("example.org.", "example.org.", True, id="apex"),
        pytest.param("example.org.", "www.example.org.", True, id="below"),
        pytest.param("example.org.", "badexample.org.", False, id="suffix-not-label"),
        pytest.param("www.example.org.", "example.org.", False, id="above"),
    ],
)
def test_is_subdomain(parent: str, child: str, inside: bool) -> None:
    assert dns.is_subdomain(parent, child) is inside


def test_zone_match_picks_the_longest_whatever_the_order() -> None:
    assert dns.zone_match(["example.org.", ".", "org."], "a.example.org.") == "example.org."
    assert dns.zone_match(["example.net."], "a.example.org.") == ""
    assert dns.zone_match([], "a.example.org.") == ""


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        pytest.param(".", b"\x00", id="root"),
        pytest.param("Example.org.", b"\x07Example\x03org\x00", id="case-kept"),
        pytest.param("example.org", b"\x07example\x03org\x00", id="no-trailing-dot"),
        pytest.param("a\\.b.org.", b"\x03a.b\x03org\x00", id="escaped-dot"),
        pytest.param("\\065b.org.", b"\x02Ab\x03org\x00", id="ddd-escape"),
    ],
)
def test_name_to_wire(name: str, wire: bytes) -> None:
    assert dns.name_to_wire(name) == wire


def test_name_to_wire_matches_dnslib_for_plain_names() -> None:
    name = "www.Example.ORG."
    assert dns.name_to_wire(name) == bytes(dnslib.DNSRecord.question(name).pack())[12:-4]


@pytest.mark.parametrize(
    ("zone", "wire"),
    [
        pytest.param(".", b"\x00", id="root"),
        pytest.param("Example.ORG.", b"\x07example\x03org\x00", id="lower-cased"),
        pytest.param("bücher.example.", b"\x0dxn--bcher-kva\x07example\x00", id="idna"),
        pytest.param("a\\.b.org.", b"\x03a.b\x03org\x00", id="escaped-dot"),
    ],
)
def test_zone_to_wire(zone: str, wire: bytes) -> None:
    assert dns.zone_to_wire(zone) == wire
