"""The cache handler: a synchronous hit path, the miss path, and serve_stale.

A fresh hit is answered from the entry's stored wire bytes without a parse or a coroutine. A miss
hands the query on (with AD set, as CoreDNS does) and returns an awaitable only when the next
handler did. Prefetches and stale refreshes run in the background (:mod:`.refresh`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pycoredns.plugin import Deferred, Handler, Plugin, Reply, Result, dns, then, wire
from pycoredns.plugins.cache import metrics
from pycoredns.plugins.cache.entry import Entry
from pycoredns.plugins.cache.refresh import Refresher
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.plugins.cache.store import ShardedCache
from pycoredns.plugins.cache.writer import write_common

if TYPE_CHECKING:
    from pycoredns.plugin import Request

# Questions whose last fresh hit's reply is kept (a few hundred KB at most): a node cache's hits
# are mostly a few hundred names asked again and again.
_HOT_MAX = 1024
# The query's second flags octet with AD set, by its value; None when AD is set already (an index
# instead of masking the octet on every miss).
_WITH_AD = tuple(None if b & 0x20 else bytes((b | 0x20,)) for b in range(256))
_join = b"".join  # one bytes made from its parts (a + b + c makes two, through the buffer protocol)


class Cache(Plugin):
    name = "cache"

    def __init__(self, next: Handler | None, settings: CacheSettings, *, view: str = "") -> None:
        super().__init__(next)
        self.settings = settings
        self.view = view
        self.pcache = ShardedCache(settings.success_capacity)
        self.ncache = ShardedCache(settings.denial_capacity)
        self.clock = time.monotonic  # entry ages
        self.wallclock = time.time  # RRSIG validity
        self._all_zones = "." in settings.zones
        self._zone_wires = frozenset(dns.zone_to_wire(z) for z in settings.zones)
        self._stats: dict[str, metrics.Stats] = {}
        self._stale_secs = int(settings.stale_up_to)  # CoreDNS compares with whole seconds
        self._prefetch = settings.prefetch > 0
        self._keepttl = settings.keepttl
        # prefer_positive changes the lookup order; everything else may take the plain hit path.
        self._plain_lookup = not (settings.prefer_positive and settings.stale_up_to > 0)
        self._pmaps = self.pcache.maps
        self._nmaps = self.ncache.maps
        self.refresher = Refresher(self)
        self._on_answer = self._answered  # bound once: a miss passes it on without making one
        # Fresh hits' replies without their IDs, by question: (entry, the age in seconds they stop
        # being right at, bytes after the ID, listener, its counters).
        self._hot: dict[wire.Question, tuple[Entry, int, bytes, str, metrics.Stats]] = {}

    # -- the query path -------------------------------------------------------------------------
    def serve(self, req: Request) -> Result:
        q = req.q
        w = req.wire
        if not self._all_zones and not self._in_zones(w, q):
            return self.next_or_failure(req)
        # The question's key with its DO and CD bits, so DNSSEC and checking-disabled queries get
        # their own entries: made with the question (once per distinct query), its hash kept.
        key = q.dkey
        # The common hit, decided with two dict reads: no denial entry, a fresh success entry.
        shard = hash(key) & 0xFF
        if self._plain_lookup and self._nmaps[shard].get(key) is None:
            entry = self._pmaps[shard].get(key)
            if entry is not None:
                now = self.clock()  # read once an entry is found: a miss needs no clock here
                # The reply after its ID, as last made for this question from this entry, while
                # the entry's age is below the whole second its TTL changes at (the question
                # stands for the query's bytes after the ID), for the same listener's counters.
                hot = self._hot.get(q)
                if hot is not None and hot[0] is entry and now - entry.stored < hot[1] and hot[3] is req.server:
                    hot[4].hits_success += 1
                    req.answered_by = "cache"
                    return w[:2] + hot[2]
                stats = self._stats.get(req.server) or self.stats_for(req.server)
                ttl = entry.orig_ttl - int(now - entry.stored)
                if ttl > 0:
                    stats.hits_success += 1
                    if self._prefetch and self._should_prefetch(entry, now, ttl):
                        self.refresher.prefetch(req, key, entry, stats, now, stale=False)
                    req.answered_by = "cache"
                    return self._render_hot(req, entry, ttl, stats)
                entry = self._get(key, now, stats)  # expired: what serve_stale may still use
            else:  # in neither cache: nothing stale to serve either
                stats = self._stats.get(req.server) or self.stats_for(req.server)
        else:
            stats = self._stats.get(req.server) or self.stats_for(req.server)
            now = self.clock()
            entry = self._get(key, now, stats)
        if entry is not None:
            ttl = entry.orig_ttl - int(now - entry.stored)
            if ttl <= 0:
                return self._serve_stale(req, key, entry, stats, now)
            if self._prefetch and self._should_prefetch(entry, now, ttl):
                self.refresher.prefetch(req, key, entry, stats, now, stale=False)
            req.answered_by = "cache"
            return entry.render(req, entry.orig_ttl if self.settings.keepttl else ttl)
        # A miss, handled here rather than in a method of its own: every miss comes through.
        stats.misses += 1
        with_ad = _WITH_AD[w[3]]
        if with_ad is not None:
            # The query goes on with AD set, as CoreDNS's does. The request itself carries those
            # bytes until the rest of the chain has answered, then its own again (both
            # continuations put them back): no copy of the request per miss. Assigned, not through
            # Request.swap_wire: the same, without a call (req.msg follows the bytes).
            req.wire = _join((w[:3], with_ad, w[4:]))
        nxt = self.next
        if nxt is None or req.span is not None:
            return self.next_then(req, self._on_answer, w, req, key, stats, on_error=_failed)
        # next_then(), inlined for the untraced query.
        try:
            result = nxt.serve(req)
        except Exception as e:
            return _failed(e, w, req, key, stats)
        if isinstance(result, Deferred):
            return result.step(self._on_answer, _failed, (w, req, key, stats))
        return then(result, self._on_answer, w, req, key, stats, on_error=_failed)

    def _render_hot(self, req: Request, entry: Entry, ttl: int, stats: metrics.Stats) -> bytes:
        """A fresh hit's reply, kept for the question's next hits unless prefetch counts each."""
        if self._keepttl:
            reply = entry.render(req, entry.orig_ttl)
            until = entry.orig_ttl  # fresh until this age, the TTL written the same throughout
        else:
            reply = entry.render(req, ttl)
            until = entry.orig_ttl - ttl + 1  # the age (whole seconds) at which the TTL drops
        if not self._prefetch:
            hot = self._hot
            if len(hot) >= _HOT_MAX:
                hot.clear()  # bounded; the questions asked again come back at their next hit
            hot[req.q] = (entry, until, reply[2:], req.server, stats)
        return reply

    def stats_for(self, server: str) -> metrics.Stats:
        got = self._stats[server] = metrics.stats_for(server, self.settings.zones_label, self.view)
        return got

    def _get(self, key: bytes, now: float, stats: metrics.Stats) -> Entry | None:
        """CoreDNS's getIfNotStale: denial cache first, then success; counts hits."""
        stale = self._stale_secs if self.settings.stale_up_to > 0 else None
        if self.settings.prefer_positive and stale is not None:
            found = self.pcache.get(key)
            positive = found.answering_item() if found is not None else None
            if positive is not None and _usable(positive, now, stale):
                stats.hits_success += 1
                return positive
        if self.ncache.count:
            entry = self.ncache.get(key)
            if entry is not None and _usable(entry, now, stale):
                # SERVFAIL is transient: it must not shadow a usable positive answer.
                if entry.flags & 0xF == wire.SERVFAIL:
                    p = self.pcache.get(key)
                    if p is not None and _usable(p, now, stale):
                        stats.hits_success += 1
                        return p
                stats.hits_denial += 1
                return entry
        entry = self.pcache.get(key)
        if entry is not None and _usable(entry, now, stale):
            stats.hits_success += 1
            return entry
        return None

    def _should_prefetch(self, entry: Entry, now: float, ttl: int) -> bool:
        s = self.settings
        entry.update_hits(s.prefetch_duration, now)
        threshold = -(-s.prefetch_percentage * entry.orig_ttl // 100)  # ceil
        return entry.hits >= s.prefetch and ttl <= threshold

    # -- misses (see the end of serve) ------------------------------------------------------------
    # The step a miss continues with: ``(reply, the client's query bytes, req, key, stats)``. The
    # writer's own function, so the step is the store itself (a frame less per miss); it puts the
    # client's bytes back on the request (see serve) and passes an rcode on.
    _answered = write_common

    # -- stale entries (serve_stale) ---------------------------------------------------------------
    def _serve_stale(self, req: Request, key: bytes, entry: Entry, stats: metrics.Stats, now: float) -> Result:
        s = self.settings
        if s.verify_stale:
            if s.stale_recheck <= 0 or entry.begin_refresh(now, s.stale_recheck):
                return self.refresher.verify(req, key, entry, stats, now)
        else:
            self.refresher.prefetch(req, key, entry, stats, now, stale=True)
        return self.stale_reply(req, entry, stats)

    def stale_reply(self, req: Request, entry: Entry, stats: metrics.Stats) -> bytes:
        stats.served_stale += 1
        req.answered_by = "cache"
        s = self.settings
        if s.stale_ttl > 0:
            return entry.render(req, s.stale_ttl)
        return entry.render(req, entry.orig_ttl if s.keepttl else 0)

    def fresh_reply(self, req: Request, entry: Entry) -> bytes:
        """A reply built from a just-stored entry (verify with a timeout)."""
        req.answered_by = "cache"
        ttl = entry.orig_ttl if self.settings.keepttl else entry.ttl(self.clock())
        return entry.render(req, ttl)

    def exists(self, key: bytes) -> Entry | None:
        return self.ncache.get(key) or self.pcache.get(key)

    # -- zones and lifecycle ------------------------------------------------------------------------
    def _in_zones(self, w: bytes, q: wire.Question) -> bool:
        zones = self._zone_wires
        end = q.name_end
        return any(w[off:end].lower() in zones for off in q.labels)

    async def close(self) -> None:
        await self.refresher.close()


def _failed(error: Exception, query: bytes, req: Request, key: bytes, stats: metrics.Stats) -> Reply:
    req.wire = query  # the client's own query again (see Cache.serve)
    raise error


def _usable(entry: Entry, now: float, stale: int | None) -> bool:
    ttl = entry.orig_ttl - int(now - entry.stored)
    return ttl > 0 or (stale is not None and -ttl < stale)

