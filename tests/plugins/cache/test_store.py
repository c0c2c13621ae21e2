"""The sharded store: its one-call bookkeeping leaves every shard a sound cachetools RRCache."""

from __future__ import annotations

import copy
import random

import pytest
from cachetools import RRCache

from pycoredns.plugins.cache import store
from pycoredns.plugins.cache.entry import Entry, shape_for
from pycoredns.plugins.cache.store import SHARDS, ShardedCache

SHAPE = shape_for((6,), (1, 1, 0, 0), 0, True, False, True)


def entry(n: int) -> Entry:
    return Entry(n.to_bytes(4, "big"), SHAPE, 30, 0.0)


def key(n: int) -> bytes:
    return b"\x01k" + str(n).encode() + b"\x00\x00\x01\x00\x01\x00"


@pytest.fixture(params=["layout", "public"])
def cache(request: pytest.FixtureRequest) -> ShardedCache:
    c = ShardedCache(SHARDS * 4)  # 4 per shard: a few hundred stores fill and evict
    if request.param == "layout":
        assert all(lay is not None for lay in c.layouts), "the installed cachetools is laid out otherwise"
    else:
        c.layouts = [None] * SHARDS  # as with a cachetools whose structures are unknown here
    return c


def check_sound(c: ShardedCache) -> None:
    """Each shard as RRCache's own methods see it: size, keys, values, and its own popitem, which
    reads the key list and the index, takes out every key exactly once (from a copy of the
    shard: the store is left as it was)."""
    total = 0
    for shard, data in zip(c.shards, c.maps, strict=True):
        assert len(shard) == shard.currsize == len(data) <= c.shard_size
        assert all(shard[k] is data[k] for k in list(shard))
        total += len(shard)
    assert c.count == total
    for original in c.shards:
        shard = copy.copy(original)
        expected = dict(shard.items())
        popped = {}
        while len(shard):
            k, v = shard.popitem()
            popped[k] = v
        assert popped == expected and shard.currsize == 0


def test_stores_replaces_and_evicts_as_rrcache_does(cache: ShardedCache) -> None:
    random.seed(7)
    stored: dict[bytes, Entry] = {}
    for n in range(3000):
        k = key(n % 1500)  # each key stored twice: the second store replaces it, or stores it anew
        e = entry(n)
        shard = cache.shards[hash(k) & 0xFF]
        present = cache.get(k) is not None
        full = len(shard) >= cache.shard_size
        before = len(cache)
        # An eviction exactly when a new key comes to a full shard; the count follows.
        assert cache.add(k, e) is (not present and full)
        assert len(cache) == before + (0 if present or full else 1)
        assert cache.get(k) is e
        stored[k] = e
    for k, e in stored.items():
        got = cache.get(k)
        assert got is None or got is e  # never an older value of a key
    check_sound(cache)


def test_eviction_count_and_removal(cache: ShardedCache) -> None:
    random.seed(3)
    per_shard: dict[int, int] = {}
    evicted = 0
    for n in range(2000):
        k = key(n)
        i = hash(k) & 0xFF
        per_shard[i] = per_shard.get(i, 0) + 1
        evicted += cache.add(k, entry(n))
    # Keys are all new: a shard evicts once for each store past its capacity.
    assert evicted == sum(max(0, stores - cache.shard_size) for stores in per_shard.values())
    survivors = [key(n) for n in range(2000) if cache.get(key(n)) is not None]
    assert len(survivors) == len(cache)
    for k in survivors[::2]:
        cache.remove(k)
        assert cache.get(k) is None
    cache.remove(survivors[0])  # gone already: nothing changes
    assert len(cache) == len(survivors) - len(survivors[::2])
    check_sound(cache)
    # The shards still take RRCache's own writes after the store's.
    for n in range(2000, 2600):
        cache.add(key(n), entry(n))
    check_sound(cache)


def test_eviction_is_uniform_over_the_shard() -> None:
    """Which key a full shard gives up: any of them, alike (not the oldest, not the newest)."""
    random.seed(11)
    c = ShardedCache(SHARDS * 4)
    first = [k for k in (key(n) for n in range(20000)) if hash(k) & 0xFF == 0][:4]
    extra = next(k for k in (key(n) for n in range(20000, 200000)) if hash(k) & 0xFF == 0)
    losses = dict.fromkeys(first, 0)
    for _ in range(2000):
        for k in first:
            c.add(k, entry(0))
        c.add(extra, entry(1))
        for k in first:
            if c.get(k) is None:
                losses[k] += 1
        c.remove(extra)
    assert sum(losses.values()) == 2000
    assert all(400 < n < 600 for n in losses.values())  # 500 each expected; 6 sigma is ~130


def test_layout_is_known_for_the_installed_cachetools() -> None:
    lay = store._Layout.of(RRCache(4))
    assert lay is not None
    assert store._Layout.of(RRCache(4, getsizeof=len)) is None  # sized: its own bookkeeping
    assert store._Layout.of(object()) is None
