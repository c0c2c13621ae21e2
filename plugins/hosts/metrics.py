"""coredns_hosts_entries{hostsfile} and coredns_hosts_reload_timestamp_seconds.

Set only when a hosts file is (re-)read, never on the query path; rendered on scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from pycoredns.plugin import NAMESPACE, Controller, gauge_merge

_entries: dict[str, float] = {}
_reload_timestamp: list[float] = [0.0]

ENTRIES = f"{NAMESPACE}_hosts_entries"
RELOAD_TIMESTAMP = f"{NAMESPACE}_hosts_reload_timestamp_seconds"


def _families() -> Iterator[Metric]:
    entries = GaugeMetricFamily(
        ENTRIES, "The combined number of entries in hosts and Corefile.", labels=["hostsfile"]
    )
    for path, value in sorted(_entries.items()):
        entries.add_metric([path], value)
    yield entries
    yield GaugeMetricFamily(
        RELOAD_TIMESTAMP, "The timestamp of the last reload of hosts file.", value=_reload_timestamp[0]
    )


def register(c: Controller) -> None:
    c.register_metrics("hosts", _families)
    # Every worker reads the same files: the instance has one value, not the workers' sum.
    gauge_merge(ENTRIES, "max")
    gauge_merge(RELOAD_TIMESTAMP, "max")


def set_entries(path: str, count: int) -> None:
    _entries[path] = float(count)


def set_reload_timestamp(seconds: float) -> None:
    _reload_timestamp[0] = seconds


def entries(path: str) -> float | None:
    return _entries.get(path)


def reload_timestamp() -> float:
    return _reload_timestamp[0]
