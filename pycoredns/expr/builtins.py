"""expr-lang's builtin functions: strings, numbers, conversions, arrays with predicates,
dates and durations, JSON, grouping, sorting, reducing and pairs. Each compiles its own
arguments, so that a predicate (``any(list, incidr(ip, #))``) is checked with ``#`` bound to the
element type (and ``#acc`` to the accumulator in ``reduce``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pycoredns.corefile.values import go_strconv_quote, parse_atoi
from pycoredns.expr import timeval
from pycoredns.expr.gofmt import go_sprint
from pycoredns.expr.runtime import Checker, EvalError, Frame, Node, Scope, as_bool, equal, is_num
from pycoredns.expr.types import (
    ANY,
    BOOL,
    DURATION,
    FLOAT,
    INT,
    MAP,
    STRING,
    TIME,
    Duration,
    Type,
    array,
    go_type_name,
)

if TYPE_CHECKING:
    from lark import Tree

Builtin = Callable[[Checker, list["Tree"], "Scope | None", int], Node]

# Every builtin name expr knows (builtin/builtin.go): none of them can name a variable.
BUILTIN_NAMES = frozenset(
    "all none any one filter map find findIndex findLast findLastIndex count sum groupBy sortBy reduce len type "
    "abs ceil floor round int float string trim trimPrefix trimSuffix upper lower split splitAfter replace "
    "repeat join indexOf lastIndexOf hasPrefix hasSuffix max min mean median toJSON fromJSON toBase64 "
    "fromBase64 now duration date timezone first last get take keys values toPairs fromPairs reverse uniq "
    "concat flatten sort bitand bitor bitxor bitnand bitnot bitshl bitshr bitushr".split()
)


def _count(c: Checker, name: str, args: list[Tree], pos: int, low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        expected = low if low == high else f"{low}-{high}" if high < 99 else f"at least {low}"
        raise c.err(pos, f"invalid number of arguments (expected {expected}, got {len(args)})")


def _plain(c: Checker, name: str, args: list[Tree], scope: Scope | None) -> list[Node]:
    return [c.node(a, scope) for a in args]


def _want(c: Checker, name: str, n: Node, *kinds: str) -> None:
    t = n.type
    if t.unknown or "any" in kinds or t.kind in kinds or ("number" in kinds and t.number):
        return
    raise c.err(n.pos, f"invalid argument for {name} (type {t})")


def _simple(
    name: str, kinds: list[tuple[str, ...]], result: Type, impl: Callable[..., Any], optional: int = 0
) -> Builtin:
    """A builtin over plain values: argument kinds checked at compile time and at run time."""

    def build(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
        _count(c, name, args, pos, len(kinds) - optional, len(kinds))
        nodes = _plain(c, name, args, scope)
        for n, k in zip(nodes, kinds, strict=False):
            _want(c, name, n, *k)
        fns = [n.fn for n in nodes]

        def run(f: Frame) -> Any:
            values = [fn(f) for fn in fns]
            for v, k in zip(values, kinds, strict=False):
                if not _kind_ok(v, k):
                    raise EvalError(f"invalid argument for {name} (type {go_type_name(v)})")
            return impl(*values)

        return Node(result, run, pos)

    return build


def _kind_ok(v: Any, kinds: tuple[str, ...]) -> bool:
    if "any" in kinds:
        return True
    if isinstance(v, bool):
        return "bool" in kinds
    if isinstance(v, int):
        return "int" in kinds or "number" in kinds
    if isinstance(v, float):
        return "float" in kinds or "number" in kinds
    if isinstance(v, str):
        return "string" in kinds
    if isinstance(v, list):
        return "array" in kinds
    if isinstance(v, dict):
        return "map" in kinds
    return v is None and "nil" in kinds


S, N, INTEGER, A, M, X = ("string",), ("number",), ("int",), ("array",), ("map",), ("any",)


# -- conversions -------------------------------------------------------------------------------------
def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise EvalError("invalid operation: int(bool)")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise EvalError(f"invalid operation: int({go_sprint(v)})")
        return int(v)
    if isinstance(v, str):
        try:
            return parse_atoi(v)
        except ValueError as e:
            raise EvalError(str(e)) from None
    raise EvalError(f"invalid operation: int({go_type_name(v)})")


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise EvalError("invalid operation: float(bool)")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            if not v or v != v.strip() or "_" in v:  # Go takes neither spaces nor bare underscores
                raise ValueError
            return float(v)
        except ValueError:
            raise EvalError(f"strconv.ParseFloat: parsing {go_strconv_quote(v)}: invalid syntax") from None
    raise EvalError(f"invalid operation: float({go_type_name(v)})")


def _split(s: str, sep: str, n: int = -1, after: bool = False) -> list[str]:
    """Go's strings.SplitN / SplitAfterN."""
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if n > 0 and len(chars) > n:
            chars = chars[: n - 1] + ["".join(chars[n - 1 :])]
        return chars
    parts = s.split(sep, n - 1) if n > 0 else s.split(sep)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return parts


