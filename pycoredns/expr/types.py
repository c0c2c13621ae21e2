"""The static types the checker gives expressions, named as expr-lang names them in its errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pycoredns.corefile.values import go_duration


class Duration(int):
    """A Go ``time.Duration`` value: nanoseconds, printed as Go prints it (``1h30m0s``)."""

    def __str__(self) -> str:
        return go_duration(int(self) / 1e9)

    __repr__ = __str__


@dataclass(frozen=True)
class Type:
    """``kind`` is int, float, string, bool, nil, any (unknown until run), array, map or func."""

    kind: str
    elem: Type | None = None

    def __str__(self) -> str:
        if self.kind == "array":
            return "[]" + str(self.elem or ANY)
        return _GO_NAMES.get(self.kind, self.kind)

    @property
    def unknown(self) -> bool:
        return self.kind == "any"

    @property
    def number(self) -> bool:
        # a time.Duration is an int64 to expr: it adds and compares as a number
        return self.kind in ("int", "float", "duration")


_GO_NAMES = {"float": "float64", "any": "interface {}", "map": "map[string]interface {}", "func": "func",
             "time": "time.Time", "duration": "time.Duration"}

INT = Type("int")
FLOAT = Type("float")
STRING = Type("string")
BOOL = Type("bool")
NIL = Type("nil")
ANY = Type("any")
MAP = Type("map")
TIME = Type("time")
DURATION = Type("duration")


def array(elem: Type = ANY) -> Type:
    return Type("array", elem)


def type_of(value: Any) -> Type:
    """The static type of a value (a variable's, when only its value is known)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Duration):
        return DURATION
    if isinstance(value, datetime):
        return TIME
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if value is None:
        return NIL
    if isinstance(value, list):
        return array()
    if isinstance(value, dict):
        return MAP
    return ANY


def go_type_name(value: Any) -> str:
    """A value's Go type as ``%T`` prints it, for runtime errors."""
    return str(type_of(value)) if type_of(value) is not NIL else "<nil>"


@dataclass
class Func:
    """A function of the environment: its parameter types, result type and implementation.

    ``impl(frame, *args)`` gets the running program's frame first (the query, the caller's data)
    and may raise :class:`EvalError` (a Go function's error result). ``params`` None accepts any
    arguments unchecked; ``variadic`` lets the last parameter repeat.
    """

    name: str
    params: list[Type] | None
    result: Type
    impl: Callable[..., Any]
    variadic: bool = False
    doc: str = field(default="", compare=False)
