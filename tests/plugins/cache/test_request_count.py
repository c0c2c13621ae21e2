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
