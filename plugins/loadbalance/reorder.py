"""Reordering the records of a reply on the wire.

A reply is cut into its records (offsets only, nothing decoded); a policy gives each section a new
order; the reply is then rebuilt by joining the records' bytes in that order. That is valid as long
as no compression pointer reaches into a record that moved, since pointers are absolute offsets:
the walk collects every pointer the reply's names use, and if one points into a moved record the
reply is parsed and packed again instead (rare: a compressor only points back to names it wrote
in full, and reordered address records nearly always carry their owner name as a pointer to the
question or to a record that stays in place).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

import dnslib

from pycoredns.plugin import wire

TYPE_A = 1
TYPE_CNAME = 5
TYPE_MX = 15
TYPE_AAAA = 28
ADDRESS = (TYPE_A, TYPE_AAAA)

_COUNTS = struct.Struct(">HHH")
_RR = struct.Struct(">HHIH")

# Where the names are in the rdata of the types that carry them: (octets before the first name,
# number of names in a row). Pointers may appear in these names (RFC 1035 and RFC 3597 list the
# types a compressor may compress; the others are read too, harmlessly, in case one did).
_NAMES: dict[int, tuple[int, int]] = {
    2: (0, 1),  # NS
    3: (0, 1),  # MD
    4: (0, 1),  # MF
    5: (0, 1),  # CNAME
    6: (0, 2),  # SOA
    7: (0, 1),  # MB
    8: (0, 1),  # MG
    9: (0, 1),  # MR
    12: (0, 1),  # PTR
    14: (0, 2),  # MINFO
    15: (2, 1),  # MX
    17: (0, 2),  # RP
    18: (2, 1),  # AFSDB
    21: (2, 1),  # RT
    26: (2, 2),  # PX
    33: (6, 1),  # SRV
    36: (2, 1),  # KX
    39: (0, 1),  # DNAME
    46: (18, 1),  # RRSIG signer
    47: (0, 1),  # NSEC next name
    250: (0, 1),  # TSIG algorithm
}
_NAPTR = 35


class Record(NamedTuple):
    """One resource record of a reply: where it is and its type (``seq`` is its place in its
    section, as written)."""

    start: int
    end: int
    rtype: int
    rdata: int
    seq: int


class Reply(NamedTuple):
    data: bytes
    question_end: int
    sections: tuple[list[Record], list[Record], list[Record]]  # answer, authority, additional
    ext_rcode: int  # the OPT record's extended rcode bits


def read(data: bytes) -> Reply | None:
    """Cut ``data`` into its records, or None when it does not walk (it is then left alone)."""
    try:
        qd = (data[4] << 8) | data[5]
        counts = _COUNTS.unpack_from(data, 6)
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(data, pos) + 4
        question_end = pos
        sections: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
        ext = 0
        n = len(data)
        for s, count in enumerate(counts):
            records = sections[s]
            for i in range(count):
                start = pos
                pos = wire.skip_name(data, pos)
                rtype, _cls, ttl, rdlen = _RR.unpack_from(data, pos)
                rdata = pos + 10
                pos = rdata + rdlen
                if pos > n:
                    return None
                if rtype == wire.TYPE_OPT and s == 2:
                    ext = ttl >> 24
                records.append(Record(start, pos, rtype, rdata, i))
        if pos != n:
            return None
    except (IndexError, struct.error, wire.MalformedMessage):
        return None
    return Reply(data, question_end, sections, ext)


def partition(records: Sequence[Record]) -> tuple[list[Record], list[Record], list[Record], list[Record]]:
    """(CNAME, A/AAAA, MX, everything else), each in reply order."""
    cname: list[Record] = []
    address: list[Record] = []
    mx: list[Record] = []
    rest: list[Record] = []
    for r in records:
        t = r.rtype
        if t == TYPE_A or t == TYPE_AAAA:
            address.append(r)
        elif t == TYPE_CNAME:
            cname.append(r)
        elif t == TYPE_MX:
            mx.append(r)
        else:
            rest.append(r)
    return cname, address, mx, rest


def rebuild(reply: Reply, orders: tuple[list[Record], list[Record], list[Record]]) -> bytes:
    """The reply with each section in its new order (``reply.data`` itself when nothing moved)."""
    data = reply.data
    pieces: list[bytes] = []
    moved: list[Record] = []
    pos = reply.question_end
    for records in orders:
        for r in records:
            if r.start != pos:
                moved.append(r)
            pos += r.end - r.start
            pieces.append(data[r.start : r.end])
    if not moved:
        return data
    if _points_into(reply, moved):
        return _repack(reply, orders)
    return data[: reply.question_end] + b"".join(pieces)


def _points_into(reply: Reply, moved: list[Record]) -> bool:
    """True if a compression pointer of the reply targets an octet of a moved record (or if the
    names cannot be read, which counts as unsafe)."""
    data = reply.data
    try:
        targets = _targets(data, reply)
    except (IndexError, wire.MalformedMessage):
        return True
    for t in targets:
        for r in moved:
            if r.start <= t < r.end:
                return True
    return False


def _targets(data: bytes, reply: Reply) -> set[int]:
    targets: set[int] = set()
    pos = 12
    while pos < reply.question_end:
        pos = _name(data, pos, reply.question_end, targets) + 4
    for records in reply.sections:
        for r in records:
            _name(data, r.start, r.rdata, targets)
            at = _NAMES.get(r.rtype)
            if at is not None:
                skip, count = at
                p = r.rdata + skip
                for _ in range(count):
                    p = _name(data, p, r.end, targets)
            elif r.rtype == _NAPTR:
                p = r.rdata + 4
                for _ in range(3):  # flags, services, regexp: character-strings
                    p += 1 + data[p]
                _name(data, p, r.end, targets)
    return targets


def _name(data: bytes, pos: int, end: int, targets: set[int]) -> int:
    """Add the pointer that ends the name at ``pos`` (if any) to ``targets``; the offset after it."""
    while True:
        if pos >= end:
            raise wire.MalformedMessage("name past its record")
        c = data[pos]
        if c == 0:
            return pos + 1
        if c & 0xC0 == 0xC0:
            targets.add(((c & 0x3F) << 8) | data[pos + 1])
            return pos + 2
        if c & 0xC0:
            raise wire.MalformedMessage("bad label")
        pos += c + 1


def _repack(reply: Reply, orders: tuple[list[Record], list[Record], list[Record]]) -> bytes:
    """Parse, reorder and pack again (names compressed anew); the reply unchanged if it fails."""
    try:
        msg = dnslib.DNSRecord.parse(reply.data)
    except Exception:  # dnslib raises several kinds: all mean it cannot read this reply
        return reply.data
    sections = (msg.rr, msg.auth, msg.ar)
    if [len(s) for s in sections] != [len(s) for s in reply.sections]:
        return reply.data
    msg.rr, msg.auth, msg.ar = (
        [section[r.seq] for r in order] for section, order in zip(sections, orders, strict=True)
    )
    try:
        return bytes(msg.pack())
    except Exception:
        return reply.data
