"""coredns_dns64_requests_translated_total{server}, counted in a plain dict, rendered on scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from pycoredns.plugin import NAMESPACE, Controller

translated: dict[str, int] = {}


def _families() -> Iterator[Metric]:
    # prometheus_client adds "_total" to counter names itself.
    family = CounterMetricFamily(
        f"{NAMESPACE}_dns64_requests_translated", "Counter of DNS requests translated by dns64.", labels=["server"]
    )
    for server, n in list(translated.items()):
        family.add_metric([server], n)
    yield family


def register(c: Controller) -> None:
    c.register_metrics("dns64", _families)


def count(server: str) -> None:
    translated[server] = translated.get(server, 0) + 1
