"""What the cache does with a reply from the next plugin (CoreDNS's cache ResponseWriter).

Classify it, compute the one TTL every record gets, rewrite the TTLs, store it in the success or
the denial cache when CoreDNS would, and hand back the bytes the client is sent.

The writer sees the cache only as a :class:`Stores` (settings, clocks, the two stores), so the
handler depends on the writer and never the other way round.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pycoredns.plugin import dns, wire
from pycoredns.plugins.cache import response
from pycoredns.plugins.cache.entry import TTLS, Entry, Shape, shape_for, shared_ttl
from pycoredns.plugins.cache.metrics import Stats
from pycoredns.plugins.cache.response import Kind, Reply
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.plugins.cache.store import ShardedCache

if TYPE_CHECKING:
    from pycoredns.plugin import Request


class Stores(Protocol):
    """What the writer needs of the cache."""

    settings: CacheSettings
    pcache: ShardedCache  # success
    ncache: ShardedCache  # denial
    clock: Callable[[], float]  # entry ages (monotonic)
    wallclock: Callable[[], float]  # RRSIG validity (epoch)

_SUCCESS = (Kind.NOERROR, Kind.DELEGATION)
_DENIAL = (Kind.NXDOMAIN, Kind.NODATA, Kind.SERVERERROR)


class Context:
    """The query a reply answers, as the writer needs it."""

    __slots__ = ("key", "req", "do", "ad", "stats", "prefetch")

    def __init__(self, key: bytes, req: Request, do: bool, ad: bool, stats: Stats, prefetch: bool = False) -> None:
        self.key = key  # lower-cased question wire + DO/CD byte
        self.req = req
        self.do = do
        self.ad = ad  # the client's AD bit: AD stays in the reply only if DO or AD
        self.stats = stats
        self.prefetch = prefetch  # a background refresh: store, write nothing

    @property
    def name(self) -> str:
        """The lower-cased qname, for `disable ... ZONES` (made only when asked)."""
        return self.req.name


def write(cache: Stores, ctx: Context, reply: bytes) -> None:
    """Store a prefetch's ``reply`` when CoreDNS would (nothing is sent: its client had its reply
    already, and its request carries that client's own bytes again)."""
    write_common(cache, reply, ctx.req.wire, ctx.req, ctx.key, ctx.stats, ctx.prefetch)


def write_other(cache: Stores, ctx: Context, reply: bytes) -> bytes:
    """:func:`write_common` for a reply it leaves to the general walk: the bytes for the client."""
    try:
        rep = response.parse(reply)
    except response.BadReply:
        return reply
    return write_parsed(cache, ctx, rep)[0]


# Question types the common-shape path leaves to the general one: their classification or their
# answer check is not the plain "records of the asked type under the asked name" (CNAME chains,
# ANY, signatures, zone transfers).
_NOT_COMMON = frozenset(
    (response.TYPE_CNAME, response.TYPE_RRSIG, response.TYPE_AXFR, response.TYPE_IXFR, response.TYPE_ANY)
)
_OPT_HEAD = b"\x00\x00\x29"  # root owner, type OPT
# The flags (2 octets) and the four counts; the question's type and class.
_HEAD = struct.Struct(">BBHHHH").unpack_from
_TYPE_CLASS = struct.Struct(">HH").unpack_from
# A TTL field (a method call with no arguments to parse, unlike int.to_bytes).
_PACK_TTL = struct.Struct(">I").pack
# A record whose owner is a 2-octet pointer: pointer, type, class, TTL, rdata length.
_RECORD = struct.Struct(">HHHIH").unpack_from
# What follows a record's owner name: type, class, TTL, rdata length.
_RECORD_AFTER_NAME = struct.Struct(">HHIH").unpack_from
# The TTL offsets of a reply with one answer record (see write_common).
_ONE_ANSWER = (10,)
# The shapes of the other common replies, by (counts, TTL offsets, RA/AD/rcode).
_shapes: dict[object, Shape] = {}
# The shape of a one-answer reply, by its second flags octet (RA, AD and rcode tell them apart;
# its counts are (1, 1, 0, 0) with or without an OPT, which is not kept): a tuple index, not a key
# built of masked bits and looked up.
_ONE_ANSWER_SHAPES = tuple(
    shape_for(_ONE_ANSWER, (1, 1, 0, 0), f2 & 0xF, bool(f2 & 0x80), bool(f2 & 0x20), True) for f2 in range(256)
)
_new = object.__new__
_join = b"".join  # one bytes made from its parts (a + b + c makes two, through the buffer protocol)
# By where the question name ends: readers of the header from its flags on, the question's type
# and class, and a record after them whose owner is a pointer, in one unpack (the name skipped).
# One call instead of two for the one answer most replies hold: about 500 instructions less.
_READERS: list[Callable[[bytes, int], tuple[int, ...]] | None] = [None] * (12 + 256)


