"""Repeated questions count through the per-question memo exactly as through the full key."""

from __future__ import annotations

from pycoredns.plugins.prometheus.metrics import CoreStats
from pycoredns.plugins.prometheus.observer import MetricsObserver
from pycoredns.testing import make_request


def _counts(stats: CoreStats) -> dict[tuple[object, ...], int]:
    out: dict[tuple[object, ...], int] = {}
    for series in stats.series.values():
        for key, (n,) in series.counts.items():
            out[key] = out.get(key, 0) + n
    return out


def test_memo_counts_like_the_full_key() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    reply = b"\x00" * 60
    for i in range(10):
        # The same question (a shared Question object), answered alike, then differently.
        req = make_request("www.example.org", "A", server="dns://:1053")
        req.answered_by = "cache" if i < 6 else "forward"
        observer.observe(req, reply if i < 8 else reply * 2, 0 if i < 9 else 2, None)
    v6 = make_request("www.example.org", "A", server="dns://:1053", remote=("2001:db8::1", 5353))
    v6.answered_by = "cache"
    observer.observe(v6, reply, 0, None)
    counts = _counts(stats)
    assert counts == {
        (1, 1, False, 0, "cache", 1, 1, 0): 6,
        (1, 1, False, 0, "forward", 1, 1, 0): 2,
        (1, 1, False, 0, "forward", 1, 2, 0): 1,
        (1, 1, False, 2, "forward", 1, 2, 0): 1,
        (2, 1, False, 0, "cache", 1, 1, 0): 1,
    }
    series = next(iter(stats.series.values()))
    assert series.resp_bytes == 60 * 8 + 120 * 2 + 60
