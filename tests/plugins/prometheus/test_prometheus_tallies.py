"""Fast replies count into per-question tallies, folded into the series exactly as the full key
would have counted them: before every scrape, when the tallies are full, when the block retires."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pycoredns.metrics import FuncCollector
from pycoredns.plugins.prometheus import observer as observer_module
from pycoredns.plugins.prometheus.metrics import CoreStats
from pycoredns.plugins.prometheus.observer import MetricsObserver
from pycoredns.request import Request
from pycoredns.testing import make_request


def _counts(stats: CoreStats) -> dict[tuple[object, ...], int]:
    out: dict[tuple[object, ...], int] = {}
    for series in stats.series.values():
        for key, (n,) in series.counts.items():
            out[key] = out.get(key, 0) + n
    return out


def _scrape(stats: CoreStats) -> dict[str, float]:
    reg = CollectorRegistry()
    reg.register(FuncCollector(stats.collect, stats.describe))
    text = generate_latest(reg).decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text) for s in f.samples
    }


def _replies(observer: MetricsObserver) -> Request:
    """Ten replies to one question (a shared Question object) and one from an IPv6 client."""
    reply = b"\x00" * 60
    req = make_request("www.example.org", "A", server="dns://:1053")
    for i in range(10):
        req = make_request("www.example.org", "A", server="dns://:1053")
        req.answered_by = "cache" if i < 6 else "forward"
        observer.observe(req, reply if i < 8 else reply * 2, 0 if i < 9 else 2, None)
    v6 = make_request("www.example.org", "A", server="dns://:1053", remote=("2001:db8::1", 5353))
    v6.answered_by = "cache"
    observer.observe(v6, reply, 0, None)
    return req


EXPECTED = {
    (1, 1, False, 0, "cache", 1, 1, 0): 6,
    (1, 1, False, 0, "forward", 1, 1, 0): 2,
    (1, 1, False, 0, "forward", 1, 2, 0): 1,
    (1, 1, False, 2, "forward", 1, 2, 0): 1,
    (2, 1, False, 0, "cache", 1, 1, 0): 1,
}


def test_tallies_fold_into_the_full_key() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    req = _replies(observer)
    assert _counts(stats) != EXPECTED  # partly counted in the tallies, not yet in the series
    stats.fold()
    assert _counts(stats) == EXPECTED
    series = next(iter(stats.series.values()))
    assert series.resp_bytes == 60 * 8 + 120 * 2 + 60
    assert series.req_bytes == 11 * len(req.wire)
    assert 0 < series.seconds < 1
    stats.fold()  # folding again adds nothing
    assert _counts(stats) == EXPECTED


def test_every_scrape_counts_every_reply() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    labels = "[('family', '1'), ('proto', 'udp'), ('server', 'dns://:1053'), ('type', 'A'), ('view', ''), " \
             "('zone', '.')]"
    for scrape in range(1, 4):
        _replies(observer)
        got = _scrape(stats)
        assert got["coredns_dns_requests_total" + labels] == 10 * scrape
        assert got["coredns_dns_request_duration_seconds_count[('server', 'dns://:1053'), ('view', ''), " 
                   "('zone', '.')]"] == 11 * scrape


def test_full_tallies_are_folded_before_they_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observer_module, "_TALLIES_MAX", 2)
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    _replies(observer)  # five distinct tallies through a table of two
    assert len(observer._tallies) <= 2
    stats.fold()
    assert _counts(stats) == EXPECTED


def test_a_retired_block_leaves_its_counts_and_is_not_folded_again() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    _replies(observer)
    observer.close()
    assert stats.folders == set()
    assert _counts(stats) == EXPECTED


def test_a_slow_reply_is_counted_at_once_in_its_duration_bucket() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    req = make_request("www.example.org", "A", server="dns://:1053")
    req.answered_by = "forward"
    req.start -= 0.03  # a 30 ms upstream answer: bucket 0.032
    observer.observe(req, b"\x00" * 60, 0, None)
    assert observer._tallies == {}
    (key,) = _counts(stats)
    assert key[:5] == (1, 1, False, 0, "forward") and key[7] > 0


def test_another_listener_or_transport_counts_in_its_own_series() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    reply = b"\x00" * 60
    for server, proto in [("dns://:53", "udp"), ("dns://:53", "tcp"), ("dns://:1053", "udp"), ("dns://:53", "udp")]:
        req = make_request("www.example.org", "A", server=server, proto=proto)
        req.answered_by = "cache"
        observer.observe(req, reply, 0, None)
    stats.fold()
    counts = {key: sum(n for (n,) in s.counts.values()) for key, s in stats.series.items()}
    assert counts == {("dns://:53", ".", "udp"): 2, ("dns://:53", ".", "tcp"): 1, ("dns://:1053", ".", "udp"): 1}


def test_a_question_gets_a_tally_at_its_second_fast_reply() -> None:
    """Fast replies to questions asked once (misses a near upstream answered) count at once and
    leave no tally behind; a question answered fast again counts into a tally from then on."""
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    reply = b"\x00" * 60
    first = make_request("new0.example.org", "A", server="dns://:1053")
    for i in range(5):
        req = first if i == 0 else make_request(f"new{i}.example.org", "A", server="dns://:1053")
        req.answered_by = "forward"
        observer.observe(req, reply, 0, None)
    assert observer._tallies == {}
    assert _counts(stats) == {(1, 1, False, 0, "forward", 1, 1, 0): 5}  # nothing waits for a fold
    again = make_request("new0.example.org", "A", server="dns://:1053")
    again.q = first.q  # the engine's one Question object for a repeated query
    again.answered_by = "cache"
    observer.observe(again, reply, 0, None)
    assert list(observer._tallies) == [first.q]
    stats.fold()
    assert _counts(stats) == {(1, 1, False, 0, "forward", 1, 1, 0): 5, (1, 1, False, 0, "cache", 1, 1, 0): 1}


def test_the_questions_seen_once_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observer_module, "_TALLIES_MAX", 3)
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    for i in range(10):
        req = make_request(f"new{i}.example.org", "A", server="dns://:1053")
        req.answered_by = "forward"
        observer.observe(req, b"\x00" * 60, 0, None)
        assert len(observer._seen) <= 3
    assert sum(_counts(stats).values()) == 10
