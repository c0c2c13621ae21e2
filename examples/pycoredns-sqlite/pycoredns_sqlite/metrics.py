"""coredns_sqlite_*: what was loaded, when, what failed, and how queries were answered.

The query path only adds one to a number in a dictionary; the families are built when a scraper
asks (``Controller.register_metrics``), so counting costs no prometheus_client call per query.
The numbers live at module level: they outlive reloads, when setup runs again.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pycoredns.plugin import NAMESPACE, Controller, gauge_merge

ENTRIES = f"{NAMESPACE}_sqlite_entries"
RELOAD_TIMESTAMP = f"{NAMESPACE}_sqlite_reload_timestamp_seconds"
RELOAD_FAILURES = f"{NAMESPACE}_sqlite_reload_failures_total"
LOOKUPS = f"{NAMESPACE}_sqlite_lookups_total"

# What a lookup ended in: the label ``result`` of coredns_sqlite_lookups_total.
ANSWER, NODATA, NXDOMAIN, FALLTHROUGH = "answer", "nodata", "nxdomain", "fallthrough"

entries: dict[str, int] = {}  # database -> records served
reloaded: dict[str, float] = {}  # database -> time of the last successful read
failures: dict[str, int] = {}  # database -> reads that failed
lookups: dict[tuple[str, str, str], int] = {}  # (server, zone, result) -> count


def _families() -> Iterator[Metric]:
    gauge = GaugeMetricFamily(ENTRIES, "The number of records read from the database.", labels=["database"])
    for path, count in sorted(entries.items()):
        gauge.add_metric([path], count)
    yield gauge
    stamp = GaugeMetricFamily(
        RELOAD_TIMESTAMP, "The time of the last successful read of the database.", labels=["database"]
    )
    for path, when in sorted(reloaded.items()):
        stamp.add_metric([path], when)
    yield stamp
    failed = CounterMetricFamily(
        RELOAD_FAILURES, "Counter of reads of the database that failed.", labels=["database"]
    )
    for path, count in sorted(failures.items()):
        failed.add_metric([path], count)
    yield failed
    asked = CounterMetricFamily(
        LOOKUPS, "Counter of queries for the plugin's zones, by result.", labels=["server", "zone", "result"]
    )
    for labels, count in sorted(lookups.copy().items()):
        asked.add_metric(list(labels), count)
    yield asked


def register(c: Controller) -> None:
    c.register_metrics("sqlite", _families)
    # With several workers each reads the same file: the instance has their entries once, and
    # the latest reading, not their sums.
    gauge_merge(ENTRIES, "max")
    gauge_merge(RELOAD_TIMESTAMP, "max")


def count(server: str, zone: str, result: str) -> None:
    key = (server, zone, result)
    lookups[key] = lookups.get(key, 0) + 1
