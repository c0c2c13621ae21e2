"""Typed keys and the stores they index: per server block, and per process (outliving reloads).

A plugin that shares a value with another plugin, or keeps one across reloads, declares a
:class:`Key` once at module level and reads and writes through it; the key's type parameter is
what ``get`` returns, so the store is typed without a string convention between plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class Key(Generic[T]):
    """A typed key: ``ROOT: Key[str] = Key("root")``. Keys compare by identity, so two plugins
    that pick the same name still never see each other's values."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class Store:
    """Values indexed by :class:`Key`."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[Key[Any], Any] = {}

    def get(self, key: Key[T]) -> T | None:
        return cast("T | None", self._values.get(key))

    def set(self, key: Key[T], value: T) -> None:
        self._values[key] = value

    def setdefault(self, key: Key[T], make: Callable[[], T]) -> T:
        """The value under ``key``, made with ``make()`` and stored on first use."""
        if key in self._values:
            return cast(T, self._values[key])
        value = self._values[key] = make()
        return value

    def pop(self, key: Key[T]) -> T | None:
        return cast("T | None", self._values.pop(key, None))

    def __contains__(self, key: Key[Any]) -> bool:
        return key in self._values
