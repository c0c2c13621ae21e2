"""The cache's metrics, CoreDNS's names and labels, counted in plain integers.

Counters live in one :class:`Stats` per ``(server, zones, view)`` for the whole process, so they
survive reloads like CoreDNS's package-level CounterVecs; the hit path only bumps attributes, and
a collector registered through the plugin API renders them when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pycoredns.plugin import Controller


class Stats:
    __slots__ = (
        "hits_success",
        "hits_denial",
        "misses",
        "prefetch",
        "drops",
        "served_stale",
        "evictions_success",
        "evictions_denial",
        "entries_success",
        "entries_denial",
    )

    def __init__(self) -> None:
        self.hits_success = 0
        self.hits_denial = 0
        self.misses = 0
        self.prefetch = 0
        self.drops = 0
        self.served_stale = 0
        self.evictions_success = 0
        self.evictions_denial = 0
        # None until something was stored: the gauge appears then, as in CoreDNS (each store
        # sets both).
        self.entries_success: int | None = None
        self.entries_denial = 0

    @property
    def requests(self) -> int:
        """Every request the cache saw is a hit or a miss (CoreDNS derives misses the same way):
        added up here, not counted a third time on every query."""
        return self.hits_success + self.hits_denial + self.misses


STATS: dict[tuple[str, str, str], Stats] = {}


def stats_for(server: str, zones: str, view: str) -> Stats:
    key = (server, zones, view)
    got = STATS.get(key)
    if got is None:
        got = STATS[key] = Stats()
    return got


_NAMES = {
    "entries": "The number of elements in the cache.",
    "requests_total": "The count of cache requests.",
    "hits_total": "The count of cache hits.",
    "misses_total": "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    "prefetch_total": "The number of times the cache has prefetched a cached item.",
    "drops_total": "The number responses that are not cached, because the reply is malformed.",
    "served_stale_total": "The number of requests served from stale cache entries.",
    "evictions_total": "The count of cache evictions.",
}


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    plain = ["server", "zones", "view"]
    typed = ["server", "type", "zones", "view"]
    # prometheus_client adds "_total" to counter names itself.
    return {
        "entries": GaugeMetricFamily("coredns_cache_entries", _NAMES["entries"], labels=typed),
        "requests_total": CounterMetricFamily("coredns_cache_requests", _NAMES["requests_total"], labels=plain),
        "hits_total": CounterMetricFamily("coredns_cache_hits", _NAMES["hits_total"], labels=typed),
        "misses_total": CounterMetricFamily("coredns_cache_misses", _NAMES["misses_total"], labels=plain),
        "prefetch_total": CounterMetricFamily("coredns_cache_prefetch", _NAMES["prefetch_total"], labels=plain),
        "drops_total": CounterMetricFamily("coredns_cache_drops", _NAMES["drops_total"], labels=plain),
        "served_stale_total": CounterMetricFamily(
            "coredns_cache_served_stale", _NAMES["served_stale_total"], labels=plain
        ),
        "evictions_total": CounterMetricFamily("coredns_cache_evictions", _NAMES["evictions_total"], labels=typed),
    }


def collect() -> Iterator[Metric]:
    f = _families()
    for (server, zones, view), s in list(STATS.items()):
        entries = s.entries_success
        if entries is not None:
            f["entries"].add_metric([server, "success", zones, view], entries)
            f["entries"].add_metric([server, "denial", zones, view], s.entries_denial)
        f["requests_total"].add_metric([server, zones, view], s.requests)
        if s.hits_success:
            f["hits_total"].add_metric([server, "success", zones, view], s.hits_success)
        if s.hits_denial:
            f["hits_total"].add_metric([server, "denial", zones, view], s.hits_denial)
        if s.misses:
            f["misses_total"].add_metric([server, zones, view], s.misses)
        if s.prefetch:
            f["prefetch_total"].add_metric([server, zones, view], s.prefetch)
        if s.drops:
            f["drops_total"].add_metric([server, zones, view], s.drops)
        if s.served_stale:
            f["served_stale_total"].add_metric([server, zones, view], s.served_stale)
        if s.evictions_success:
            f["evictions_total"].add_metric([server, "success", zones, view], s.evictions_success)
        if s.evictions_denial:
            f["evictions_total"].add_metric([server, "denial", zones, view], s.evictions_denial)
    yield from f.values()


def describe() -> Iterator[Metric]:
    yield from _families().values()


def register(c: Controller) -> None:
    c.register_metrics("cache", collect, describe)
