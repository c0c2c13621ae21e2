"""What the cache does with a reply from the next plugin (CoreDNS's cache ResponseWriter).

Classify it, compute the one TTL every record gets, rewrite the TTLs, store it in the success or
the denial cache when CoreDNS would, and hand back the bytes the client is sent.

The writer sees the cache only as a :class:`Stores` (settings, clocks, the two stores), so the
handler depends on the writer and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pycoredns.plugin import dns, wire
from pycoredns.plugins.cache import response
from pycoredns.plugins.cache.entry import Entry, intern_offsets
from pycoredns.plugins.cache.metrics import Stats
from pycoredns.plugins.cache.response import Kind, Reply
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.plugins.cache.store import ShardedCache


class Stores(Protocol):
    """What the writer needs of the cache."""

    settings: CacheSettings
    pcache: ShardedCache  # success
    ncache: ShardedCache  # denial
    clock: Callable[[], float]  # entry ages (monotonic)
    wallclock: Callable[[], float]  # RRSIG validity (epoch)

_SUCCESS = (Kind.NOERROR, Kind.DELEGATION)
_DENIAL = (Kind.NXDOMAIN, Kind.NODATA, Kind.SERVERERROR)


@dataclass(slots=True)
class Context:
    """The query a reply answers, as the writer needs it."""

    key: bytes  # lower-cased question wire + DO/CD byte
    name: str  # lower-cased qname, for `disable ... ZONES`
    do: bool
    ad: bool  # the client's AD bit: AD stays in the reply only if DO or AD
    stats: Stats
    prefetch: bool = False  # a background refresh: store, write nothing


def write(cache: Stores, ctx: Context, reply: bytes) -> tuple[bytes, Entry | None]:
    """Process ``reply``: (the bytes for the client, the entry stored or None)."""
    try:
        rep = response.parse(reply)
    except response.BadReply:
        return reply, None
    return write_parsed(cache, ctx, rep)


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
    stats = ctx.stats
    if kind in _SUCCESS:
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
    stats.entries_success = len(cache.pcache)
    stats.entries_denial = len(cache.ncache)
    stats.entries_set = True
    return entry


def _entry(cache: Stores, rep: Reply, ttl: int) -> Entry | None:
    data = rep.data
    arcount = int.from_bytes(data[10:12], "big")
    if rep.opt_start >= 0:
        if rep.opt_end != len(data):
            return None  # OPT in the middle: cutting it out would break compression pointers
        data = data[: rep.opt_start]
        arcount -= 1
    start = rep.qname_end
    offsets = intern_offsets(tuple(r.ttl_at - start for r in rep.records))
    counts = (rep.qdcount, int.from_bytes(data[6:8], "big"), int.from_bytes(data[8:10], "big"), arcount)
    return Entry(
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
