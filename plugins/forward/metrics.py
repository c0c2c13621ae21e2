"""forward's metrics: CoreDNS's coredns_proxy_* families (proxy_name="forward") and its own counters.

The query path only bumps plain integers in dicts keyed by label tuples; the collector turns them
into metric families when /metrics is scraped, so no prometheus_client call runs per query.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from pycoredns.plugin import TIME_BUCKETS, Buckets, Controller, add_histogram, dns

PROXY_NAME = "forward"
_RCODE_NAMES = dns.RCODE_NAMES


class Counters:
    """Process-wide plain-integer counters behind every forward metric."""

    def __init__(self) -> None:
        self.request_duration: dict[tuple[str, str], Buckets] = {}  # (to, rcode), CoreDNS's TimeBuckets
        self.healthcheck_failures: dict[str, int] = {}  # to
        # (to, proto): a count cell that an upstream keeps and counts into (a list index, where a
        # dict's would hash the label tuple twice on every query). Made when the upstream is, so
        # a cell may still hold 0: such a series is not shown (it is, once counted, as before).
        self.conn_cache_hits: dict[tuple[str, str], list[int]] = {}
        self.conn_cache_misses: dict[tuple[str, str], list[int]] = {}
        self.dropped_replies: dict[tuple[str, str], int] = {}  # (to, proto)
        self.healthcheck_broken = 0
        self.max_concurrent_rejects = 0

    def duration_buckets(self, to: str, rcode: int) -> Buckets:
        """The histogram of (to, rcode): an upstream keeps it and counts into it directly."""
        key = (to, _RCODE_NAMES.get(rcode) or str(rcode))
        h = self.request_duration.get(key)
        if h is None:
            h = self.request_duration[key] = Buckets(TIME_BUCKETS)
        return h

    def collect(self) -> Iterator[Metric]:
        yield from self._proxy_families()
        broken = CounterMetricFamily(
            "coredns_forward_healthcheck_broken",
            "Counter of the number of complete failures of the healthchecks.",
        )
        broken.add_metric([], self.healthcheck_broken)
        yield broken
        rejects = CounterMetricFamily(
            "coredns_forward_max_concurrent_rejects",
            "Counter of the number of queries rejected because the concurrent queries were at maximum.",
        )
        rejects.add_metric([], self.max_concurrent_rejects)
        yield rejects
        dropped = CounterMetricFamily(
            "coredns_forward_dropped_replies",
            "Counter of upstream replies dropped because their ID or question matched no pending query "
            "(late or spoofed).",
            labels=["to", "proto"],
        )
        for (to, proto), n in list(self.dropped_replies.items()):
            dropped.add_metric([to, proto], n)
        yield dropped

    def _proxy_families(self) -> Iterator[Metric]:
        duration = HistogramMetricFamily(
            "coredns_proxy_request_duration_seconds",
            "Histogram of the time each request took.",
            labels=["proxy_name", "to", "rcode"],
        )
        for (to, rcode), h in list(self.request_duration.items()):
            add_histogram(duration, [PROXY_NAME, to, rcode], h)
        yield duration
        failures = CounterMetricFamily(
            "coredns_proxy_healthcheck_failures",
            "Counter of the number of failed healthchecks.",
            labels=["proxy_name", "to"],
        )
        for to, n in list(self.healthcheck_failures.items()):
            failures.add_metric([PROXY_NAME, to], n)
        yield failures
        for name, doc, values in (
            ("coredns_proxy_conn_cache_hits", "Counter of connection cache hits per upstream and protocol.",
             self.conn_cache_hits),
            ("coredns_proxy_conn_cache_misses", "Counter of connection cache misses per upstream and protocol.",
             self.conn_cache_misses),
        ):
            fam = CounterMetricFamily(name, doc, labels=["proxy_name", "to", "proto"])
            for (to, proto), (n,) in list(values.items()):
                if n:
                    fam.add_metric([PROXY_NAME, to, proto], n)
            yield fam

    def describe(self) -> Iterator[Metric]:
        # Families without samples: enough for the registry to know the names.
        yield HistogramMetricFamily("coredns_proxy_request_duration_seconds", "",
                                    labels=["proxy_name", "to", "rcode"])
        yield CounterMetricFamily("coredns_proxy_healthcheck_failures", "", labels=["proxy_name", "to"])
        yield CounterMetricFamily("coredns_proxy_conn_cache_hits", "", labels=["proxy_name", "to", "proto"])
        yield CounterMetricFamily("coredns_proxy_conn_cache_misses", "", labels=["proxy_name", "to", "proto"])
        yield CounterMetricFamily("coredns_forward_healthcheck_broken", "")
        yield CounterMetricFamily("coredns_forward_max_concurrent_rejects", "")
        yield CounterMetricFamily("coredns_forward_dropped_replies", "", labels=["to", "proto"])


COUNTERS = Counters()


def register(c: Controller) -> None:
    """Put forward's collector on the process registry (once, however often setup runs)."""
    c.register_metrics("forward", COUNTERS.collect, COUNTERS.describe)
