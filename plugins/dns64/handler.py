"""The dns64 handler: an AAAA question that finds no AAAA gets the name's A records, translated.

As CoreDNS's dns64 (RFC 6147, basic synthesis only): an IN AAAA query from an IPv6 client (or any
client with ``allow_ipv4``) goes down the chain; when the reply is not a name error and holds no
AAAA record (or ``translate_all``), the A records of the same name are looked up through the
server itself, as a new query, and the reply is built from that A reply: each A record becomes
an AAAA record under the prefix (RFC 6052), with the TTL lowered to the TTL of the AAAA reply's
SOA record (600 seconds when it has none); other records, the authority and the additional
sections are the A reply's. The header is a plain reply to the query (RD and CD copied, rcode
NOERROR) with the A reply's TC bit.

Everything but the synthesis works on the wire: a query it does not intercept costs one type
check, and a reply that needs no translation one walk of its records.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from typing import cast

import dnslib

from pycoredns.plugin import (
    Handler,
    HandlerError,
    Plugin,
    Reply,
    Request,
    Result,
    Upstream,
    UpstreamError,
    then,
    wire,
)
from pycoredns.plugins.dns64 import metrics

TYPE_A = 1
TYPE_SOA = 6
TYPE_AAAA = 28
TYPE_RRSIG = 46
CLASS_IN = 1
DEFAULT_SOA_TTL = 600  # RFC 6147 5.1.7: the TTL bound when the reply has no SOA
_YEAR68 = 1 << 31
_COUNTS = struct.Struct(">HHHH")
_RR = struct.Struct(">HHIH")
_SIG_TIMES = struct.Struct(">II")


@dataclass(frozen=True)
class Prefix:
    """The IPv6 prefix AAAA records are made under: its 16 octets (host bits zero) and length."""

    network: bytes
    length: int

    def __str__(self) -> str:
        return f"{go_ip(self.network)}/{self.length}"


@dataclass
class Options:
    prefix: Prefix
    translate_all: bool = False
    allow_ipv4: bool = False


def go_ip(raw: bytes) -> str:
    """An address as Go's ``net.IP.String`` writes it (an IPv4-mapped IPv6 address as IPv4)."""
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    v6 = ipaddress.IPv6Address(raw)
    if v6.ipv4_mapped is not None:
        return str(v6.ipv4_mapped)
    return v6.compressed


def to6(prefix: Prefix, v4: bytes) -> bytes:
    """The IPv4 address embedded in the prefix as RFC 6052 section 2.2 lays it out (octet 8 is
    left zero)."""
    out = bytearray(16)
    n = prefix.length // 8
    out[:n] = prefix.network[:n]
    i, j = n, 0
    while i < 8:
        out[i] = v4[j]
        i += 1
        j += 1
    if i == 8:
        i += 1
    while j < 4:
        out[i] = v4[j]
        i += 1
        j += 1
    return bytes(out)


@dataclass
class Shape:
    """What dns64 needs to know of the AAAA reply."""

    name_error: bool  # CoreDNS's response.Typify says NameError
    has_aaaa: bool
    soa_ttl: int  # the TTL of the last SOA record in the authority section, or 600


def shape(data: bytes, now: float) -> Shape:
    """Read a reply's rcode, answer types, SOA TTL, EDNS and signatures in one walk.

    A name error is CoreDNS's: NXDOMAIN with an SOA in the authority section, unless the reply
    has the DO bit and carries an RRSIG outside its validity period (then it is "other error").
    """
    qd, an, ns, ar = _COUNTS.unpack_from(data, 4)
    rcode = data[3] & 0xF
    pos = 12
    for _ in range(qd):
        pos = wire.skip_name(data, pos) + 4
    has_aaaa = soa = expired = do = False
    soa_ttl = DEFAULT_SOA_TTL
    ext = 0
    for i in range(an + ns + ar):
        pos = wire.skip_name(data, pos)
        rtype, cls, ttl, rdlen = _RR.unpack_from(data, pos)
        rdata = pos + 10
        pos = rdata + rdlen
        if i < an:
            if rtype == TYPE_AAAA:
                has_aaaa = True
        elif i < an + ns and rtype == TYPE_SOA:
            soa = True
            soa_ttl = ttl
        if rtype == TYPE_RRSIG and rdlen >= 16:
            expiration, inception = _SIG_TIMES.unpack_from(data, rdata + 8)
            expired = expired or not _valid(inception, expiration, int(now))
        elif rtype == wire.TYPE_OPT and i >= an + ns:
            ext = ttl >> 24
            do = bool(ttl & 0x8000)
    rcode |= ext << 4
    name_error = rcode == wire.NXDOMAIN and soa and not (do and expired)
    return Shape(name_error, has_aaaa, soa_ttl)


