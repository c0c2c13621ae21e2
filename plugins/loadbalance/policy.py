"""The orders a section can be put in: CoreDNS's round_robin, weighted and prefer.

Each takes a section's records (see :mod:`reorder`) and returns them in their new order; the
reply's bytes are only read (an address, an owner name), never changed here.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Sequence

from pycoredns.plugin import wire
from pycoredns.plugins.loadbalance.reorder import TYPE_A, Record, partition

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def round_robin(data: bytes, records: list[Record], shuffle: Callable[[list[Record]], None]) -> list[Record]:
    """CNAMEs first (glibc wants them before the addresses they lead to), then the records of
    other types in their order, then the addresses and the MX records, each shuffled."""
    cname, address, mx, rest = partition(records)
    if len(address) > 1:
        shuffle(address)
    if len(mx) > 1:
        shuffle(mx)
    return cname + rest + address + mx


def address_of(data: bytes, r: Record) -> bytes:
    """The address octets of an A (4) or AAAA (16) record."""
    return data[r.rdata : r.rdata + (4 if r.rtype == TYPE_A else 16)]


def owner_of(data: bytes, r: Record) -> str:
    """The owner name of a record as lower-case text with the final dot (pointers followed)."""
    labels: list[str] = []
    pos = r.start
    for _ in range(128):  # a name has at most 127 labels; a longer walk is a pointer loop
        c = data[pos]
        if c == 0:
            return ".".join(labels) + "." if labels else "."
        if c & 0xC0 == 0xC0:
            pos = ((c & 0x3F) << 8) | data[pos + 1]
            continue
        labels.append(data[pos + 1 : pos + 1 + c].decode("ascii", "replace").lower())
        pos += c + 1
    raise wire.MalformedMessage("dns: too many compression pointers")


class Weights:
    """Weights by owner name (lower case, fully qualified) and address octets (IPv4 as 4 octets)."""

    def __init__(self, domains: dict[str, dict[bytes, int]] | None = None) -> None:
        self.domains = domains or {}

    def weight(self, name: str, address: bytes) -> int:
        return self.domains.get(name, {}).get(address, 1)


def weighted(
    data: bytes, records: list[Record], weights: Weights, randrange: Callable[[int], int]
) -> list[Record]:
    """CoreDNS's weighted policy: one address record, drawn with the probability of its weight
    (1 when the weight file gives none), goes first among the addresses; the others keep their
    places. Sections without addresses stay as they are."""
    cname, address, mx, rest = partition(records)
    if not address:
        return records
    top = _top(data, address, weights, randrange)
    if top:
        address[0], address[top] = address[top], address[0]
    return cname + rest + address + mx


def _top(data: bytes, address: list[Record], weights: Weights, randrange: Callable[[int], int]) -> int:
    ranked = []
    total = 0
    for i, r in enumerate(address):
        w = weights.weight(owner_of(data, r), address_of(data, r))
        ranked.append((w, i))
        total += w
    ranked.sort(key=lambda pair: -pair[0])  # heaviest first, ties in reply order
    v = randrange(total)
    acc = 0
    for w, i in ranked:
        acc += w
        if v < acc:
            return i
    return 0


def prefer(data: bytes, records: list[Record], subnets: Sequence[Network]) -> list[Record]:
    """CNAMEs, then the addresses in the listed subnets (subnet by subnet, in the order given),
    then the other addresses, then MX records, then the rest."""
    cname, address, mx, rest = partition(records)
    if address:
        address = _by_subnet(data, address, subnets)
    return cname + address + mx + rest


def _by_subnet(data: bytes, address: list[Record], subnets: Sequence[Network]) -> list[Record]:
    return [address[i] for i in subnet_order([address_of(data, r) for r in address], subnets)]


def subnet_order(addresses: Sequence[bytes], subnets: Sequence[Network]) -> list[int]:
    """Indexes of ``addresses`` (octets): those in the first subnet, then the second..., then the
    others, each group in the given order."""
    ips = [_ip(a) for a in addresses]
    taken = [False] * len(ips)
    out: list[int] = []
    for net in subnets:
        for i, ip in enumerate(ips):
            if not taken[i] and ip.version == net.version and ip in net:
                out.append(i)
                taken[i] = True
    out.extend(i for i in range(len(ips)) if not taken[i])
    return out


def _ip(raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped is not None:  # Go's Contains compares these as IPv4
        return ip.ipv4_mapped
    return ip


def shuffle(records: list[Record]) -> None:
    random.shuffle(records)
