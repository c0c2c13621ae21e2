"""The observer's duration bucket: a fast reply skips the bisect, a slow one still gets its bound."""

from __future__ import annotations

from time import perf_counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pycoredns.metrics import FuncCollector
from pycoredns.plugins.prometheus.metrics import CoreStats
from pycoredns.plugins.prometheus.observer import MetricsObserver
from pycoredns.testing import make_request


def _duration_buckets(stats: CoreStats) -> dict[str, float]:
    reg = CollectorRegistry()
    reg.register(FuncCollector(stats.collect, stats.describe))
    for family in text_string_to_metric_families(generate_latest(reg).decode()):
        if family.name == "coredns_dns_request_duration_seconds":
            return {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    raise AssertionError("no duration histogram")


@pytest.mark.parametrize(
    ("age", "first_le_with_count"),
    [
        pytest.param(0.0, "0.00025", id="fast-reply-first-bucket"),
        pytest.param(0.0007, "0.001", id="slow-reply-bisected"),
        pytest.param(3.0, "4.096", id="very-slow-reply"),
    ],
)
def test_duration_bucket(age: float, first_le_with_count: str) -> None:
    stats = CoreStats()
    obs = MetricsObserver(stats, ["."])
    for _ in range(3):
        req = make_request("example.org", "A")
        req.answered_by = "cache"
        req.start = perf_counter() - age
        obs.observe(req, bytes(40), 0, None)
    buckets = _duration_buckets(stats)
    filled = [le for le, n in buckets.items() if n == 3]
    assert filled[0] == first_le_with_count
    below = [le for le, n in buckets.items() if n == 0]
    assert all(float(le) < float(first_le_with_count) for le in below)