def _repeat(s: str, n: int) -> str:
    if n < 0:
        raise EvalError("strings: negative Repeat count")
    if len(s) * n > 1 << 20:
        raise EvalError("strings: Repeat output length overflow")
    return s * n


def _trim(s: str, cutset: str | None = None) -> str:
    return s.strip() if cutset is None else s.strip(cutset)


def _join(values: list[Any], sep: str = "") -> str:
    if not all(isinstance(v, str) for v in values):
        raise EvalError("invalid argument for join (type []interface {})")
    return sep.join(values)


def _abs(v: Any) -> Any:
    return abs(v)


def _round(v: Any) -> float:
    """Go's math.Round: half away from zero."""
    x = float(v)
    return math.copysign(math.floor(abs(x) + 0.5), x) if not (math.isinf(x) or math.isnan(x)) else x


def _from_base64(s: str) -> str:
    try:
        return base64.b64decode(s.encode(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as e:
        raise EvalError(f"illegal base64 data: {e}") from None


def _bits(op: str) -> Callable[..., int]:
    mask = (1 << 64) - 1

    def signed(v: int) -> int:
        v &= mask
        return v - (1 << 64) if v >= 1 << 63 else v

    ops: dict[str, Callable[..., int]] = {
        "bitand": lambda a, b: signed(a & b),
        "bitor": lambda a, b: signed(a | b),
        "bitxor": lambda a, b: signed(a ^ b),
        "bitnand": lambda a, b: signed(a & ~b),
        "bitnot": lambda a: signed(~a),
        "bitshl": lambda a, b: signed(a << b) if b >= 0 else _neg_shift(),
        "bitshr": lambda a, b: a >> b if b >= 0 else _neg_shift(),
        "bitushr": lambda a, b: signed((a & mask) >> b) if b >= 0 else _neg_shift(),
    }
    return ops[op]


def _neg_shift() -> int:
    raise EvalError("invalid operation: negative shift amount")


def _minmax(name: str) -> Builtin:
    pick = max if name == "max" else min

    def build(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
        if not args:
            raise c.err(pos, f"not enough arguments to call {name}")
        nodes = _plain(c, name, args, scope)
        for n in nodes:
            _want(c, name, n, "number", "array")
        kinds = {n.type.kind for n in nodes}
        result = INT if kinds == {"int"} else FLOAT if kinds <= {"int", "float"} and "float" in kinds else ANY
        fns = [n.fn for n in nodes]

        def run(f: Frame) -> Any:
            values: list[Any] = []
            for fn in fns:
                v = fn(f)
                values.extend(v if isinstance(v, list) else [v])
            if not values or not all(is_num(v) for v in values):
                raise EvalError(f"invalid argument for {name}")
            return pick(values)

        return Node(result, run, pos)

    return build


# -- arrays and predicates ---------------------------------------------------------------------------
def _array_arg(c: Checker, name: str, tree: Tree, scope: Scope | None) -> Node:
    n = c.node(tree, scope)
    if not (n.type.unknown or n.type.kind == "array"):
        raise c.err(n.pos, f"builtin {name} takes only array (got {n.type})")
    return n


def _predicate(c: Checker, tree: Tree, item: Type) -> Node:
    body = tree.children[0] if getattr(tree, "data", None) == "closure" else tree
    return c.node(body, Scope(item))


def _elements(name: str, v: Any) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise EvalError(f"builtin {name} takes only array (got {go_type_name(v)})")
    return v


def _predicated(
    name: str, result_of: Callable[[Type, Node], Type], boolean: bool, run_with: Callable[..., Any]
) -> Builtin:
    def build(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
        optional = name in ("count", "sum")
        _count(c, name, args, pos, 1 if optional else 2, 2)
        arr = _array_arg(c, name, args[0], scope)
        elem = arr.type.elem if arr.type.kind == "array" and arr.type.elem else ANY
        pred = _predicate(c, args[1], elem) if len(args) == 2 else None
        if pred is not None and boolean and not (pred.type.kind == "bool" or pred.type.unknown):
            raise c.err(pred.pos, f"predicate should return boolean (got {pred.type})")
        afn = arr.fn
        pfn = pred.fn if pred is not None else None

        def run(f: Frame) -> Any:
            items = _elements(name, afn(f))
            child = f.child()

            def test(i: int, v: Any) -> Any:
                if pfn is None:
                    return v
                child.item, child.index = v, i
                out = pfn(child)
                return as_bool(out, f"predicate of {name}") if boolean else out

            return run_with(items, test)

        return Node(result_of(elem, pred) if pred is not None else result_of(elem, arr), run, pos)

    return build


def _all(items: list[Any], test: Callable[[int, Any], Any]) -> bool:
    return all(test(i, v) for i, v in enumerate(items))


def _any(items: list[Any], test: Callable[[int, Any], Any]) -> bool:
    return any(test(i, v) for i, v in enumerate(items))


def _none(items: list[Any], test: Callable[[int, Any], Any]) -> bool:
    return not any(test(i, v) for i, v in enumerate(items))


def _one(items: list[Any], test: Callable[[int, Any], Any]) -> bool:
    return sum(1 for i, v in enumerate(items) if test(i, v)) == 1


def _filter(items: list[Any], test: Callable[[int, Any], Any]) -> list[Any]:
    return [v for i, v in enumerate(items) if test(i, v)]


def _map(items: list[Any], test: Callable[[int, Any], Any]) -> list[Any]:
    return [test(i, v) for i, v in enumerate(items)]


def _count_true(items: list[Any], test: Callable[[int, Any], Any]) -> int:
    n = 0
    for i, v in enumerate(items):
        got = test(i, v)
        if not isinstance(got, bool):
            raise EvalError(f"invalid argument for count (type {go_type_name(got)})")
        n += got
    return n


def _sum(items: list[Any], test: Callable[[int, Any], Any]) -> Any:
    total: Any = 0
    for i, v in enumerate(items):
        got = test(i, v)
        if not is_num(got):
            raise EvalError(f"invalid argument for sum (type {go_type_name(got)})")
        total = total + got
    return total


def _find(last: bool, index: bool) -> Callable[[list[Any], Callable[[int, Any], Any]], Any]:
    def run(items: list[Any], test: Callable[[int, Any], Any]) -> Any:
        order = range(len(items) - 1, -1, -1) if last else range(len(items))
        for i in order:
            if test(i, items[i]):
                return i if index else items[i]
        return -1 if index else None

    return run


def _first_last(name: str) -> Builtin:
    def build(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
        _count(c, name, args, pos, 1)
        arr = _array_arg(c, name, args[0], scope)
        afn = arr.fn
        elem = arr.type.elem if arr.type.kind == "array" and arr.type.elem else ANY

        def run(f: Frame) -> Any:
            items = _elements(name, afn(f))
            if not items:
                return None
            return items[0] if name == "first" else items[-1]

        return Node(elem, run, pos)

    return build


def _get(v: Any, key: Any) -> Any:
    if isinstance(v, dict):
        return v.get(key)
    if isinstance(v, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
        i = key + len(v) if key < 0 else key
        return v[i] if 0 <= i < len(v) else None
    return None


def _uniq(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        if not any(equal(v, seen) for seen in out):
            out.append(v)
    return out


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        out.extend(_flatten(v) if isinstance(v, list) else [v])
    return out


def _sort(items: list[Any], order: str = "asc") -> list[Any]:
    if order not in ("asc", "desc"):
        raise EvalError(f"unknown order {order}, use asc or desc")
    if not (all(is_num(v) for v in items) or all(isinstance(v, str) for v in items)):
        raise EvalError("invalid argument for sort")
    return sorted(items, reverse=order == "desc")


def _concat(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
    if not args:
        raise c.err(pos, "invalid number of arguments (expected at least 1, got 0)")
    nodes = [_array_arg(c, "concat", a, scope) for a in args]
    fns = [n.fn for n in nodes]
    return Node(array(), lambda f: [v for fn in fns for v in _elements("concat", fn(f))], pos)


def _mean(items: list[Any]) -> float:
    if not all(is_num(v) for v in items):
        raise EvalError("invalid argument for mean")
    return float(sum(items)) / len(items) if items else 0.0


def _median(items: list[Any]) -> float:
    if not all(is_num(v) for v in items):
        raise EvalError("invalid argument for median")
    s = sorted(items)
    if not s:
        return 0.0
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


BUILTINS: dict[str, Builtin] = {
    "len": _simple("len", [("array", "map", "string")], INT, len),
    "int": _simple("int", [("number", "string")], INT, _to_int),
    "float": _simple("float", [("number", "string")], FLOAT, _to_float),
    "string": _simple("string", [X], STRING, go_sprint),
    "trim": _simple("trim", [S, S], STRING, _trim, optional=1),
    "trimPrefix": _simple("trimPrefix", [S, S], STRING, lambda s, p: s.removeprefix(p)),
    "trimSuffix": _simple("trimSuffix", [S, S], STRING, lambda s, p: s.removesuffix(p)),
    "upper": _simple("upper", [S], STRING, str.upper),
    "lower": _simple("lower", [S], STRING, str.lower),
    "split": _simple("split", [S, S, INTEGER], array(STRING), _split, optional=1),
    "splitAfter": _simple("splitAfter", [S, S, INTEGER], array(STRING), lambda s, d, n=-1: _split(s, d, n, True), 1),
    "replace": _simple("replace", [S, S, S], STRING, lambda s, old, new: s.replace(old, new)),
    "repeat": _simple("repeat", [S, INTEGER], STRING, _repeat),
    "join": _simple("join", [A, S], STRING, _join, optional=1),
    "indexOf": _simple("indexOf", [S, S], INT, lambda s, sub: s.find(sub)),
    "lastIndexOf": _simple("lastIndexOf", [S, S], INT, lambda s, sub: s.rfind(sub)),
    "hasPrefix": _simple("hasPrefix", [S, S], BOOL, lambda s, p: s.startswith(p)),
    "hasSuffix": _simple("hasSuffix", [S, S], BOOL, lambda s, p: s.endswith(p)),
    "abs": _simple("abs", [N], ANY, _abs),
    "ceil": _simple("ceil", [N], FLOAT, lambda v: float(math.ceil(v)) if math.isfinite(v) else float(v)),
    "floor": _simple("floor", [N], FLOAT, lambda v: float(math.floor(v)) if math.isfinite(v) else float(v)),
    "round": _simple("round", [N], FLOAT, _round),
    "max": _minmax("max"),
    "min": _minmax("min"),
    "mean": _simple("mean", [A], FLOAT, _mean),
    "median": _simple("median", [A], FLOAT, _median),
    "toBase64": _simple("toBase64", [S], STRING, lambda s: base64.b64encode(s.encode()).decode()),
    "fromBase64": _simple("fromBase64", [S], STRING, _from_base64),
    "all": _predicated("all", lambda e, p: BOOL, True, _all),
    "any": _predicated("any", lambda e, p: BOOL, True, _any),
    "none": _predicated("none", lambda e, p: BOOL, True, _none),
    "one": _predicated("one", lambda e, p: BOOL, True, _one),
    "filter": _predicated("filter", lambda e, p: array(e), True, _filter),
    "map": _predicated("map", lambda e, p: array(p.type), False, _map),
    "count": _predicated("count", lambda e, p: INT, True, _count_true),
    "sum": _predicated("sum", lambda e, p: ANY, False, _sum),
    "find": _predicated("find", lambda e, p: e, True, _find(False, False)),
    "findIndex": _predicated("findIndex", lambda e, p: INT, True, _find(False, True)),
    "findLast": _predicated("findLast", lambda e, p: e, True, _find(True, False)),
    "findLastIndex": _predicated("findLastIndex", lambda e, p: INT, True, _find(True, True)),
    "first": _first_last("first"),
    "last": _first_last("last"),
    "get": _simple("get", [X, X], ANY, _get),
    "take": _simple("take", [A, INTEGER], array(), lambda a, n: a[: max(n, 0)]),
    "keys": _simple("keys", [M], array(), lambda m: list(m)),
    "values": _simple("values", [M], array(), lambda m: list(m.values())),
    "reverse": _simple("reverse", [A], array(), lambda a: a[::-1]),
    "uniq": _simple("uniq", [A], array(), _uniq),
    "flatten": _simple("flatten", [A], array(), _flatten),
    "sort": _simple("sort", [A, S], array(), _sort, optional=1),
    "concat": _concat,
    **{
        op: _simple(op, [INTEGER, INTEGER], INT, _bits(op))
        for op in ("bitand", "bitor", "bitxor", "bitnand", "bitshl", "bitshr", "bitushr")
    },
    "bitnot": _simple("bitnot", [INTEGER], INT, _bits("bitnot")),
}


# -- dates and durations -----------------------------------------------------------------------------
def _date(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
    _count(c, "date", args, pos, 1, 3)
    nodes = _plain(c, "date", args, scope)
    for n in nodes[1:]:
        _want(c, "date", n, "string")
    fns = [n.fn for n in nodes]
    return Node(TIME, lambda f: timeval.date(*[fn(f) for fn in fns]), pos)


def _timezone(name: str) -> Any:
    return timeval.location(name)


# -- JSON ----------------------------------------------------------------------------------------------
def go_json(v: Any, indent: str = "  ", level: int = 0) -> str:
    """``json.MarshalIndent(v, "", "  ")``: map keys sorted, ``<``, ``>``, ``&`` escaped as Go does,
    floats in Go's shortest form."""
    pad, inner = "\n" + indent * level, "\n" + indent * (level + 1)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Duration):
        return str(int(v))
    if isinstance(v, int):
        return str(int(v))  # a Month or Weekday is a number to encoding/json
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise EvalError(f"json: unsupported value: {go_sprint(v)}")
        text = go_sprint(v)
        return text.replace("e+0", "e+").replace("e-0", "e-") if "e" in text else text
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, datetime):
        return _json_string(timeval.go_format(v, "2006-01-02T15:04:05.999999999Z07:00"))
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[" + ",".join(inner + go_json(x, indent, level + 1) for x in v) + pad + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        if not all(isinstance(k, str) for k in v):
            raise EvalError("json: unsupported type: map[interface {}]interface {}")
        return "{" + ",".join(f"{inner}{_json_string(k)}: {go_json(v[k], indent, level + 1)}" for k in sorted(v)) \
            + pad + "}"
    raise EvalError(f"json: unsupported type: {go_type_name(v)}")


def _json_string(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    # encoding/json escapes HTML-significant characters and the JavaScript line separators
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        out = out.replace(ch, esc)
    return out


def _from_json(s: str) -> Any:
    try:
        # encoding/json decodes every number into a float64 when the target is interface{}
        return json.loads(s, parse_int=float, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise EvalError(f"invalid character in JSON: {e}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


# -- grouping, sorting, reducing, pairs ----------------------------------------------------------------
def _group_by(items: list[Any], test: Callable[[int, Any], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for i, v in enumerate(items):
        key = test(i, v)
        try:
            out.setdefault(key, []).append(v)
        except TypeError:
            raise EvalError(f"runtime error: hash of unhashable type {go_type_name(key)}") from None
    return out


def _sort_by(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
    _count(c, "sortBy", args, pos, 2, 3)
    arr = _array_arg(c, "sortBy", args[0], scope)
    elem = arr.type.elem if arr.type.kind == "array" and arr.type.elem else ANY
    pred = _predicate(c, args[1], elem)
    order = c.node(args[2], scope) if len(args) == 3 else None
    if order is not None:
        _want(c, "sortBy", order, "string")
    afn, pfn = arr.fn, pred.fn
    ofn = order.fn if order is not None else None

    def run(f: Frame) -> list[Any]:
        items = _elements("sortBy", afn(f))
        direction = ofn(f) if ofn is not None else "asc"
        if direction not in ("asc", "desc"):
            raise EvalError(f"unknown order {direction}, use asc or desc")
        child = f.child()
        keyed = []
        for i, v in enumerate(items):
            child.item, child.index = v, i
            keyed.append((pfn(child), v))
        keys = [k for k, _ in keyed]
        if not (all(is_num(k) for k in keys) or all(isinstance(k, str) for k in keys)
                or all(isinstance(k, datetime) for k in keys)):
            raise EvalError("invalid argument for sortBy")
        keyed.sort(key=lambda kv: kv[0], reverse=direction == "desc")  # stable, as Go's sort.SliceStable
        return [v for _, v in keyed]

    return Node(array(elem), run, pos)


def _reduce(c: Checker, args: list[Tree], scope: Scope | None, pos: int) -> Node:
    _count(c, "reduce", args, pos, 2, 3)
    arr = _array_arg(c, "reduce", args[0], scope)
    elem = arr.type.elem if arr.type.kind == "array" and arr.type.elem else ANY
    body = args[1].children[0] if getattr(args[1], "data", None) == "closure" else args[1]
    pred = c.node(body, Scope(elem, ANY))
    initial = c.node(args[2], scope) if len(args) == 3 else None
    afn, pfn = arr.fn, pred.fn
    ifn = initial.fn if initial is not None else None

    def run(f: Frame) -> Any:
        items = _elements("reduce", afn(f))
        start = 0
        if ifn is not None:
            acc = ifn(f)
        elif items:
            acc, start = items[0], 1
        else:
            raise EvalError("reduce of empty array with no initial value")
        child = f.child()
        for i in range(start, len(items)):
            child.item, child.index, child.acc = items[i], i, acc
            acc = pfn(child)
        return acc

    return Node(pred.type, run, pos)


def _to_pairs(m: dict[Any, Any]) -> list[list[Any]]:
    return [[k, m[k]] for k in sorted(m, key=lambda k: (str(type(k)), k))]


def _from_pairs(pairs: list[Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for p in pairs:
        if not isinstance(p, list) or len(p) != 2:
            raise EvalError("invalid pair")
        out[p[0]] = p[1]
    return out


def _type_name(v: Any) -> str:
    """expr's ``type(v)``."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Duration):
        return "time.Duration"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, datetime):
        return "time.Time"
    return "unknown"


BUILTINS.update({
    "now": _simple("now", [], TIME, timeval.now),
    "duration": _simple("duration", [S], DURATION, timeval.parse),
    "date": _date,
    "timezone": _simple("timezone", [S], ANY, _timezone),
    "toJSON": _simple("toJSON", [X], STRING, go_json),
    "fromJSON": _simple("fromJSON", [S], ANY, _from_json),
    "groupBy": _predicated("groupBy", lambda e, p: MAP, False, _group_by),
    "sortBy": _sort_by,
    "reduce": _reduce,
    "toPairs": _simple("toPairs", [M], array(array()), _to_pairs),
    "fromPairs": _simple("fromPairs", [A], MAP, _from_pairs),
    "type": _simple("type", [X], STRING, _type_name),
})
