"""The sharded store: a full shard evicts a uniformly random key of its own, and the key list that
makes the choice O(1) stays in step with the shard through stores, evictions and removals."""

from __future__ import annotations

import random
from collections import Counter

from pycoredns.plugins.cache.entry import Entry, shape_for
from pycoredns.plugins.cache.store import ShardedCache

SHAPE = shape_for((6,), (1, 1, 0, 0), 0, True, False, True)


def entry() -> Entry:
    return Entry(b"\x00\x01\x00\x01", SHAPE, 30, 0.0)


def same_shard(n: int) -> list[bytes]:
    """``n`` keys that fall in one shard (hashes of bytes change with every process)."""
    by_shard: dict[int, list[bytes]] = {}
    i = 0
    while True:
        key = f"k{i}".encode()
        found = by_shard.setdefault(hash(key) & 0xFF, [])
        found.append(key)
        if len(found) == n:
            return found
        i += 1


def consistent(cache: ShardedCache) -> bool:
    return (all(sorted(m) == sorted(k) for m, k in zip(cache.maps, cache.keys, strict=True))
            and cache.count == sum(len(m) for m in cache.maps) == len(cache))


def test_a_full_shard_evicts_one_of_its_own_keys() -> None:
    cache = ShardedCache(1024)  # 4 a shard
    keys = same_shard(5)
    assert not any(cache.add(k, entry()) for k in keys[:4])
    assert cache.add(keys[0], entry()) is False  # a key already there is replaced, not added
    assert cache.add(keys[4], entry()) is True
    assert len(cache) == 4 and cache.get(keys[4]) is not None
    assert sum(cache.get(k) is not None for k in keys[:4]) == 3
    assert consistent(cache)


def test_eviction_is_uniform_over_the_shard() -> None:
    random.seed(7)
    keys = same_shard(5)
    evicted: Counter[bytes] = Counter()
    for _ in range(2000):
        cache = ShardedCache(1024)
        for k in keys[:4]:
            cache.add(k, entry())
        cache.add(keys[4], entry())
        evicted.update(k for k in keys[:4] if cache.get(k) is None)
    assert sum(evicted.values()) == 2000
    assert all(400 < evicted[k] < 600 for k in keys[:4]), evicted  # 500 each expected


def test_remove_keeps_the_key_list_in_step() -> None:
    cache = ShardedCache(1024)
    keys = same_shard(8)
    for k in keys[:4]:
        cache.add(k, entry())
    cache.remove(keys[1])
    cache.remove(keys[3])  # the last of the list
    cache.remove(b"never stored")
    assert len(cache) == 2 and cache.get(keys[1]) is None and consistent(cache)
    for k in keys[4:]:
        cache.add(k, entry())  # room for two, then evictions
    assert len(cache) == 4 and consistent(cache)
