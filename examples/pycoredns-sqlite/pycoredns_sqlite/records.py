"""From table rows to answers packed ahead of time.

Every answer the plugin can give is built when the table is read, in wire form, keyed by the
question as the engine reads it from the query (lower-cased wire name, type, class). Answering
is then one dictionary lookup and one reply built from bytes: no name is converted, no message
is parsed or packed while a query waits.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from pycoredns.plugin import dns, wire, zone_match

# The types a row may have, and their numbers.
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33}
CNAME = TYPES["CNAME"]
MAX_TTL = 2**31 - 1
MAX_CHAIN = 8  # CNAME hops followed inside the table
_IN = struct.pack(">H", wire.CLASS_IN)


class RowError(ValueError):
    """A row that cannot be served; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply's answer section: ``count`` records in wire form, and the zone they are in."""

    records: bytes
    count: int
    zone: str


@dataclass
class Records:
    """One reading of the table; replaced whole when the table is read again, never changed."""

    answers: dict[bytes, Answer] = field(default_factory=dict)  # question key -> answer
    cnames: dict[bytes, Answer] = field(default_factory=dict)  # wire name -> its CNAME chain alone
    names: dict[bytes, str] = field(default_factory=dict)  # every name that exists -> its zone
    rows: int = 0  # rows served


@dataclass(frozen=True)
class Row:
    name: str  # lower-case, fully qualified
    rtype: int
    ttl: int
    rdata: bytes


def to_wire(name: str) -> bytes:
    """A fully qualified name in lower-case wire form (IDNA for labels that are not ASCII), as the
    engine reads question names; checked: no empty label, labels of 63 octets at most, 255 in all."""
    if name not in (".", "") and not all(name.rstrip(".").split(".")):
        raise RowError(f"bad name {name!r}: empty label")
    try:
        data = dns.zone_to_wire(name)
    except UnicodeError as e:
        raise RowError(f"bad name {name!r}: {e}") from None
    pos = 0
    while data[pos]:
        if data[pos] > 63:
            raise RowError(f"bad name {name!r}: label over 63 octets")
        pos += data[pos] + 1
    if len(data) > 255:
        raise RowError(f"bad name {name!r}: over 255 octets")
    return data


def fqdn(text: str) -> str:
    text = text.strip().lower()
    return text if text.endswith(".") else text + "."


