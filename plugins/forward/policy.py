"""Upstream selection policies: the order in which one query tries the upstreams."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")

_rng = random.Random()  # ordering only, as CoreDNS's math/rand: nothing secret depends on it


class Policy(Protocol):
    name: str

    def order(self, items: Sequence[T]) -> Sequence[T]: ...


class RandomPolicy:
    """A fresh shuffle per query; with two upstreams a coin flip (CoreDNS's ``random``)."""

    name = "random"

    def order(self, items: Sequence[T]) -> Sequence[T]:
        n = len(items)
        if n == 1:
            return items
        if n == 2:
            return (items[1], items[0]) if _rng.getrandbits(1) else items
        return _rng.sample(items, n)


class RoundRobinPolicy:
    """Each query starts one further along; the rest keep config order (CoreDNS's ``round_robin``).

    The counter is bumped before use, so the first query goes to the second upstream, as in CoreDNS.
    """

    name = "round_robin"

    def __init__(self) -> None:
        self._robin = 0

    def order(self, items: Sequence[T]) -> Sequence[T]:
        self._robin = (self._robin + 1) & 0xFFFFFFFF
        i = self._robin % len(items)
        if i == 0:
            return items
        return [items[i], *items[:i], *items[i + 1 :]]


class SequentialPolicy:
    """Always config order: the first upstream unless it is down (CoreDNS's ``sequential``)."""

    name = "sequential"

    def order(self, items: Sequence[T]) -> Sequence[T]:
        return items


POLICIES: dict[str, type[RandomPolicy] | type[RoundRobinPolicy] | type[SequentialPolicy]] = {
    "random": RandomPolicy,
    "round_robin": RoundRobinPolicy,
    "sequential": SequentialPolicy,
}
