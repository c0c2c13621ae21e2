"""What a compiled expression runs on: the frame, the node type, and expr's runtime semantics
(equality across numbers, Go's int64 wrap-around and remainder, errors naming Go types)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pycoredns import goregex
from pycoredns.errors import PyCoreDNSError
from pycoredns.expr.gofmt import go_sprint
from pycoredns.expr.types import Duration, Type, go_type_name

_INT64 = 1 << 63


class CompileError(PyCoreDNSError):
    """An expression does not compile; the text is expr-lang's: message, (line:column), snippet."""


class EvalError(PyCoreDNSError):
    """An expression failed while it ran (a function's error, an operand of the wrong type)."""


class Frame:
    """What a running expression sees: the query, the caller's data, the variables, and the
    element of the predicate being evaluated."""

    __slots__ = ("req", "data", "vars", "item", "index", "acc")

    def __init__(self, req: Any, data: Any, variables: dict[str, Any]) -> None:
        self.req = req
        self.data = data
        self.vars = variables
        self.item: Any = None
        self.index = 0
        self.acc: Any = None

    def child(self) -> Frame:
        f = Frame(self.req, self.data, self.vars)
        return f


Eval = Callable[[Frame], Any]


@dataclass
class Node:
    type: Type
    fn: Eval
    pos: int
    const: Any = None  # the value of a literal (a regex checked at compile time)
    is_const: bool = False
    chain: Node | None = None  # right operand of an unparenthesised relational comparison


class Scope:
    """A predicate's scope: the type of its element (``#``), and of ``#acc`` in reduce's."""

    def __init__(self, item: Type, acc: Type | None = None) -> None:
        self.item = item
        self.acc = acc


def wrap(v: int) -> int:
    """Go's int64 arithmetic wraps around."""
    if -_INT64 <= v < _INT64:
        return v
    return (v + _INT64) % (1 << 64) - _INT64


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool:
    """expr's runtime.Equal: numbers compare by value across int and float; bool never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_num(a) and is_num(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and not (a is None or b is None):
        return False
    return bool(a == b)


def bad(op: str, a: Any, b: Any) -> EvalError:
    return EvalError(f"invalid operation: {go_type_name(a)} {op} {go_type_name(b)}")


def arith(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, datetime) or isinstance(b, datetime) or _duration(a, b):
        return _time_arith(op, a, b)
    if not (is_num(a) and is_num(b)):
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        raise bad(op, a, b)
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "+":
        return wrap(a + b) if both_int else float(a) + float(b)
    if op == "-":
        return wrap(a - b) if both_int else float(a) - float(b)
    if op == "*":
        return wrap(a * b) if both_int else float(a) * float(b)
    if op == "/":
        x, y = float(a), float(b)
        if y == 0:
            return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1.0, y)
        return x / y
    if op == "%":
        if not both_int:
            raise bad(op, a, b)
        if b == 0:
            raise EvalError("integer divide by zero")
        q = abs(a) // abs(b)
        return a - b * (q if (a >= 0) == (b >= 0) else -q)
    # ** and ^: always a float
    try:
        return math.pow(float(a), float(b))
    except (OverflowError, ValueError):
        return math.inf if float(a) > 0 else math.nan


def _duration(a: Any, b: Any) -> bool:
    return isinstance(a, Duration) or isinstance(b, Duration)


def _time_arith(op: str, a: Any, b: Any) -> Any:
    """expr's time operators: time - time is a duration, time +/- duration a time; a duration
    with a duration or an integer stays a duration (expr keeps the time.Duration type)."""
    if isinstance(a, datetime) and isinstance(b, datetime) and op == "-":
        return between(a, b)
    if isinstance(a, datetime) and isinstance(b, int) and is_num(b) and op in ("+", "-"):
        return a + timedelta(microseconds=(b if op == "+" else -b) / 1000)
    if isinstance(b, datetime) and isinstance(a, int) and is_num(a) and op == "+":
        return b + timedelta(microseconds=a / 1000)
    if is_num(a) and is_num(b) and op in ("+", "-", "*") and isinstance(a, int) and isinstance(b, int):
        return Duration(arith(op, int(a), int(b)))
    if is_num(a) and is_num(b):
        return arith(op, float(a) if isinstance(a, float) else int(a), float(b) if isinstance(b, float) else int(b))
    raise bad(op, a, b)


def between(t: datetime, u: datetime) -> Duration:
    """``t.Sub(u)``."""
    delta = t - u
    return Duration((delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        pass
    elif not ((is_num(a) and is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise bad(op, a, b)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def as_bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise EvalError(f"invalid operation: {what} (non-bool value {go_type_name(v)})")
    return v


def member(base: Any, key: Any, optional: bool) -> Any:
    if base is None:
        if optional:
            return None
        raise EvalError(f"cannot fetch {go_sprint(key)} from <nil>")
    if isinstance(base, dict):
        return base.get(key)
    if isinstance(base, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
        i = key + len(base) if key < 0 else key
        if not 0 <= i < len(base):
            raise EvalError(f"index out of range: {key} (array length is {len(base)})")
        return base[i]
    raise EvalError(f"cannot fetch {go_sprint(key)} from {go_type_name(base)}")


def value_in(a: Any, b: Any) -> bool:
    if isinstance(b, dict):
        return a in b
    if isinstance(b, list):
        return any(equal(a, x) for x in b)
    if b is None:
        return False
    raise EvalError(f'operator "in" not defined on {go_type_name(b)}')


def strings_op(op: str, a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise bad(op, a, b)
    if op == "contains":
        return b in a
    if op == "startsWith":
        return a.startswith(b)
    return a.endswith(b)


def matches(value: Any, pattern: Any) -> bool:
    if not isinstance(value, str):
        raise EvalError(f"invalid operation: matches on {go_type_name(value)}")
    if isinstance(pattern, str):
        try:
            pattern = goregex.compile_go(pattern)
        except re.error as e:
            raise EvalError(f"error parsing regexp: {e}") from None
    return pattern.search(value) is not None


def range_of(a: Any, b: Any) -> list[int]:
    if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
        raise bad("..", a, b)
    if b - a > 1_000_000:
        raise EvalError("range too large")
    return list(range(a, b + 1))




class Checker(Protocol):
    """What a builtin needs of the compiler to compile its own arguments."""

    def node(self, tree: Any, scope: Scope | None) -> Node: ...

    def err(self, pos: int, message: str) -> CompileError: ...