def _u16(text: str, what: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise RowError(f"bad {what} {text!r}: want 0 to 65535")
    return int(text)


def rdata(rtype: str, value: str) -> bytes:
    """``value`` (zone-file presentation, as in the README) as wire rdata of type ``rtype``."""
    fields = value.split()
    try:
        if rtype == "A":
            return ipaddress.IPv4Address(value.strip()).packed
        if rtype == "AAAA":
            return ipaddress.IPv6Address(value.strip()).packed
    except ValueError:
        raise RowError(f"bad {rtype} value {value!r}") from None
    if rtype in ("CNAME", "NS", "PTR"):
        if len(fields) != 1:
            raise RowError(f"bad {rtype} value {value!r}: want one name")
        return to_wire(fqdn(fields[0]))
    if rtype == "MX":
        if len(fields) != 2:
            raise RowError(f"bad MX value {value!r}: want PREFERENCE HOST")
        return struct.pack(">H", _u16(fields[0], "preference")) + to_wire(fqdn(fields[1]))
    if rtype == "SRV":
        if len(fields) != 4:
            raise RowError(f"bad SRV value {value!r}: want PRIORITY WEIGHT PORT TARGET")
        numbers = [_u16(f, w) for f, w in zip(fields[:3], ("priority", "weight", "port"), strict=True)]
        head = struct.pack(">HHH", *numbers)
        return head + to_wire(fqdn(fields[3]))
    if rtype == "TXT":
        raw = value.encode()
        chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
        return b"".join(bytes((len(c),)) + c for c in chunks)
    raise RowError(f"unsupported type {rtype!r}: want one of {', '.join(TYPES)}")


def parse_row(name: object, rtype: object, ttl: object, value: object) -> Row:
    """One table row, checked; raises :class:`RowError`."""
    if not isinstance(name, str) or not name.strip():
        raise RowError(f"bad name {name!r}")
    if not isinstance(rtype, str) or rtype.strip().upper() not in TYPES:
        raise RowError(f"unsupported type {rtype!r}: want one of {', '.join(TYPES)}")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise RowError(f"bad ttl {ttl!r}: want an integer from 0 to {MAX_TTL}")
    if not isinstance(value, str):
        raise RowError(f"bad value {value!r}: want text")
    kind = rtype.strip().upper()
    owner = fqdn(name)
    to_wire(owner)  # checks the name
    return Row(owner, TYPES[kind], ttl, rdata(kind, value))


def build(rows: Iterable[Row], zones: list[str]) -> tuple[Records, list[str]]:
    """The answers for ``rows``; rows outside ``zones`` or in conflict are left out, each with a
    warning (returned, for the caller to log)."""
    warnings: list[str] = []
    rrsets: dict[str, dict[int, list[Row]]] = {}
    count = 0
    for row in rows:
        if not zone_match(zones, row.name):
            warnings.append(f"{row.name} is not in the zones {' '.join(zones)}: left out")
            continue
        types = rrsets.setdefault(row.name, {})
        # A name with a CNAME has nothing else (RFC 1034 3.6.2): the row that comes first wins.
        if row.rtype == CNAME and CNAME in types:
            warnings.append(f"{row.name} has more than one CNAME: the first is kept")
            continue
        if row.rtype == CNAME and types:
            warnings.append(f"{row.name} has other records: its CNAME is left out")
            continue
        if row.rtype != CNAME and CNAME in types:
            warnings.append(f"{row.name} has a CNAME: its {_type_name(row.rtype)} record is left out")
            continue
        rrset = types.setdefault(row.rtype, [])
        if any(r.rdata == row.rdata for r in rrset):
            continue  # the same record twice: served once
        rrset.append(row)
        count += 1

    records = Records(rows=count)
    for name, types in rrsets.items():
        zone = zone_match(zones, name)
        owner = to_wire(name)
        for ancestor in _ancestors(name, zone):
            records.names.setdefault(to_wire(ancestor), zone)
        for rtype, rrset in types.items():
            packed = b"".join(wire.record(wire.QUESTION_NAME, r.rtype, r.ttl, r.rdata) for r in rrset)
            records.answers[owner + struct.pack(">H", rtype) + _IN] = Answer(packed, len(rrset), zone)
        if CNAME in types:
            _chain(records, rrsets, name, zone, owner)
    return records, warnings


def _chain(records: Records, rrsets: dict[str, dict[int, list[Row]]], name: str, zone: str, owner: bytes) -> None:
    """The answers for a name with a CNAME: the chain through the table, then what its end holds."""
    packed, count, seen, at = b"", 0, {name}, name
    while CNAME in rrsets.get(at, {}) and count < MAX_CHAIN:
        row = rrsets[at][CNAME][0]
        packed += wire.record(wire.QUESTION_NAME if at == name else to_wire(at), CNAME, row.ttl, row.rdata)
        count += 1
        target = _name_of(row.rdata)
        if target in seen:
            break  # a loop: the records so far are the answer
        seen.add(target)
        at = target
    records.cnames[owner] = Answer(packed, count, zone)
    end = to_wire(at)
    for rtype, rrset in rrsets.get(at, {}).items():
        if rtype == CNAME:
            continue
        tail = b"".join(wire.record(end, r.rtype, r.ttl, r.rdata) for r in rrset)
        records.answers[owner + struct.pack(">H", rtype) + _IN] = Answer(packed + tail, count + len(rrset), zone)


def _name_of(data: bytes) -> str:
    labels, pos = [], 0
    while data[pos]:
        labels.append(data[pos + 1 : pos + 1 + data[pos]].decode("ascii", "replace"))
        pos += data[pos] + 1
    return ".".join(labels) + "."


def _ancestors(name: str, zone: str) -> list[str]:
    """``name`` and every name between it and ``zone`` (they exist, as empty non-terminals)."""
    out = [name]
    while name != zone and name != ".":
        name = name.split(".", 1)[1] or "."
        out.append(name)
    return out


def _type_name(rtype: int) -> str:
    return next(k for k, v in TYPES.items() if v == rtype)
