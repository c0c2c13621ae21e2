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


# One UDP socket's address object, as its listener passes it with each of its queries.
SOCKET = ("0.0.0.0", 1053)


def _replies(observer: MetricsObserver) -> Request:
    """Ten replies to one question (a shared Question object) on one socket, whose plugin, size and
    rcode change on the way, and one from an IPv6 client on a socket of its own."""
    reply = b"\x00" * 60
    req = make_request("www.example.org", "A", server="dns://:1053")
    for i in range(10):
        req = make_request("www.example.org", "A", server="dns://:1053")
        req.local = SOCKET
        req.answered_by = "cache" if i < 6 else "forward"
        observer.observe(req, reply if i < 8 else reply * 2, 0 if i < 9 else 2, None)
    v6 = make_request("www.example.org", "A", server="dns://:1053", remote=("2001:db8::1", 5353))
    v6.local = ("::", 1053, 0, 0)
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


def test_replies_on_one_socket_count_in_their_questions_tally() -> None:
    """The listener's address object stands for server, protocol and family: the replies of one
    socket count in one tally, a TCP connection's and an IPv6 socket's apart, each in its labels."""
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    reply = b"\x00" * 60
    udp4, tcp4, udp6 = ("0.0.0.0", 53), ("127.0.0.1", 53), ("::", 53, 0, 0)
    sockets = [(udp4, "udp", ("192.0.2.7", 5300)), (tcp4, "tcp", ("192.0.2.7", 5301)),
               (udp6, "udp", ("2001:db8::7", 5302, 0, 0))]
    for _ in range(5):
        for local, proto, remote in sockets:
            req = make_request("www.example.org", "A", server="dns://:53", proto=proto, remote=remote)
            req.local = local
            req.answered_by = "cache"
            observer.observe(req, reply, 0, None)
    q = req.q
    tally = observer._tallies[q]
    # Taken in turn, each socket's reply finds another socket's tally and makes its own in its
    # place (one tally per question): the last holds the last reply; every count stays exact.
    assert tally.local is udp6 and tally.count == 1
    stats.fold()
    assert _counts(stats) == {
        (1, 1, False, 0, "cache", 1, 1, 0): 10,  # udp4 and tcp4, each in its own series
        (2, 1, False, 0, "cache", 1, 1, 0): 5,
    }
    by_series = {key: sum(n for (n,) in s.counts.values()) for key, s in stats.series.items()}
    assert by_series == {("dns://:53", ".", "udp"): 10, ("dns://:53", ".", "tcp"): 5}


def test_one_socket_counts_its_fast_replies_in_one_tally() -> None:
    stats = CoreStats()
    observer = MetricsObserver(stats, ["."])
    reply = b"\x00" * 60
    for _ in range(50):
        req = make_request("www.example.org", "A", server="dns://:53")
        req.local = SOCKET
        req.answered_by = "cache"
        observer.observe(req, reply, 0, None)
    tally = observer._tallies[req.q]
    assert tally.count == 49  # the first reply counted at once (see the seen set), then one tally
    stats.fold()
    assert _counts(stats) == {(1, 1, False, 0, "cache", 1, 1, 0): 50}


def test_test_kit_requests_never_share_a_socket() -> None:
    """make_request gives each request an address object of its own, as a socket of its own has:
    requests made for other servers, protocols or families never pass for one listener's."""
    a = make_request("www.example.org", "A")
    b = make_request("www.example.org", "A", proto="tcp")
    assert a.local == b.local and a.local is not b.local
