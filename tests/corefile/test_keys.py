"""Server-block keys and zone normalisation (corefile.md 3.1-3.2)."""

from __future__ import annotations

import pytest

from pycoredns.corefile import ZoneAddress, normalize_host, normalize_zone, parse_key
from pycoredns.errors import ServerConfigError


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("example.org", ["dns://example.org.:53"], id="bare-zone"),
        pytest.param("EXAMPLE.ORG", ["dns://example.org.:53"], id="lower-cased"),
        pytest.param("example.org.", ["dns://example.org.:53"], id="already-fqdn"),
        pytest.param(".", ["dns://.:53"], id="root"),
        pytest.param(".:53", ["dns://.:53"], id="root-with-port"),
        pytest.param("example.org:1053", ["dns://example.org.:1053"], id="port"),
        pytest.param("example.org:+053", ["dns://example.org.:53"], id="port-as-atoi-reads-it"),
        pytest.param("dns://example.org", ["dns://example.org.:53"], id="dns-scheme"),
        pytest.param("tls://example.org", ["tls://example.org.:853"], id="tls"),
        pytest.param("quic://example.org", ["quic://example.org.:853"], id="quic"),
        pytest.param("grpc://example.org", ["grpc://example.org.:443"], id="grpc"),
        pytest.param("https://example.org", ["https://example.org.:443"], id="https"),
        pytest.param("https3://example.org", ["https3://example.org.:443"], id="https3"),
        pytest.param("tls://example.org:8853", ["tls://example.org.:8853"], id="tls-port"),
        pytest.param("unix://example.org", ["unix://example.org.:"], id="unix-no-default-port"),
        pytest.param("http://example.org", ["dns://http://example.org.:53"], id="unknown-scheme-is-zone"),
        pytest.param("example.org,example.com:1053", ["dns://example.org,example.com.:1053"], id="comma-zone"),
        pytest.param("{}", ["dns://{}.:53"], id="brace-zone"),
        pytest.param("10.0.0.0/8", ["dns://10.in-addr.arpa.:53"], id="cidr-8"),
        pytest.param("192.168.1.0/24", ["dns://1.168.192.in-addr.arpa.:53"], id="cidr-24"),
        pytest.param("192.168.1.0/24:1053", ["dns://1.168.192.in-addr.arpa.:1053"], id="cidr-port"),
        pytest.param("10.0.0.0/15", ["dns://0.10.in-addr.arpa.:53", "dns://1.10.in-addr.arpa.:53"], id="cidr-15"),
        pytest.param("10.1.2.3/8", ["dns://10.in-addr.arpa.:53"], id="host-bits-masked"),
        pytest.param("0.0.0.0/0", ["dns://in-addr.arpa.:53"], id="cidr-0"),
        pytest.param("1.2.3.4/32", ["dns://4.3.2.1.in-addr.arpa.:53"], id="cidr-32"),
        pytest.param(
            "tls://10.0.0.0/15", ["tls://0.10.in-addr.arpa.:853", "tls://1.10.in-addr.arpa.:853"], id="cidr-tls"
        ),
        pytest.param(
            "2001:db8::/112",
            ["dns://" + "0." * 20 + "8.b.d.0.1.0.0.2.ip6.arpa.:53"],
            id="ipv6-112",
        ),
        pytest.param(
            "2001:db8::/29",
            [f"dns://{n}.b.d.0.1.0.0.2.ip6.arpa.:53" for n in "89abcdef"],
            id="ipv6-29",
        ),
        pytest.param("10.0.0.0/08", ["dns://10.in-addr.arpa.:53"], id="leading-zero-mask"),
        pytest.param("10.0.0.0/255.0.0.0", ["dns://10.0.0.0/255.0.0.0.:53"], id="netmask-is-not-cidr"),
        pytest.param(
            "example.org:99999999999999999999", ["dns://example.org:99999999999999999999.:53"], id="huge-port-not-port"
        ),
    ],
)
def test_parse_key(key: str, expected: list[str]) -> None:
    assert [str(z) for z in parse_key(key, "53")] == expected


def test_cidr_18_gives_64_zones() -> None:
    zones = [z.zone for z in parse_key("10.9.3.0/18", "53")]
    assert len(zones) == 64
    assert zones[0] == "0.9.10.in-addr.arpa." and zones[-1] == "63.9.10.in-addr.arpa."


def test_cidr_25_gives_128_zones() -> None:
    zones = [z.zone for z in parse_key("192.168.1.0/25", "53")]
    assert len(zones) == 128
    assert zones[0] == "0.1.168.192.in-addr.arpa." and zones[-1] == "127.1.168.192.in-addr.arpa."


def test_default_port_only_for_dns() -> None:
    assert parse_key("example.org", "1053") == [ZoneAddress("dns", "example.org.", "1053")]
    assert parse_key("example.org:53", "1053") == [ZoneAddress("dns", "example.org.", "53")]
    assert parse_key("tls://example.org", "1053") == [ZoneAddress("tls", "example.org.", "853")]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(":53", "zone is not a valid domain name: ", id="empty-zone"),
        pytest.param("", "zone is not a valid domain name: ", id="empty-key"),
        pytest.param("example.org:", 'expecting data after last colon: "example.org:"', id="trailing-colon"),
        pytest.param("a..b", "zone is not a valid domain name: a..b", id="empty-label"),
        pytest.param(".a", "zone is not a valid domain name: .a", id="leading-dot"),
        pytest.param("a" * 64 + ".org", "zone is not a valid domain name: " + "a" * 64 + ".org", id="label-too-long"),
        pytest.param("a\\", "zone is not a valid domain name: a\\", id="dangling-escape"),
        pytest.param("a" * 256, "specified zone is too long: 256 > 255", id="too-long"),
        pytest.param(
            ("a" * 63 + ".") * 3 + "a" * 63, "specified zone is too long: 256 > 255", id="too-long-once-qualified"
        ),
        pytest.param("::/64", "invalid CIDR ::/64", id="ipv6-leading-colons"),
        pytest.param("0:0::/64", "invalid CIDR 0:0::/64", id="ipv6-leading-zero"),
    ],
)
def test_parse_key_errors(key: str, message: str) -> None:
    with pytest.raises(ServerConfigError) as info:
        parse_key(key, "53")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Example.ORG", ["example.org."], id="host"),
        pytest.param("example.org.", ["example.org."], id="fqdn"),
        pytest.param(".", ["."], id="root"),
        pytest.param("dns://example.org:53", ["example.org."], id="scheme-and-port-dropped"),
        pytest.param("10.0.0.0/15", ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."], id="cidr"),
        pytest.param("in-addr.arpa", ["in-addr.arpa."], id="arpa"),
        pytest.param("a..b", [], id="invalid"),
        pytest.param("a:", [], id="trailing-colon"),
    ],
)
def test_normalize_zone(text: str, expected: list[str]) -> None:
    assert normalize_zone(text) == expected


def test_normalize_host() -> None:
    assert normalize_host("tls://Example.org:853") == "example.org."
    assert normalize_host("10.0.0.0/15") == "0.10.in-addr.arpa."
    assert normalize_host("a..b") == ""


def test_zone_address_is_hashable_and_frozen() -> None:
    z = ZoneAddress("dns", "example.org.", "53")
    assert {z: 1}[ZoneAddress("dns", "example.org.", "53")] == 1
    with pytest.raises(AttributeError):
        z.port = "54"  # type: ignore[misc]
