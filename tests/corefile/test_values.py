"""Go's value syntax written and read: Duration.String, %q of strings and runes, ParseUint."""

from __future__ import annotations

import pytest

from pycoredns import plugin
from pycoredns.corefile.values import (
    go_duration,
    go_quote_rune,
    go_strconv_quote,
    parse_cidr,
    parse_duration,
    parse_uint,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(1e-9, "1ns", id="ns"),
        pytest.param(0.0000015, "1.5\u00b5s", id="us-micro-sign"),
        pytest.param(0.25, "250ms", id="ms"),
        pytest.param(1.5, "1.5s", id="s"),
        pytest.param(90, "1m30s", id="m"),
        pytest.param(3600, "1h0m0s", id="h"),
        pytest.param(3661.5, "1h1m1.5s", id="hms"),
        pytest.param(-2, "-2s", id="negative"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize("text", ["1h2m3.004005006s", "750ms", "12\u00b5s", "3ns", "-1m0.5s"])
def test_go_duration_reads_back(text: str) -> None:
    assert go_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        pytest.param("abc", '"abc"', id="plain"),
        pytest.param('a"b\\c', '"a\\"b\\\\c"', id="quote-and-backslash"),
        pytest.param("it's", '"it\'s"', id="single-quote-kept"),
        pytest.param("tab\there\n", '"tab\\there\\n"', id="short-escapes"),
        pytest.param("\x01\x7f", '"\\x01\\x7f"', id="control"),
        pytest.param("b\u00fccher", '"b\u00fccher"', id="printable-unicode"),
        pytest.param("\u200b", '"\\u200b"', id="non-printable-unicode"),
    ],
)
def test_go_strconv_quote(text: str, quoted: str) -> None:
    assert go_strconv_quote(text) == quoted


@pytest.mark.parametrize(
    ("code", "quoted"),
    [
        pytest.param(ord("x"), "'x'", id="plain"),
        pytest.param(ord("'"), "'\\''", id="single-quote"),
        pytest.param(ord('"'), "'\"'", id="double-quote-kept"),
        pytest.param(ord("\\"), "'\\\\'", id="backslash"),
        pytest.param(9, "'\\t'", id="tab"),
        pytest.param(0, "'\\x00'", id="nul"),
        pytest.param(0xE9, "'\u00e9'", id="latin1-printable"),
        pytest.param(0x85, "'\\u0085'", id="latin1-control"),
    ],
)
def test_go_quote_rune(code: int, quoted: str) -> None:
    assert go_quote_rune(code) == quoted


@pytest.mark.parametrize(
    ("text", "bits", "value"),
    [pytest.param("0", 32, 0, id="zero"), pytest.param("4294967295", 32, 4294967295, id="max32")],
)
def test_parse_uint(text: str, bits: int, value: int) -> None:
    assert parse_uint(text, bits) == value


@pytest.mark.parametrize(
    ("text", "bits", "message"),
    [
        pytest.param("4294967296", 32, 'strconv.ParseUint: parsing "4294967296": value out of range', id="over32"),
        pytest.param("-1", 32, 'strconv.ParseUint: parsing "-1": invalid syntax', id="sign"),
        pytest.param("+1", 64, 'strconv.ParseUint: parsing "+1": invalid syntax', id="plus"),
        pytest.param("", 64, 'strconv.ParseUint: parsing "": invalid syntax', id="empty"),
        pytest.param("\u0661", 64, 'strconv.ParseUint: parsing "\u0661": invalid syntax', id="non-ascii-digit"),
    ],
)
def test_parse_uint_errors(text: str, bits: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_uint(text, bits)
    assert str(info.value) == message


def test_the_plugin_api_exports_one_of_each() -> None:
    assert plugin.go_duration is go_duration
    assert plugin.go_strconv_quote is go_strconv_quote
    assert plugin.go_quote_rune is go_quote_rune
    assert plugin.parse_uint is parse_uint


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/24", "10.1.2.0/24"),  # host bits masked
        ("2001:db8::1/32", "2001:db8::/32"),
        ("::ffff:1.2.3.4/120", "::ffff:102:300/120"),  # stays IPv6, as in Go
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_parse_cidr(text: str, network: str) -> None:
    assert str(parse_cidr(text)) == network


@pytest.mark.parametrize(
    "text",
    ["10.0.0.0", "10.0.0.0/", "x/8", "10.0.0.0/+8", "10.0.0.0/255.0.0.0", "fe80::1%lo/64", "::/129", "1.2.3.4/33"],
)
def test_parse_cidr_rejects_as_go(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_cidr(text)
    assert str(e.value) == f"invalid CIDR address: {text}"
