"""CoreDNS's sharded cache: 256 shards, each with a fixed capacity and random eviction.

Shard capacity is ``max(CAPACITY // 256, 4)``, so the effective size is a multiple of 256 and at
least 1024 (the default 10000 gives 39 per shard, 9984 in all). A full shard evicts one entry of
its own, chosen uniformly at random, when a new key arrives, whatever the TTLs (CoreDNS deletes
the first key its map's random iteration gives).

A shard is a plain dict, which the hit path reads directly, and a list of the same keys, which
makes the random choice O(1): the new key takes the evicted one's place in the list. (This is
what cachetools' RRCache did, through three Python calls per store and a key -> position dict
beside the list, about 66 bytes more per entry; only an explicit :meth:`ShardedCache.remove`,
rare, needs a key's position, and finds it in the list.)
"""

from __future__ import annotations

from random import random

from pycoredns.plugins.cache.entry import Entry

SHARDS = 256


def shard_capacity(capacity: int) -> int:
    return max(capacity // SHARDS, 4)


class ShardedCache:
    """Keys are the lower-cased question wire plus the DO/CD byte; values are :class:`Entry`."""

    __slots__ = ("maps", "keys", "shard_size", "count")

    def __init__(self, capacity: int) -> None:
        self.shard_size = shard_capacity(capacity)
        self.maps: list[dict[bytes, Entry]] = [{} for _ in range(SHARDS)]  # the shards
        self.keys: list[list[bytes]] = [[] for _ in range(SHARDS)]  # each shard's keys, in any order
        self.count = 0  # kept here so the entries gauge never walks the shards

    @property
    def capacity(self) -> int:
        return self.shard_size * SHARDS

    def get(self, key: bytes) -> Entry | None:
        return self.maps[hash(key) & 0xFF].get(key)

    def add(self, key: bytes, entry: Entry) -> bool:
        """Store ``entry``; True when another entry had to be evicted to make room."""
        i = hash(key) & 0xFF
        shard = self.maps[i]
        if key in shard:
            shard[key] = entry
            return False
        keys = self.keys[i]
        if len(keys) >= self.shard_size:
            at = int(random() * len(keys))
            del shard[keys[at]]
            keys[at] = key
            shard[key] = entry
            return True
        keys.append(key)
        shard[key] = entry
        self.count += 1
        return False

    def remove(self, key: bytes) -> None:
        i = hash(key) & 0xFF
        if self.maps[i].pop(key, None) is None:
            return
        keys = self.keys[i]
        at = keys.index(key)
        last = keys.pop()
        if at < len(keys):
            keys[at] = last
        self.count -= 1

    def __len__(self) -> int:
        return self.count
