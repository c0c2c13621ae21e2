"""The per-reply accounting: CoreDNS's ``vars.Report``, done in plain dict and list updates.

This runs after every reply of a block that has ``prometheus``, the cache's fast hits included,
so it reads only what the request already holds and touches one :class:`Series`.
"""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter

from pycoredns.plugin import SIZE_INDEX, TIME_BUCKETS, Request, dns
from pycoredns.plugins.prometheus.metrics import STATS, CoreStats, Series

_DS = 43
# A cache hit takes far less than the first duration bound: one comparison instead of a bisect.
_FIRST_BOUND = TIME_BUCKETS[0]
DROPPED = "dropped"  # CoreDNS's zone label for queries no chain handled
_MEMO_SIZE = 8192


class MetricsObserver:
    """Counts one server block's replies into the process-wide :class:`CoreStats`."""

    def __init__(self, stats: CoreStats, zones: list[str]) -> None:
        self.stats = stats
        self.zones = list(zones)
        self.series = stats.series
        self._last: tuple[str, str, str, Series] = ("", "", "", Series())
        # Per question read (the engine reuses one Question object for a repeated query): the
        # cell its last reply was counted in, with what made that cell the right one.
        self._memo: dict[object, tuple[Series, str, int, int, int, list[int]]] = {}

    def zone_of(self, name: str) -> str:
        """The zone label: the longest of the block's zones holding ``name`` ("." when none does)."""
        return dns.zone_match(self.zones, name) or "."

    def observe(self, req: Request, reply: bytes | None, rcode: int, error: BaseException | None) -> None:
        # Inlined on purpose (no helper calls): this runs for every cache hit.
        q = req.q
        # The router already picked this block's longest zone holding the name, except for DS,
        # which it routes to the parent zone.
        zone = req.zone if q.qtype != _DS else self.zone_of(req.name)
        server = req.server
        proto = req.proto
        last = self._last
        # Consecutive replies mostly share (server, zone, proto), the very same string objects
        # (the listener's label, the route's zone, a literal): compare identities, skip the lookup.
        if last[0] is server and last[1] is zone and last[2] is proto:
            s = last[3]
        else:
            s = self.series.get((server, zone, proto)) or self.stats.get(server, zone, proto)
            self._last = (server, zone, proto, s)
        plugin = req.answered_by
        n = len(req.wire)
        # A reply the server wrote for the chain (an rcode returned) was not written by any
        # plugin: CoreDNS's recorder then saw 0 bytes.
        m = len(reply) if reply is not None and plugin else 0
        took = perf_counter() - req.start
        family = 2 if ":" in req.remote[0] else 1
        if took > _FIRST_BOUND:
            # A slower reply (a miss) never takes a memo: counted under its key (one key holds
            # every label and bucket of the reply, duration included).
            key = (family, q.qtype, q.do, rcode, plugin, SIZE_INDEX[n], SIZE_INDEX[m],
                   bisect_left(TIME_BUCKETS, took))
            cell = s.counts.get(key)
            if cell is None:
                cell = s.counts[key] = [0]
            cell[0] += 1
        else:
            # A repeated question answered alike (same series, plugin, rcode, size, family, and
            # in the first duration bucket, as every cache hit is) counts straight into the cell
            # it used last.
            memo = self._memo.get(q)
            if (
                memo is not None
                and memo[0] is s
                and memo[1] is plugin
                and memo[2] == rcode
                and memo[3] == m
                and memo[4] == family
            ):
                memo[5][0] += 1
            else:
                key = (family, q.qtype, q.do, rcode, plugin, SIZE_INDEX[n], SIZE_INDEX[m], 0)
                cell = s.counts.get(key)
                if cell is None:
                    cell = s.counts[key] = [0]
                cell[0] += 1
                memos = self._memo
                if len(memos) >= _MEMO_SIZE:
                    memos.clear()  # bounded; questions the engine dropped are dropped here too
                memos[q] = (s, plugin, rcode, m, family, cell)
        s.req_bytes += n
        s.resp_bytes += m
        s.seconds += took


class DroppedObserver:
    """Counts what the server answered without a chain (bad class, no zone, FORMERR)."""

    def __init__(self, stats: CoreStats) -> None:
        self.stats = stats

    def observe_dropped(self, req: Request | None, server: str, proto: str, reply: bytes | None) -> None:
        s = self.stats.get(server, DROPPED, proto)
        rcode = reply[3] & 0xF if reply is not None and len(reply) > 3 else 0
        size = len(reply) if reply is not None else 0
        if req is not None:
            s.count(2 if ":" in req.remote[0] else 1, req.q.qtype, req.q.do, rcode, "", len(req.wire), size,
                    perf_counter() - req.start)
        else:
            # No question could be read: type "other"; the family is not known here.
            s.count(1, 0, False, rcode, "", 0, size, 0.0)


# One for the process: every configuration's dropped queries count into the same families.
DROPPED_OBSERVER = DroppedObserver(STATS)
