"""coredns_template_matches_total and the two failure counters, kept as plain integers.

Counted per query in dicts keyed by label tuples; the collector builds the families on scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, Metric

from pycoredns.plugin import NAMESPACE, Controller

MatchKey = tuple[str, str, str, str, str]  # server, zone, view, class, type
FailureKey = tuple[str, str, str, str, str, str, str]  # ... section, template

K = TypeVar("K")

matches: dict[MatchKey, int] = {}
template_failures: dict[FailureKey, int] = {}
rr_failures: dict[FailureKey, int] = {}

_MATCH_LABELS = ["server", "zone", "view", "class", "type"]
_FAILURE_LABELS = [*_MATCH_LABELS, "section", "template"]


def _families() -> Iterator[Metric]:
    m = CounterMetricFamily(
        f"{NAMESPACE}_template_matches", "Counter of template regex matches.", labels=_MATCH_LABELS
    )
    for key, n in list(matches.items()):
        m.add_metric(list(key), n)
    yield m
    t = CounterMetricFamily(
        f"{NAMESPACE}_template_template_failures", "Counter of go template failures.", labels=_FAILURE_LABELS
    )
    for fkey, n in list(template_failures.items()):
        t.add_metric(list(fkey), n)
    yield t
    r = CounterMetricFamily(
        f"{NAMESPACE}_template_rr_failures",
        "Counter of mis-templated RRs.",
        labels=_FAILURE_LABELS,
    )
    for fkey, n in list(rr_failures.items()):
        r.add_metric(list(fkey), n)
    yield r


def register(c: Controller) -> None:
    c.register_metrics("template", _families)


def count(table: dict[K, int], key: K) -> None:
    table[key] = table.get(key, 0) + 1
