"""CoreDNS's sharded cache: 256 shards, each with a fixed capacity and random eviction.

Shard capacity is ``max(CAPACITY // 256, 4)``, so the effective size is a multiple of 256 and at
least 1024 (the default 10000 gives 39 per shard, 9984 in all). A full shard evicts one random
entry of its own when a new key arrives (``cachetools.RRCache``), whatever the TTLs.

Every miss stores an entry, and once the cache is full every store evicts one: through
RRCache's own methods that is eight Python calls (``__setitem__`` twice, ``popitem``, the
choice, ``__getitem__``, ``__delitem__`` twice). :meth:`ShardedCache.add` does the same
bookkeeping on the shard's own structures in one call instead (see :class:`_Layout`), when the
installed cachetools keeps them as this module knows it; any other release is called through
its public methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from random import random
from typing import Any

from cachetools import RRCache

from pycoredns.plugins.cache.entry import Entry

SHARDS = 256


def shard_capacity(capacity: int) -> int:
    return max(capacity // SHARDS, 4)


def _any_of(keys: Sequence[bytes]) -> bytes:
    """A uniformly random key to evict (random.choice's pick, without its two Python-level
    calls: once the cache is full, every miss evicts)."""
    return keys[int(random() * len(keys))]


class _Layout:
    """An RRCache's own structures (cachetools 6 and later, without ``getsizeof``): ``data`` (key
    -> value), ``keys`` (every key, in a list the random pick indexes), ``index`` (key -> its
    position in ``keys``) and the ``_Cache__currsize`` count (the number of keys).

    None of a shard when its cachetools keeps them otherwise (cachetools 5's RRCache has no key
    list): the shard is then written through its public methods."""

    __slots__ = ("shard", "data", "keys", "index")

    def __init__(self, shard: Any, data: dict[bytes, Entry], keys: list[bytes], index: dict[bytes, int]) -> None:
        self.shard = shard
        self.data = data
        self.keys = keys
        self.index = index

    @staticmethod
    def of(shard: Any) -> _Layout | None:
        # Read attribute by attribute: asking for the instance's __dict__ would make CPython build
        # one for each of the 512 shards (their attributes are kept without one until then).
        data = getattr(shard, "_Cache__data", None)
        keys = getattr(shard, "_RRCache__keys", None)
        index = getattr(shard, "_RRCache__index", None)
        if (
            type(data) is not dict
            or type(keys) is not list
            or type(index) is not dict
            or type(getattr(shard, "_Cache__currsize", None)) is not int
            or getattr(shard, "_Cache__size", 0) is not None  # sized entries: not this bookkeeping
        ):
            return None
        return _Layout(shard, data, keys, index)


class ShardedCache:
    """Keys are the lower-cased question wire plus the DO/CD byte; values are :class:`Entry`."""

    __slots__ = ("shards", "maps", "layouts", "shard_size", "count")

    def __init__(self, capacity: int) -> None:
        self.shard_size = shard_capacity(capacity)
        self.shards: list[RRCache[bytes, Entry]] = [
            RRCache(self.shard_size, choice=_any_of) for _ in range(SHARDS)
        ]
        # The hit path reads each shard's own mapping: cachetools keeps it as Cache.__data, and a
        # plain dict.get saves three Python-level calls per hit. Should a cachetools release
        # rename it, the shard itself serves (slower).
        self.maps: list[Mapping[bytes, Entry]] = [getattr(s, "_Cache__data", s) for s in self.shards]
        self.layouts: list[_Layout | None] = [_Layout.of(s) for s in self.shards]
        self.count = 0  # kept here so the entries gauge never walks the shards

    @property
    def capacity(self) -> int:
        return self.shard_size * SHARDS

    def get(self, key: bytes) -> Entry | None:
        return self.maps[hash(key) & 0xFF].get(key)

    def add(self, key: bytes, entry: Entry) -> bool:
        """Store ``entry``; True when another entry had to be evicted to make room.

        RRCache's ``__setitem__`` (and, when full, its ``popitem``) done in this one call: the
        evicted key is picked as :func:`_any_of` picks it, and the new key takes its place in the
        key list (RRCache moves the last key there and appends the new one: the same set of keys,
        so the same uniform pick next time)."""
        i = hash(key) & 0xFF
        lay = self.layouts[i]
        if lay is None:
            return self._add_public(i, key, entry)
        data = lay.data
        if key in data:
            data[key] = entry  # a key stored already: only its value changes
            return False
        keys = lay.keys
        n = len(keys)
        if n >= self.shard_size:
            at = int(random() * n)
            old = keys[at]
            del data[old]
            index = lay.index
            del index[old]
            keys[at] = key
            index[key] = at
            data[key] = entry
            return True  # one key out, one in: the shard's size is unchanged
        lay.index[key] = n
        keys.append(key)
        data[key] = entry
        lay.shard._Cache__currsize = n + 1  # the number of keys (no getsizeof: see _Layout)
        self.count += 1
        return False

    def _add_public(self, i: int, key: bytes, entry: Entry) -> bool:
        """:meth:`add` through RRCache's public methods (a cachetools laid out otherwise)."""
        shard = self.shards[i]
        evicted = False
        if key not in shard:
            if len(shard) >= self.shard_size:
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