def _valid(inception: int, expiration: int, utc: int) -> bool:
    """miekg/dns's RRSIG.ValidityPeriod: serial arithmetic on the 32-bit times."""
    ti = inception + int((inception - utc) / _YEAR68) * _YEAR68
    te = expiration + int((expiration - utc) / _YEAR68) * _YEAR68
    return ti <= utc <= te


class DNS64(Plugin):
    name = "dns64"

    def __init__(self, next: Handler | None, opts: Options, upstream: Upstream) -> None:
        super().__init__(next)
        self.prefix = opts.prefix
        self.translate_all = opts.translate_all
        self.allow_ipv4 = opts.allow_ipv4
        self.upstream = upstream

    def serve(self, req: Request) -> Result:
        q = req.q
        nxt = self.next
        if q.qtype != TYPE_AAAA or q.qclass != CLASS_IN or (not self.allow_ipv4 and req.family == 1):
            return nxt.serve(req) if nxt is not None else self.next_or_failure(req)
        # _answered gives a reply, or a future of one when the A lookup waits: then settles the
        # future it returns with that reply (a result, however many stages it took).
        return cast(Result, self.next_then(req, self._answered, req))

    def _answered(self, result: Reply, req: Request) -> Result:
        if isinstance(result, int):
            return result  # nothing written: nothing to translate (CoreDNS's nonwriter holds no reply)
        reply = bytes(result)
        try:
            got = shape(reply, time.time())
        except (IndexError, struct.error, wire.MalformedMessage):
            return reply  # not readable as a reply: passed on as it is
        if got.name_error or (got.has_aaaa and not self.translate_all):
            return reply
        try:
            lookup = self.upstream.lookup(req, req.name, TYPE_A)
        except UpstreamError as e:
            return _lookup_failed(e, req, got.soa_ttl)
        return then(lookup, self._synthesize, req, got.soa_ttl, on_error=_lookup_failed)

    def _synthesize(self, a_reply: Reply, req: Request, soa_ttl: int) -> bytes:
        if not isinstance(a_reply, (bytes, bytearray)):
            raise HandlerError(wire.SERVFAIL, "dns64: no reply to the A lookup")
        try:
            resp = dnslib.DNSRecord.parse(a_reply)
        except Exception as e:  # dnslib raises several kinds: all mean the A reply cannot be read
            raise HandlerError(wire.SERVFAIL, f"dns64: unreadable A reply: {e}") from None
        out = req.make_reply()
        out.header.tc = resp.header.tc
        for rr in resp.rr:
            if rr.rtype != TYPE_A:
                out.add_answer(rr)  # RFC 6147 5.3.3: every other record unchanged
                continue
            aaaa = dnslib.AAAA(tuple(to6(self.prefix, bytes(rr.rdata.data))))
            out.add_answer(dnslib.RR(rr.rname, TYPE_AAAA, rr.rclass, min(rr.ttl, soa_ttl), aaaa))
        out.auth = list(resp.auth)
        out.ar = list(resp.ar)  # 5.3.2: the additional section passes unchanged
        metrics.count(req.server)
        req.answered_by = self.name
        return req.pack(out)


def _lookup_failed(error: Exception, req: Request, soa_ttl: int) -> bytes:
    """The A lookup could not run (CoreDNS: the A request could not even be issued): SERVFAIL."""
    if isinstance(error, UpstreamError):
        raise HandlerError(wire.SERVFAIL, str(error)) from None
    raise error
