"""Server-block keys (``[SCHEME://]ZONE[:PORT]``) and zone arguments, normalised as CoreDNS does.

A key becomes one :class:`ZoneAddress` per zone: a CIDR key that is not on an octet (IPv4) or
nibble (IPv6) boundary expands into several reverse zones. Errors use CoreDNS's words; the
engine prefixes them with ``error inspecting server blocks: ``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from pycoredns.corefile.values import go_strconv_quote, parse_atoi, parse_cidr
from pycoredns.errors import ServerConfigError

__all__ = [
    "DEFAULT_PORTS",
    "TRANSPORTS",
    "ZoneAddress",
    "is_domain_name",
    "normalize_host",
    "normalize_name",
    "normalize_zone",
    "parse_key",
    "split_transport",
]

# In the order CoreDNS tries the prefixes ("https3" before "https" matters).
TRANSPORTS = ("tls", "dns", "quic", "grpc", "https3", "https", "unix")
# Ports used when a key has none; "dns" takes the -dns.port value instead, "unix" has none.
DEFAULT_PORTS = {"tls": "853", "quic": "853", "grpc": "443", "https": "443", "https3": "443"}


@dataclass(frozen=True, slots=True)
class ZoneAddress:
    """One zone a server block serves, on one transport and port."""

    transport: str
    zone: str
    port: str

    def __str__(self) -> str:
        return f"{self.transport}://{self.zone}:{self.port}"


def split_transport(text: str) -> tuple[str, str]:
    """``(transport, rest)``; a key without a known ``scheme://`` is ``dns``."""
    for name in TRANSPORTS:
        prefix = name + "://"
        if text.startswith(prefix):
            return name, text[len(prefix) :]
    return "dns", text


def parse_key(text: str, default_port: str) -> list[ZoneAddress]:
    """The zone addresses of one key; ``default_port`` is the ``-dns.port`` value for ``dns``."""
    transport, rest = split_transport(text)
    zones, port = _split_zone_port(rest)
    # CoreDNS checks the fully qualified form as well: a 255-character zone only fails once its
    # dot is added.
    for zone in zones:
        _split_zone_port(_fqdn(zone))
    if not port:
        port = default_port if transport == "dns" else DEFAULT_PORTS.get(transport, "")
    return [ZoneAddress(transport, normalize_name(z), port) for z in zones]


def normalize_zone(text: str) -> list[str]:
    """A zone argument as plugins take it: lower-case FQDNs, CIDRs as reverse zones.

    Any ``scheme://`` and ``:port`` are dropped. Invalid input gives ``[]`` (as CoreDNS's
    ``NormalizeExact``), so the plugin can word its own error.
    """
    _, rest = split_transport(text)
    try:
        zones, _ = _split_zone_port(rest)
    except ServerConfigError:
        return []
    return [normalize_name(z) for z in zones]


def normalize_host(text: str) -> str:
    """The first zone of ``text`` (scheme and port dropped), or "" if it is not a valid zone."""
    zones = normalize_zone(text)
    return zones[0] if zones else ""


def normalize_name(name: str) -> str:
    """Lower-case and fully qualified (``Example.ORG`` becomes ``example.org.``)."""
    return _fqdn(name).lower()


def _fqdn(name: str) -> str:
    return name if _is_fqdn(name) else name + "."


def _is_fqdn(name: str) -> bool:
    if not name.endswith("."):
        return False
    body = name[:-1]
    # The final dot counts only if it is not escaped (an even run of backslashes before it).
    run = len(body) - len(body.rstrip("\\"))
    return run % 2 == 0


def _split_zone_port(text: str) -> tuple[list[str], str]:
    """CoreDNS's ``plugin.SplitHostPort``: zones (reverse-expanded) and the port ("" if none)."""
    port = ""
    colon = text.rfind(":")
    if colon != -1 and colon == len(text) - 1:
        raise ServerConfigError(f"expecting data after last colon: {go_strconv_quote(text)}")
    if colon != -1:
        # Only a number counts as a port, so an IPv6 CIDR keeps its colons.
        try:
            port = str(parse_atoi(text[colon + 1 :]))
            text = text[:colon]
        except ValueError:
            pass
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > 255:
        raise ServerConfigError(f"specified zone is too long: {size} > 255")
    if not is_domain_name(text):
        raise ServerConfigError(f"zone is not a valid domain name: {text}")
    network = _parse_cidr(text)
    if network is None:
        return [text], port
    if text[0] == ":" or (text[0] == "0" and ":" in text):
        raise ServerConfigError(f"invalid CIDR {text}")
    return _reverse_zones(network), port


def is_domain_name(name: str) -> bool:
    """miekg/dns ``IsDomainName``: very liberal, only label and total lengths and dots count."""
    data = name.encode("utf-8", "surrogatepass")
    if not data:
        return False
    if not _is_fqdn(name):
        data += b"."
    offset = begin = 0
    was_dot = escape = False
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x5C:  # backslash: \DDD or \X stand for one octet
            escape = not escape
            if offset + 1 > 256:
                return False
            if data[i + 1 : i + 4].isdigit() and len(data[i + 1 : i + 4]) == 3:
                i += 3
                begin += 3
            else:
                i += 1
                begin += 1
            was_dot = False
        elif c == 0x2E:  # dot
            escape = False
            if i == 0 and len(data) > 1:
                return False  # only the root may start with a dot
            if was_dot:
                return False  # empty label
            was_dot = True
            label = i - begin
            if label >= 64:
                return False
            offset += 1 + label
            if offset > 256:
                return False
            begin = i + 1
        else:
            escape = False
            was_dot = False
        i += 1
    return not escape


def _parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network if ``text`` is a CIDR as Go's ``net.ParseCIDR`` accepts it (host bits masked)."""
    try:
        return parse_cidr(text)
    except ValueError:
        return None


def _reverse_zones(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """Reverse zones covering ``network``, split at the next label boundary if needed."""
    digit = 8 if network.version == 4 else 4
    boundary = math.ceil(network.prefixlen / digit) * digit
    subnets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = (
        [network] if boundary == network.prefixlen else list(network.subnets(new_prefix=boundary))
    )
    zones = []
    for subnet in subnets:
        labels = _reverse_labels(subnet.network_address)
        drop = (subnet.max_prefixlen - subnet.prefixlen) // digit
        zones.append(".".join(labels[drop:]) + ".")
    return zones


def _reverse_labels(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    if address.version == 4:
        return [str(b) for b in reversed(address.packed)] + ["in-addr", "arpa"]
    nibbles = f"{int(address):032x}"
    return list(reversed(nibbles)) + ["ip6", "arpa"]
