"""CoreDNS's sharded cache: 256 shards, each with a fixed capacity and random eviction.

Shard capacity is ``max(CAPACITY // 256, 4)``, so the effective size is a multiple of 256 and at
least 1024 (the default 10000 gives 39 per shard, 9984 in all). A full shard evicts one random
entry of its own when a new key arrives (``cachetools.RRCache``), whatever the TTLs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import random

from cachetools import RRCache

from pycoredns.plugins.cache.entry import Entry

SHARDS = 256


def shard_capacity(capacity: int) -> int:
    return max(capacity // SHARDS, 4)


def _any_of(keys: Sequence[bytes]) -> bytes:
    """A uniformly random key to evict (random.choice's pick, without its two Python-level
    calls: once the cache is full, every miss evicts)."""
    return keys[int(random() * len(keys))]


class ShardedCache:
    """Keys are the lower-cased question wire plus the DO/CD byte; values are :class:`Entry`."""

    __slots__ = ("shards", "maps", "shard_size", "count")

    def __init__(self, capacity: int) -> None:
        self.shard_size = shard_capacity(capacity)
        self.shards: list[RRCache[bytes, Entry]] = [
            RRCache(self.shard_size, choice=_any_of) for _ in range(SHARDS)
        ]
        # The hit path reads each shard's own mapping: cachetools keeps it as Cache.__data, and a
        # plain dict.get saves three Python-level calls per hit. Writes and eviction still go
        # through RRCache (add reads the mapping for its checks only). Should a cachetools release
        # rename it, the shard itself serves (slower).
        self.maps: list[Mapping[bytes, Entry]] = [getattr(s, "_Cache__data", s) for s in self.shards]
        self.count = 0  # kept here so the entries gauge never walks the shards

    @property
    def capacity(self) -> int:
        return self.shard_size * SHARDS

    def get(self, key: bytes) -> Entry | None:
        return self.maps[hash(key) & 0xFF].get(key)

    def add(self, key: bytes, entry: Entry) -> bool:
        """Store ``entry``; True when another entry had to be evicted to make room."""
        i = hash(key) & 0xFF
        shard = self.shards[i]
        data = self.maps[i]  # the shard's own dict: its membership and size read without a call
        evicted = False
        if key not in data:
            if len(data) >= self.shard_size:
                shard.popitem()
                evicted = True
            else:
                self.count += 1
        shard[key] = entry
        return evicted

    def remove(self, key: bytes) -> None:
        shard = self.shards[hash(key) & 0xFF]
        if shard.pop(key, None) is not None:
            self.count -= 1

    def __len__(self) -> int:
        return self.count