def _reader(name_end: int) -> Callable[[bytes, int], tuple[int, ...]]:
    """The reader for a question name ending at ``name_end`` (made once per length)."""
    got = _READERS[name_end] = struct.Struct(f">BBHHHH{name_end - 12}xHHHHHIH").unpack_from
    return got


class NotCommon(Exception):
    """A reply :func:`write_common` leaves to the general walk (raised and caught inside it)."""


def write_common(
    cache: Stores, data: bytes | int, query: bytes, req: Request, key: bytes, stats: Stats, prefetch: bool = False
) -> bytes | int:
    """Write the next plugin's answer to ``req``: the step a miss continues with (the cache's
    ``_answered`` is this function), and a prefetch's store.

    ``query`` is the client's own bytes, put back on ``req`` (a miss is sent on with AD set); its
    AD bit says whether an upstream AD stays in the reply. An rcode is passed on as it came.

    The two reply shapes nearly every miss gets are written in one walk: a NOERROR whose answers
    are all of the asked type and class under the question's name (compressed to it), or an
    NXDOMAIN/NODATA with one SOA in authority; either with nothing or one final OPT in
    additional. Any other reply takes :func:`write_other`, with the same outcome. The
    :class:`Context`'s fields come as arguments (the query's DO bit from ``req``): a miss makes
    no Context unless its reply takes the general path. One function, not a step calling the
    writer: a frame less on every miss."""
    req.wire = query
    if type(data) is not bytes:
        return data
    # The question the key was made from (key: its lower-cased name, type, class, flag byte):
    # compared as read already, rather than as slices of the key.
    q = req.q
    name_end = q.name_end
    pos = name_end + 4  # after the question
    s = cache.settings
    offsets: tuple[int, ...]  # of the TTL fields, from the end of the question name
    try:
        read = _READERS[name_end] or _reader(name_end)
        try:
            # Read as if the reply held one answer record (most do); its fields count only when
            # the counts say so.
            f1, f2, qd, an, ns, ar, qtype, qclass, owner, rtype, rclass, uniform, rdlen = read(data, 2)
            if an != 1 or ns:
                owner = -1
        except struct.error:  # too short for a record after the question
            f1, f2, qd, an, ns, ar = _HEAD(data, 2)
            qtype, qclass = _TYPE_CLASS(data, name_end)
            owner = -1
        if (
            f1 & 0xFA != 0x80  # a response, opcode QUERY, not truncated
            or qd != 1
            or qtype != q.qtype
            or qclass != q.qclass
            or qtype in _NOT_COMMON
            # The name as read, compared with the query's lower-cased one; lower-cased first only
            # when it is spelt otherwise (a query in capitals): a slice costs less than lower().
            or (data[12:name_end] != q.lname and data[12:name_end].lower() != q.lname)
        ):
            raise NotCommon
        rcode = f2 & 0xF
        if rcode == 0 and owner >= 0:  # one answer record, read above
            success = True
            if owner != 0xC00C or rtype != qtype or rclass != qclass:
                raise NotCommon
            # Clamped to [success_min_ttl, success_ttl] (the maximum wins): one comparison for
            # the usual record, whose TTL is above the maximum.
            ttl = s.success_ttl
            if uniform < ttl:
                ttl = uniform if uniform >= s.success_min_ttl else _clamp(uniform, s.success_min_ttl, ttl)
            if ttl != uniform:
                # Its TTL field is always 10 octets after the question name (name, type, class;
                # then the record's pointer, type, class): rewritten here, with one copy.
                at = pos + 6
                data = _join((data[:at], _PACK_TTL(ttl), data[at + 4 :]))
                uniform = ttl
            offsets = _ONE_ANSWER
            shape: Shape | None = _ONE_ANSWER_SHAPES[f2]
            pos += 12 + rdlen
        elif rcode == 0 and an and not ns:
            success = True
            ttl = s.success_ttl
            uniform = -1  # the TTL every record has, when they all have the same (-2: they differ)
            found = []
            left = an  # counted down: a range() to iterate costs more than this walk's usual record
            while left:
                left -= 1
                owner, rtype, rclass, got, rdlen = _RECORD(data, pos)
                if owner != 0xC00C or rtype != qtype or rclass != qclass:
                    raise NotCommon
                if got != uniform:
                    uniform = got if uniform == -1 else -2
                if got < ttl:
                    ttl = got
                found.append(pos + 6 - name_end)
                pos += 12 + rdlen
            if ttl < s.success_min_ttl:
                ttl = s.success_min_ttl
            if ttl > s.success_ttl:
                ttl = s.success_ttl
            offsets = tuple(found)
            shape = None
        elif ns == 1 and not an and (rcode == 0 or rcode == 3):
            success = False
            pos = wire.skip_name(data, pos)
            rtype, _rclass, ttl, rdlen = _RECORD_AFTER_NAME(data, pos)
            if rtype != response.TYPE_SOA:
                raise NotCommon
            uniform = ttl  # the TTL every record has (-2 when they differ)
            offsets = (pos + 4 - name_end,)
            shape = None
            pos += 10 + rdlen
            ttl = _clamp(ttl if ttl < s.denial_ttl else s.denial_ttl, s.denial_min_ttl, s.denial_ttl)
        else:
            raise NotCommon
        opt_start = pos
        if ar:
            if ar != 1 or data[pos : pos + 3] != _OPT_HEAD:
                raise NotCommon
            pos += 11 + _RECORD_AFTER_NAME(data, pos + 1)[3]
        if pos != len(data):
            raise NotCommon
    except (NotCommon, struct.error, wire.MalformedMessage, IndexError):
        return write_other(cache, Context(key, req, q.do, query[3] & 0x20 != 0, stats, prefetch), data)
    if ttl != uniform:  # one TTL for every record
        packed = _PACK_TTL(ttl)
        if len(offsets) == 1:  # the usual one record: one copy, not two
            at = name_end + offsets[0]
            data = _join((data[:at], packed, data[at + 4 :]))
        else:
            buf = bytearray(data)
            for off in offsets:
                buf[name_end + off : name_end + off + 4] = packed
            data = bytes(buf)
    if ttl > 0:
        disabled = s.success_disabled if success else s.denial_disabled
        if not disabled or not dns.zone_match(disabled, req.name):
            if shape is None:  # by counts, TTL offsets, RA, AD and rcode
                shape_key = (an, ns, ar, offsets, f2 & 0xAF)
                shape = _shapes.get(shape_key)
                if shape is None:
                    shape = shape_for(offsets, (1, an, ns, ar - 1 if ar else 0), rcode, bool(f2 & 0x80),
                                      bool(f2 & 0x20), success)
                    if len(_shapes) < 4096:
                        _shapes[shape_key] = shape
            # Entry(data[name_end:opt_start], shape, ttl, cache.clock()), its fields set here:
            # a class called with a Python __init__ costs a frame the interpreter does not inline.
            entry = _new(Entry)
            entry.tail = data[name_end:opt_start]
            entry.tail_ttl = entry.orig_ttl = TTLS.get(ttl) or shared_ttl(ttl)
            entry.stored = cache.clock()
            entry.shape = shape
            entry.state = None
            if s.prefer_positive or prefetch:
                _keep(cache, Context(key, req, q.do, query[3] & 0x20 != 0, stats, prefetch), entry, success)
            else:  # _keep's plain case, inlined: a store and the counts
                if success:
                    if cache.pcache.add(key, entry):
                        stats.evictions_success += 1
                elif cache.ncache.add(key, entry):
                    stats.evictions_denial += 1
                stats.entries_success = cache.pcache.count
                stats.entries_denial = cache.ncache.count
    # AD stays only when the client asked for DNSSEC (DO) or set AD itself.
    if f2 & 0x20 and not q.do and not query[3] & 0x20:
        return data[:3] + bytes((f2 & ~0x20 & 0xFF,)) + data[4:]
    return data


