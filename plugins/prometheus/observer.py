"""The per-reply accounting: CoreDNS's ``vars.Report``, done in plain dict and list updates.

This runs after every reply of a block that has ``prometheus``, the cache's fast hits included,
so it reads only what the request already holds. A fast reply (a cache hit) adds one to a
:class:`Tally`; what the tallies counted is moved into the :class:`Series` when /metrics is scraped.
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
_TALLIES_MAX = 8192  # per observer; then every tally is folded into its series and they start again


class Tally:
    """Fast replies to one question that share every label and bucket: a count and a duration sum,
    folded into the series (:meth:`MetricsObserver.fold`) when /metrics is scraped. The other
    fields are what the replies had in common, checked for each new one, and the series' cell
    they count in (one for every tally of the same labels and buckets: no key kept per tally).

    ``local`` is the listener's own address object, one per UDP socket and per TCP connection
    (``Request.local``): the same object means the same server, protocol and address family, the
    three labels a question's replies could otherwise differ in, checked with one comparison."""

    __slots__ = ("count", "seconds", "plugin", "local", "rcode", "resp_wire", "req_wire", "series", "cell")

    def __init__(self, req: Request, reply: bytes, rcode: int, series: Series, cell: list[int]) -> None:
        self.count = 0
        self.seconds = 0.0
        self.plugin = req.answered_by
        self.local = req.local
        self.rcode = rcode
        self.resp_wire = len(reply)
        self.req_wire = len(req.wire)
        self.series = series
        self.cell = cell


class MetricsObserver:
    """Counts one server block's replies into the process-wide :class:`CoreStats`."""

    def __init__(self, stats: CoreStats, zones: list[str]) -> None:
        self.stats = stats
        self.zones = list(zones)
        self.series = stats.series
        # The last reply's (server, zone, proto) and their series, in attributes of their own
        # (fewer steps than a tuple to unpack on every reply).
        self._last_server = self._last_zone = self._last_proto = ""
        self._last_series = Series()
        # A fast reply (the cache hit) counts into its question's tally (the engine reuses one
        # Question object for a repeated query) when it has what the tally's replies had in
        # common; /metrics folds the tallies into the series (stats.collect).
        self._tallies: dict[object, Tally] = {}
        # Questions with one fast reply counted and no tally: a tally is made at the second. A
        # miss answered fast (a near upstream) has a question mostly never asked again before it
        # is cached, and a tally for it would only be folded and dropped.
        self._seen: set[object] = set()

    def zone_of(self, name: str) -> str:
        """The zone label: the longest of the block's zones holding ``name`` ("." when none does)."""
        return dns.zone_match(self.zones, name) or "."

    def observe(self, req: Request, reply: bytes | None, rcode: int, error: BaseException | None) -> None:
        # Inlined on purpose (no helper calls on the common paths): this runs for every reply.
        took = perf_counter() - req.start
        if took <= _FIRST_BOUND:
            # The question stands for the query's bytes after the ID (its size too), and within
            # one block for its zone (the listeners of a block route a name alike); the listener's
            # address object for server, protocol and family (see Tally): what can still differ
            # between two replies to it is checked.
            tally = self._tallies.get(req.q)
            if (
                tally is not None
                and tally.local is req.local
                and tally.plugin is req.answered_by
                and tally.rcode == rcode
                and reply is not None
                and tally.resp_wire == len(reply)
            ):
                tally.count += 1
                tally.seconds += took
                return
            duration = 0  # the first bucket: the bound was compared already
        else:
            # Above the first bound, so never bucket 0: the bucket also says the reply was slow.
            duration = bisect_left(TIME_BUCKETS, took)
            tally = None
        q = req.q
        # The router already picked this block's longest zone holding the name, except for DS,
        # which it routes to the parent zone.
        zone = req.zone if q.qtype != _DS else self.zone_of(req.name)
        server = req.server
        proto = req.proto
        # Consecutive replies mostly share (server, zone, proto), the very same string objects
        # (the listener's label, the route's zone, a literal): compare identities, skip the lookup.
        if self._last_server is server and self._last_zone is zone and self._last_proto is proto:
            s = self._last_series
        else:
            s = self.series.get((server, zone, proto)) or self.stats.get(server, zone, proto)
            self._last_server, self._last_zone, self._last_proto, self._last_series = server, zone, proto, s
        plugin = req.answered_by
        n = len(req.wire)
        # A reply the server wrote for the chain (an rcode returned) was not written by any
        # plugin: CoreDNS's recorder then saw 0 bytes.
        m = len(reply) if reply is not None and plugin else 0
        family = 2 if ":" in req.remote[0] else 1
        key = (family, q.qtype, q.do, rcode, plugin, SIZE_INDEX[n], SIZE_INDEX[m], duration)
        if not duration and reply is not None:
            if tally is not None or q in self._seen:
                self._new_tally(tally, req, reply, rcode, s, key, took)
                return
            seen = self._seen
            if len(seen) >= _TALLIES_MAX:
                seen.clear()  # bounded as the tallies are
            seen.add(q)
        # Counted at once under its key (a slower reply, or the first fast one to its question):
        # one key holds every label and bucket of the reply, duration included.
        cell = s.counts.get(key)
        if cell is None:
            cell = s.counts[key] = [0]
        cell[0] += 1
        s.req_bytes += n
        s.resp_bytes += m
        s.seconds += took

    def _new_tally(self, old: Tally | None, req: Request, reply: bytes, rcode: int, s: Series,
                   key: tuple[int, int, bool, int, str, int, int, int], took: float) -> None:
        """A fast reply its question's tally does not cover: a tally of its own from now on."""
        tallies = self._tallies
        if len(tallies) >= _TALLIES_MAX:
            # Bounded: questions the engine dropped are dropped here too, their counts kept.
            self.fold()
            tallies.clear()
        else:
            self.fold_one(old)
        tally = tallies[req.q] = Tally(req, reply, rcode, s, s.cell(key))
        tally.count = 1
        tally.seconds = took
        self.stats.add_folder(self)  # from the first tally on (again after close)

    def fold(self) -> None:
        """Move what the tallies counted into their series (before a scrape reads them)."""
        for tally in self._tallies.values():
            self.fold_one(tally)

    @staticmethod
    def fold_one(tally: Tally | None) -> None:
        if tally is None or not tally.count:
            return
        count = tally.count
        s = tally.series
        tally.cell[0] += count
        s.req_bytes += count * tally.req_wire
        # A reply the server wrote for the chain counts 0 bytes (see observe).
        s.resp_bytes += (count * tally.resp_wire) if tally.plugin else 0
        s.seconds += tally.seconds
        tally.count = 0
        tally.seconds = 0.0

    def close(self) -> None:
        """The configuration retires: what is counted stays in the series, nothing more comes."""
        self.fold()
        self._tallies.clear()
        self._seen.clear()
        self.stats.remove_folder(self)


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
