"""Read an upstream reply on the wire and classify it as CoreDNS's cache does (response.Typify).

The miss path needs the offsets of every TTL field (to rewrite them, and to patch them again on
every hit), the record types per section (to classify), and owner names only when a NOERROR answer
has to be checked against its question (a CNAME chain). Walking the wire gives all of that without
building dnslib objects.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum

from pycoredns.plugin import wire

TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_RRSIG = 46
TYPE_IXFR = 251
TYPE_AXFR = 252
TYPE_ANY = 255
CLASS_ANY = 255
OPCODE_UPDATE = 5

_RR = struct.Struct(">HHIH")
_YEAR68 = 1 << 31


class Kind(Enum):
    """CoreDNS's response.Type values the cache acts on."""

    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    SERVERERROR = "SERVERERROR"
    NODATA = "NODATA"
    DELEGATION = "DELEGATION"
    META = "META"
    UPDATE = "UPDATE"
    OTHERERROR = "OTHERERROR"


@dataclass(slots=True)
class Record:
    section: int  # 0 answer, 1 authority, 2 additional
    owner: int  # offset of the owner name
    rtype: int
    rclass: int
    ttl: int
    ttl_at: int  # offset of the TTL field
    rdata: int  # offset of the RDATA
    rdlen: int


@dataclass(slots=True)
class Reply:
    """A reply as the cache sees it: header bits, question, records, and the OPT record's span."""

    data: bytes
    opcode: int
    rcode: int
    tc: bool
    ad: bool
    ra: bool
    qdcount: int
    question_end: int
    qname_end: int
    qtype: int
    qclass: int
    records: list[Record] = field(default_factory=list)
    opt_start: int = -1
    opt_end: int = -1
    opt_do: bool = False

    def section(self, n: int) -> list[Record]:
        return [r for r in self.records if r.section == n]


class BadReply(ValueError):
    """The reply could not be walked; the cache passes it on without storing it."""


def parse(data: bytes) -> Reply:
    """Walk the header, the question and every record of ``data``."""
    try:
        if len(data) < 12:
            raise BadReply("short")
        f1, f2 = data[2], data[3]
        qd, an, ns, ar = struct.unpack_from(">HHHH", data, 4)
        rep = Reply(
            data=data,
            opcode=(f1 >> 3) & 0xF,
            rcode=f2 & 0xF,
            tc=bool(f1 & 0x02),
            ad=bool(f2 & 0x20),
            ra=bool(f2 & 0x80),
            qdcount=qd,
            question_end=12,
            qname_end=12,
            qtype=0,
            qclass=0,
        )
        pos = 12
        for i in range(qd):
            pos = skip_name(data, pos)
            if i == 0:
                rep.qname_end = pos
                rep.qtype, rep.qclass = struct.unpack_from(">HH", data, pos)
            pos += 4
        rep.question_end = pos
        for section, count in ((0, an), (1, ns), (2, ar)):
            for _ in range(count):
                start = pos
                pos = skip_name(data, pos)
                rtype, rclass, ttl, rdlen = _RR.unpack_from(data, pos)
                rdata = pos + 10
                end = rdata + rdlen
                if end > len(data):
                    raise BadReply("record past the end")
                if rtype == wire.TYPE_OPT and section == 2:
                    rep.opt_start, rep.opt_end = start, end
                    rep.opt_do = bool(ttl & 0x8000)
                else:
                    rep.records.append(Record(section, start, rtype, rclass, ttl, pos + 4, rdata, rdlen))
                pos = end
        return rep
    except (IndexError, struct.error) as e:
        raise BadReply(str(e)) from None


def skip_name(data: bytes, pos: int) -> int:
    try:
        return wire.skip_name(data, pos)
    except wire.MalformedMessage:
        raise BadReply("bad label type") from None


def read_name(data: bytes, pos: int) -> bytes:
    """The (decompressed) name at ``pos`` as lower-cased wire bytes, for comparisons."""
    out = bytearray()
    jumps = 0
    while True:
        length = data[pos]
        if length == 0:
            out.append(0)
            return bytes(out.lower())
        if length & 0xC0 == 0xC0:
            jumps += 1
            if jumps > 64:
                raise BadReply("compression loop")
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        out += data[pos : pos + 1 + length]
        pos += 1 + length


def has_soa(rep: Reply) -> bool:
    return any(r.section == 1 and r.rtype == TYPE_SOA for r in rep.records)