def write_parsed(cache: Stores, ctx: Context, rep: Reply) -> tuple[bytes, Entry | None]:
    s = cache.settings
    kind = response.cache_kind(rep, cache.wallclock())
    storable = response.cacheable(rep, kind)
    if kind in (Kind.NXDOMAIN, Kind.NODATA):
        duration: float = _clamp(response.minimal_ttl(rep, kind, s.denial_ttl), s.denial_min_ttl, s.denial_ttl)
    elif kind is Kind.SERVERERROR:
        duration = s.servfail_ttl
    else:
        duration = _clamp(response.minimal_ttl(rep, kind, s.success_ttl), s.success_min_ttl, s.success_ttl)
    # One TTL for every record, so a client never sees 1799 next to 8 for the same answer.
    ttl = int(duration)
    out = bytearray(rep.data)
    packed = ttl.to_bytes(4, "big")
    for r in rep.records:
        out[r.ttl_at : r.ttl_at + 4] = packed
    rep.data = bytes(out)
    entry = None
    if storable and duration > 0:
        if _matches(rep, ctx.key):
            entry = _store(cache, ctx, rep, kind, ttl)
        else:
            ctx.stats.drops += 1
    if not ctx.do and not ctx.ad and out[3] & 0x20:
        out[3] &= ~0x20 & 0xFF
        return bytes(out), entry
    return rep.data, entry


