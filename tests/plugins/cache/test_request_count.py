"""coredns_cache_requests_total is the hits plus the misses: every request the cache takes in
its zones is exactly one of them, whichever way it is answered."""

from __future__ import annotations

import pytest

from pycoredns import wire
from pycoredns.testing import make_request
from tests.plugins.cache.test_handler import a_answer, make_cache, rcode_answer


@pytest.mark.parametrize("prefer_positive", [False, True])
def test_each_request_in_the_zones_is_one_hit_or_one_miss(prefer_positive: bool) -> None:
    cache, nxt, clock = make_cache(a_answer(ttl=10), zones=["example.org."], stale_up_to=3600,
                                   prefer_positive=prefer_positive)
    # The counters are the process's (they outlive reloads): a server label of this test's own.
    server = f"dns://request-count-{prefer_positive}:53"
    served = 0
    for name in ("a.example.org", "a.example.org", "b.example.org"):  # miss, hit, miss
        cache.serve(make_request(name, server=server))
        served += 1
    clock.now += 20  # expired: served stale (a hit) while it is fetched again
    cache.serve(make_request("a.example.org", server=server))
    served += 1
    nxt.answer = rcode_answer(wire.NXDOMAIN)
    for _ in range(2):  # a denial: a miss, then a denial hit
        cache.serve(make_request("gone.example.org", server=server))
        served += 1
    cache.serve(make_request("elsewhere.test", server=server))  # not the cache's zone: not its request
    stats = cache._stats[server]
    assert (stats.misses, stats.hits_success, stats.hits_denial) == (3, 2, 1)
    assert stats.requests == served == stats.hits_success + stats.hits_denial + stats.misses


def test_the_entries_gauge_appears_with_the_first_store_and_shows_both_stores() -> None:
    from pycoredns.plugins.cache import metrics

    server = "dns://entries-gauge:53"  # the counters are the process's: a label of this test's own

    def gauge() -> dict[str, float]:
        return {s.labels["type"]: s.value for family in metrics.collect() if family.name == "coredns_cache_entries"
                for s in family.samples if s.labels["server"] == server}

    cache, nxt, _ = make_cache(a_answer(ttl=10))
    cache.stats_for(server)
    assert gauge() == {}  # nothing stored yet: no gauge, as in CoreDNS
    cache.serve(make_request("a.example.org", server=server))
    assert gauge() == {"success": 1.0, "denial": 0.0}
    nxt.answer = rcode_answer(wire.NXDOMAIN)
    cache.serve(make_request("gone.example.org", server=server))
    assert gauge() == {"success": 1.0, "denial": 1.0}
    # A new cache under the same labels (a reload): its first store shows its own sizes.
    fresh, _, _ = make_cache(a_answer(ttl=10))
    fresh.serve(make_request("b.example.org", server=server))
    assert gauge() == {"success": 1.0, "denial": 0.0}