def typify(rep: Reply, now: float) -> Kind:
    """CoreDNS's response.Typify (``now`` in Unix seconds, for RRSIG validity)."""
    if rep.opcode == OPCODE_UPDATE:
        return Kind.UPDATE
    if rep.opcode == wire.OPCODE_NOTIFY:
        return Kind.META
    if rep.qdcount > 0 and rep.qtype in (TYPE_AXFR, TYPE_IXFR):
        return Kind.META
    if rep.opt_do and _has_expired_signature(rep, now):
        return Kind.OTHERERROR
    answers = any(r.section == 0 for r in rep.records)
    if answers and rep.rcode == wire.NOERROR:
        return Kind.NOERROR
    if answers and rep.rcode == wire.NXDOMAIN:
        return Kind.OTHERERROR
    soa = has_soa(rep)
    ns = any(r.section == 1 and r.rtype == TYPE_NS for r in rep.records)
    if soa and rep.rcode == wire.NOERROR:
        return Kind.NODATA
    if rep.rcode == wire.NXDOMAIN:
        return Kind.NXDOMAIN
    if rep.rcode in (wire.SERVFAIL, wire.NOTIMP):
        return Kind.SERVERERROR
    if ns and rep.rcode == wire.NOERROR:
        return Kind.DELEGATION
    if rep.rcode == wire.NOERROR:
        return Kind.NOERROR
    return Kind.OTHERERROR


def cache_kind(rep: Reply, now: float) -> Kind:
    """Typify, but a NOERROR whose answer does not reach the question and that has an SOA is NODATA."""
    kind = typify(rep, now)
    if kind is Kind.NOERROR and has_soa(rep) and is_nodata(rep):
        return Kind.NODATA
    return kind


def cacheable(rep: Reply, kind: Kind) -> bool:
    """CoreDNS's ``key()`` rules: what is never stored, whatever its TTL."""
    if rep.tc or rep.qdcount < 1:
        return False
    if kind in (Kind.OTHERERROR, Kind.META, Kind.UPDATE):
        return False
    if kind is Kind.NXDOMAIN and not has_soa(rep):
        return False
    # An SOA-less NOERROR whose CNAME chain does not reach the qtype is an incomplete answer
    # (RFC 2308 section 5: do not cache).
    return not (kind is Kind.NOERROR and not has_soa(rep) and is_nodata(rep))


def minimal_ttl(rep: Reply, kind: Kind, maximum: int) -> int:
    """dnsutil.MinimalTTLWithMaximum: the smallest TTL of any record, at most ``maximum``."""
    if kind not in (Kind.NOERROR, Kind.NXDOMAIN, Kind.NODATA):
        return 5
    if not rep.records:  # no records, or only the OPT: a short fail-safe TTL
        return 5
    ttl = maximum
    for r in rep.records:
        if r.ttl < ttl:
            ttl = r.ttl
    return ttl


# -- does the answer section answer the question (RFC 1034 3.6.2 CNAME chains) -------------------
def answers_question(rep: Reply) -> bool:
    if rep.rcode != wire.NOERROR or rep.qdcount < 1:
        return False
    answer = rep.section(0)
    if not answer:
        return False
    data = rep.data
    qname = read_name(data, 12)
    qtype, qclass = rep.qtype, rep.qclass
    if qtype == TYPE_ANY:
        return any(_class_ok(r.rclass, qclass) and read_name(data, r.owner) == qname for r in answer)
    if qtype == TYPE_CNAME:
        target, ok = _cname_target(data, answer, qname, qclass)
        return ok and target is not None
    name = qname
    seen: set[bytes] = set()
    while True:
        if name in seen:
            return False  # a CNAME loop
        seen.add(name)
        target, ok = _cname_target(data, answer, name, qclass)
        if not ok:
            return False  # an owner with two different canonical names
        if target is None:
            break
        name = target
    return any(
        r.rtype == qtype and _class_ok(r.rclass, qclass) and read_name(data, r.owner) == name for r in answer
    )


def is_nodata(rep: Reply) -> bool:
    """A non-empty answer section that does not answer the question."""
    if not any(r.section == 0 for r in rep.records):
        return False
    return not answers_question(rep)


def _class_ok(rclass: int, qclass: int) -> bool:
    return qclass == CLASS_ANY or rclass == qclass


def _cname_target(data: bytes, answer: list[Record], owner: bytes, qclass: int) -> tuple[bytes | None, bool]:
    target: bytes | None = None
    for r in answer:
        if r.rtype != TYPE_CNAME or not _class_ok(r.rclass, qclass) or read_name(data, r.owner) != owner:
            continue
        # miekg/dns unpacks a CNAME without rdata as one with no target (found by fuzzing): the
        # bytes at its rdata offset are the next record's, or none at the end of the message.
        t = read_name(data, r.rdata) if r.rdlen else b""
        if target is not None and t != target:
            return None, False
        target = t
    return target, True


# -- DNSSEC: signatures outside their validity period make a reply "other" (when DO) -------------
def _has_expired_signature(rep: Reply, now: float) -> bool:
    utc = int(now)
    for r in rep.records:
        if r.rtype != TYPE_RRSIG or r.rdlen < 16:
            continue
        expiration, inception = struct.unpack_from(">II", rep.data, r.rdata + 8)
        ti = inception + _trunc_div(inception - utc, _YEAR68) * _YEAR68
        te = expiration + _trunc_div(expiration - utc, _YEAR68) * _YEAR68
        if not (ti <= utc <= te):
            return True
    return False


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q