def usable_answer(rep: Reply, now: float) -> bool:
    """A complete positive reply that answers its question (serve_stale_policy prefer_positive)."""
    if rep.tc or response.cache_kind(rep, now) is not Kind.NOERROR:
        return False
    return response.answers_question(rep)


def verify_write(cache: Stores, ctx: Context, reply: bytes) -> tuple[bool, bytes | None, Entry | None]:
    """The serve_stale verify writer: only a NOERROR/NXDOMAIN reply refreshes a stale entry.

    Returns (refreshed, bytes for the client, entry stored).
    """
    try:
        rep = response.parse(reply)
    except response.BadReply:
        return False, None, None
    if rep.tc or not _matches_name_type(rep, ctx.key):
        return False, None, None
    if cache.settings.prefer_positive:
        if usable_answer(rep, cache.wallclock()):
            out, entry = write_parsed(cache, ctx, rep)
            return True, out, entry
        write_parsed(cache, ctx, rep)  # stored (a denial next to the kept positive), not sent
        return False, None, None
    kind = response.typify(rep, cache.wallclock())
    if kind in (Kind.OTHERERROR, Kind.META, Kind.UPDATE):
        return False, None, None
    if rep.rcode not in (wire.NOERROR, wire.NXDOMAIN):
        return False, None, None
    out, entry = write_parsed(cache, ctx, rep)
    return True, out, entry


def _clamp(ttl: int, minimum: int, maximum: int) -> int:
    return min(max(ttl, minimum), maximum)


def _matches_name_type(rep: Reply, key: bytes) -> bool:
    """CoreDNS's request.Match: one question, QR set, same name (any case) and type."""
    data = rep.data
    if rep.qdcount != 1 or not data[2] & 0x80:
        return False
    name_len = len(key) - 5
    end = rep.qname_end
    return end - 12 == name_len and data[12:end].lower() == key[:name_len] and data[end : end + 2] == key[-5:-3]


def _matches(rep: Reply, key: bytes) -> bool:
    # The class too: our key holds it, so a reply for another class could never be found again.
    return _matches_name_type(rep, key) and rep.data[rep.qname_end + 2 : rep.qname_end + 4] == key[-3:-1]


def _store(cache: Stores, ctx: Context, rep: Reply, kind: Kind, ttl: int) -> Entry | None:
    s = cache.settings
    if kind in _SUCCESS:
        if s.success_disabled and dns.zone_match(s.success_disabled, ctx.name):
            return None
    elif kind in _DENIAL:
        if s.denial_disabled and dns.zone_match(s.denial_disabled, ctx.name):
            return None
    else:
        return None
    entry = _entry(cache, rep, ttl)
    if entry is None:
        return None
    _keep(cache, ctx, entry, kind in _SUCCESS)
    return entry


def _keep(cache: Stores, ctx: Context, entry: Entry, success: bool) -> None:
    """Put ``entry`` in the success or the denial cache, counting evictions and entries."""
    s = cache.settings
    stats = ctx.stats
    if success:
        if s.prefer_positive and not entry.answering:
            previous = cache.pcache.get(ctx.key)
            if previous is not None:
                entry.last_known_good = previous.answering_item()
        if cache.pcache.add(ctx.key, entry):
            stats.evictions_success += 1
        # A fresh positive refresh replaces a denial for the same key.
        if (not s.prefer_positive and ctx.prefetch) or (s.prefer_positive and entry.answering):
            cache.ncache.remove(ctx.key)
    else:
        if cache.ncache.add(ctx.key, entry):
            stats.evictions_denial += 1
    stats.entries_success = cache.pcache.count
    stats.entries_denial = cache.ncache.count


def _entry(cache: Stores, rep: Reply, ttl: int) -> Entry | None:
    data = rep.data
    arcount = int.from_bytes(data[10:12], "big")
    if rep.opt_start >= 0:
        if rep.opt_end != len(data):
            return None  # OPT in the middle: cutting it out would break compression pointers
        data = data[: rep.opt_start]
        arcount -= 1
    start = rep.qname_end
    offsets = tuple(r.ttl_at - start for r in rep.records)
    counts = (rep.qdcount, int.from_bytes(data[6:8], "big"), int.from_bytes(data[8:10], "big"), arcount)
    return Entry.of(
        data[start:],
        offsets,
        ttl,
        cache.clock(),
        rcode=rep.rcode,
        ra=rep.ra,
        ad=rep.ad,
        counts=counts,
        answering=response.answers_question(rep),
    )
