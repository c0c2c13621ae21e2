"""CoreDNS's sharded cache: 256 shards, each with a fixed capacity and random eviction.

Shard capacity is ``max(CAPACITY // 256, 4)``, so the effective size is a multiple of 256 and at
least 1024 (the default 10000 gives 39 per shard, 9984 in all). A full shard evicts one arbitrary
entry of its own when a new key arrives, whatever the TTLs: a random one among its
:data:`EVICT_WINDOW` oldest (all of a default-sized shard). A shard is a dict and nothing else:
no per-entry bookkeeping besides it (an index for uniform random choice over a large shard would
cost more memory per entry than the entry's own fields), and the capacity is counted here, so a
store is two dict operations (a ``cachetools.Cache`` made it three Python-level calls more).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from itertools import islice

from pycoredns.plugins.cache.entry import Entry

SHARDS = 256
EVICT_WINDOW = 64
_rng = random.Random()  # which entry to evict: nothing secret depends on it


class Shard(dict[bytes, Entry]):
    """One shard: a dict whose ``popitem`` evicts a random one of its oldest entries."""

    __slots__ = ()

    def popitem(self) -> tuple[bytes, Entry]:
        n = len(self)
        if not n:
            raise KeyError("shard is empty")
        skip = _rng.randrange(n if n < EVICT_WINDOW else EVICT_WINDOW)
        key = next(islice(iter(self), skip, None))
        return key, self.pop(key)


def shard_capacity(capacity: int) -> int:
    return max(capacity // SHARDS, 4)


class ShardedCache:
    """Keys are the lower-cased question wire plus the DO/CD byte; values are :class:`Entry`."""

    __slots__ = ("shards", "maps", "shard_size", "count")

    def __init__(self, capacity: int) -> None:
        self.shard_size = shard_capacity(capacity)
        self.shards: list[Shard] = [Shard() for _ in range(SHARDS)]
        self.maps: list[Mapping[bytes, Entry]] = list(self.shards)  # what the hit path reads
        self.count = 0  # kept here so the entries gauge never walks the shards

    @property
    def capacity(self) -> int:
        return self.shard_size * SHARDS

    def get(self, key: bytes) -> Entry | None:
        return self.maps[hash(key) & 0xFF].get(key)

    def add(self, key: bytes, entry: Entry) -> bool:
        """Store ``entry``; True when another entry had to be evicted to make room."""
        shard = self.shards[hash(key) & 0xFF]
        if key in shard:
            shard[key] = entry  # a dict keeps a replaced key where it was, as it was in the order
            return False
        if len(shard) >= self.shard_size:
            shard.popitem()
            shard[key] = entry
            return True
        self.count += 1
        shard[key] = entry
        return False

    def remove(self, key: bytes) -> None:
        shard = self.shards[hash(key) & 0xFF]
        if shard.pop(key, None) is not None:
            self.count -= 1

    def __len__(self) -> int:
        return self.count
