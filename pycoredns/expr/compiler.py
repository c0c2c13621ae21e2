"""Compile an expression: parse it with the Lark grammar, check its types against the environment
(with expr-lang's error texts and positions), and build a tree of closures that evaluates it.

The checks are expr's checker's, as far as the supported language goes: unknown names, operand
types of each operator (``invalid operation: + (mismatched types string and int)``), argument
counts and types of calls. A value whose type is only known when the expression runs (``any``)
passes every check and is checked when it is used.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, cast

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pycoredns import goregex
from pycoredns.corefile.values import go_strconv_quote
from pycoredns.expr import timeval
from pycoredns.expr.builtins import BUILTIN_NAMES, BUILTINS
from pycoredns.expr.runtime import (
    CompileError,
    Eval,
    EvalError,
    Frame,
    Node,
    Scope,
    arith,
    as_bool,
    compare,
    equal,
    go_type_name,
    is_num,
    matches,
    member,
    range_of,
    strings_op,
    value_in,
    wrap,
)
from pycoredns.expr.types import (
    ANY,
    BOOL,
    DURATION,
    FLOAT,
    INT,
    MAP,
    NIL,
    STRING,
    TIME,
    Duration,
    Func,
    Type,
    array,
    type_of,
)

_PARSER: Lark | None = None
_KIND_TYPES = {"int": INT, "float": FLOAT, "string": STRING, "bool": BOOL, "time": TIME, "duration": DURATION,
               "any": ANY}


def _parser() -> Lark:
    """The grammar, built on first use: only a Corefile with expressions pays for it."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(
            (Path(__file__).parent / "expr.lark").read_text(),
            parser="lalr",
            lexer="contextual",
            maybe_placeholders=True,
            propagate_positions=True,
        )
    return _PARSER


# Words the expr lexer reads as operators, and literals: never a variable's name.
KEYWORDS = frozenset(
    "not in and or matches contains startsWith endsWith let if else true false nil".split()
)
_OPERATOR_WORDS = KEYWORDS - {"true", "false", "nil"}
_INT64 = 1 << 63


class Env:
    """What an expression may name: variables (with their static types) and functions."""

    def __init__(self) -> None:
        self.variables: dict[str, Type] = {}
        self.functions: dict[str, Func] = {}

    def copy(self) -> Env:
        env = Env()
        env.variables = dict(self.variables)
        env.functions = dict(self.functions)
        return env

    def add_function(self, func: Func) -> None:
        self.functions[func.name] = func

    def add_variable(self, name: str, type_: Type) -> None:
        self.variables[name] = type_

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.functions


class Program:
    """A compiled expression. ``type`` is its static result type (``any`` when only known at run)."""

    def __init__(self, source: str, node: Node) -> None:
        self.source = source
        self.type = node.type
        self._fn = node.fn

    def run(self, req: Any = None, variables: dict[str, Any] | None = None, data: Any = None) -> Any:
        """Evaluate for one query; raises :class:`EvalError`."""
        try:
            return self._fn(Frame(req, data, variables if variables is not None else {}))
        except EvalError:
            raise
        except RecursionError:
            raise EvalError("expression too deep") from None
        except (TypeError, ValueError, ZeroDivisionError, OverflowError, IndexError, KeyError) as e:
            raise EvalError(str(e)) from None

    def __repr__(self) -> str:
        return f"Program({self.source!r}, {self.type})"


def error_at(source: str, pos: int, message: str) -> CompileError:
    """expr's file.Error: ``message (line:column)`` and the line with a caret under ``pos``."""
    line_start = source.rfind("\n", 0, pos) + 1
    line = source[:pos].count("\n") + 1
    column = pos - line_start
    end = source.find("\n", line_start)
    text = source[line_start : end if end >= 0 else len(source)]
    if not text:
        return CompileError(message)
    return CompileError(f"{message} ({line}:{column + 1})\n | {text.replace(chr(9), ' ')}\n | {'.' * column}^")


def compile(source: str, env: Env) -> Program:
    """Parse and check ``source`` against ``env``; raises :class:`CompileError`."""
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as e:
        raise _syntax_error(source, e) from None
    node = _Compiler(source, env).node(tree, None)
    return Program(source, node)


def is_identifier(name: str) -> bool:
    """CoreDNS's isExprIdentifier: the text parses as a lone identifier (not a keyword or literal)."""
    return re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_]*", name) is not None and name not in KEYWORDS


# -- syntax errors ---------------------------------------------------------------------------------
def _token_text(kind: str, value: str) -> str:
    """A token as expr prints it: ``Identifier("x")``, ``Operator("+")``, ``EOF``."""
    return f"{kind}({go_strconv_quote(value)})"


def _kind(token: Token) -> str:
    t = token.type
    if t == "NAME":
        return "Operator" if token.value in _OPERATOR_WORDS else "Identifier"
    if t in ("INT", "FLOAT"):
        return "Number"
    if t in ("STRING", "RAW_STRING"):
        return "String"
    if token.value in ("(", ")", "[", "]", "{", "}"):
        return "Bracket"
    return "Operator"


def _syntax_error(source: str, e: UnexpectedInput) -> CompileError:
    if isinstance(e, UnexpectedToken) and e.token.type == "$END" or isinstance(e, UnexpectedEOF):
        return error_at(source, max(len(source) - 1, 0), "unexpected token EOF")
    if isinstance(e, UnexpectedToken):
        tok = e.token
        value = tok.value
        if tok.type == "STRING":
            value = _unquote(value)
        elif tok.type == "RAW_STRING":
            value = value[1:-1]
        return error_at(source, tok.start_pos or 0, f"unexpected token {_token_text(_kind(tok), value)}")
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = source[pos]
        if ch in "'\"`":
            return error_at(source, pos, "literal not terminated")
        return error_at(source, pos, f"unrecognized character: U+{ord(ch):04X} '{ch}'")
    return CompileError(str(e))


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def _unquote(text: str) -> str:
    """A quoted string literal's value, with Go's escapes."""
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif nxt in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"invalid char escape: \\{nxt}")
    return "".join(out)


# -- the checker and code generator ----------------------------------------------------------------
def _comparable(a: Type, b: Type) -> bool:
    """expr's ComparableTo: unknown or nil on either side, two numbers, or the same kind."""
    return a.unknown or b.unknown or "nil" in (a.kind, b.kind) or (a.number and b.number) or a.kind == b.kind


class _Compiler:
    def __init__(self, source: str, env: Env) -> None:
        self.source = source
        self.env = env
        self.lets: set[str] = set()  # the variables of the enclosing let expressions

    def err(self, pos: int, message: str) -> CompileError:
        return error_at(self.source, pos, message)

    @staticmethod
    def pos(tree: Tree | Token) -> int:
        if isinstance(tree, Token):
            return tree.start_pos or 0
        return getattr(tree.meta, "start_pos", 0) if not tree.meta.empty else 0

    def node(self, tree: Tree | Token, scope: Scope | None) -> Node:
        if isinstance(tree, Token):  # a bare token only stands for itself in a key
            return self.literal(STRING, tree.value, self.pos(tree))
        method = getattr(self, "c_" + str(tree.data), None)
        if method is None:
            raise self.err(self.pos(tree), f"unsupported expression {tree.data}")
        result: Node = method(tree, scope)
        return result

    @staticmethod
    def literal(t: Type, value: Any, pos: int) -> Node:
        return Node(t, lambda f: value, pos, value, True)

    # -- literals and names ----------------------------------------------------------------------
    def c_int_(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        text = str(tok).replace("_", "")
        low = text.lower()
        base = 16 if low.startswith("0x") else 8 if low.startswith("0o") else 2 if low.startswith("0b") else 10
        value = int(text[2:] if base != 10 else text, base)
        if value >= _INT64:
            raise self.err(self.pos(tok), "integer literal is too large")
        return self.literal(INT, value, self.pos(tok))

    def c_float_(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        value = float(str(tok).replace("_", ""))
        if math.isinf(value):
            raise self.err(self.pos(tok), "float literal is too large")
        return self.literal(FLOAT, value, self.pos(tok))

    def c_string(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        try:
            value = _unquote(str(tok))
        except (ValueError, IndexError) as e:
            raise self.err(self.pos(tok), str(e)) from None
        return self.literal(STRING, value, self.pos(tok))

    def c_raw_string(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        return self.literal(STRING, str(tok)[1:-1], self.pos(tok))

    def c_key_name(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        return self.literal(STRING, str(tok), self.pos(tok))

    def c_name(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        name, pos = str(tok), self.pos(tok)
        if name in ("true", "false"):
            return self.literal(BOOL, name == "true", pos)
        if name == "nil":
            return self.literal(NIL, None, pos)
        if name in _OPERATOR_WORDS:
            raise self.err(pos, f"unexpected token {_token_text('Operator', name)}")
        t = self.env.variables.get(name)
        if t is not None:
            return Node(t, lambda f: f.vars.get(name), pos)
        if name in self.env.functions or name in BUILTIN_NAMES:
            raise self.err(pos, f"function {name} cannot be used as a value")
        raise self.err(pos, f"unknown name {name}")

    def c_pointer(self, tree: Tree, scope: Scope | None) -> Node:
        tok = tree.children[0]
        pos = self.pos(tok)
        if scope is None:
            raise self.err(pos, "cannot use pointer accessor outside predicate")
        if tok == "#":
            return Node(scope.item, lambda f: f.item, pos)
        if tok == "#index":
            return Node(INT, lambda f: f.index, pos)
        if tok == "#acc" and scope.acc is not None:
            return Node(scope.acc, lambda f: f.acc, pos)
        raise self.err(pos, f"unknown pointer {tok}")

    def c_paren(self, tree: Tree, scope: Scope | None) -> Node:
        inner = self.node(tree.children[0], scope)
        return Node(inner.type, inner.fn, inner.pos, inner.const, inner.is_const)

    def c_array(self, tree: Tree, scope: Scope | None) -> Node:
        items = [self.node(c, scope) for c in tree.children if c is not None]
        fns = [i.fn for i in items]
        return Node(array(), lambda f: [fn(f) for fn in fns], self.pos(tree))

    def c_map(self, tree: Tree, scope: Scope | None) -> Node:
        pairs = []
        for pair in tree.children:
            if pair is None:
                continue
            key, value = pair.children
            pairs.append((self.node(key, scope).fn, self.node(value, scope).fn))
        return Node(MAP, lambda f: {k(f): v(f) for k, v in pairs}, self.pos(tree))

    def c_closure(self, tree: Tree, scope: Scope | None) -> Node:
        raise self.err(self.pos(tree), "unexpected token Bracket(\"{\")")

    # -- postfix -----------------------------------------------------------------------------------
    def _check_member(self, base: Node, pos: int, what: str) -> Type:
        t = base.type
        if t.unknown or t.kind == "map" or t.kind == "nil":
            return ANY
        raise self.err(pos, f"type {t} has no field {what}")

    def c_member(self, tree: Tree, scope: Scope | None, optional: bool = False) -> Node:
        base = self.node(tree.children[0], scope)
        name_tok = tree.children[1]
        name = str(name_tok)
        t = self._check_member(base, self.pos(name_tok), name)
        bfn = base.fn
        return Node(t, lambda f: member(bfn(f), name, optional), base.pos)

    def c_method_call(self, tree: Tree, scope: Scope | None) -> Node:
        """``value.Method(args)``: the methods of Go's time.Time and time.Duration that expr
        exposes on dates and durations; on a value of unknown type, looked up when it runs."""
        base_tree, name_tok, args_tree = tree.children
        base = self.node(base_tree, scope)
        name, pos = str(name_tok), self.pos(name_tok)
        args = [self.node(a, scope) for a in ([] if args_tree is None else args_tree.children)]
        t = base.type
        tables = {"time": timeval.TIME_METHODS, "duration": timeval.DURATION_METHODS}
        if t.kind in tables:
            method = tables[t.kind].get(name)
            if method is None:
                raise self.err(pos, f"type {t} has no method {name}")
            params, result, _ = method
            if len(args) < len(params):
                raise self.err(pos, f"not enough arguments to call {name}")
            if len(args) > len(params):
                raise self.err(pos, f"too many arguments to call {name}")
            for want, n in zip(params, args, strict=True):
                wt = _KIND_TYPES[want]
                ok = wt.unknown or n.type.unknown or n.type == wt or (wt.kind == "duration" and n.type.kind == "int")
                if not ok:
                    raise self.err(n.pos, f"cannot use {n.type} as argument (type {wt}) to call {name} ")
            result_type = _KIND_TYPES[result]
        elif t.unknown:
            result_type = ANY
        else:
            raise self.err(pos, f"type {t} has no method {name}")
        bfn, fns = base.fn, [n.fn for n in args]

        def run(f: Frame) -> Any:
            value = bfn(f)
            table = tables.get(type_of(value).kind)
            method = table.get(name) if table is not None else None
            if method is None:
                raise EvalError(f"type {go_type_name(value)} has no method {name}")
            return method[2](value, *[fn(f) for fn in fns])

        return Node(result_type, run, base.pos)

    def c_opt_member(self, tree: Tree, scope: Scope | None) -> Node:
        return self.c_member(tree, scope, optional=True)

    def c_index(self, tree: Tree, scope: Scope | None, optional: bool = False) -> Node:
        base = self.node(tree.children[0], scope)
        prop = self.node(tree.children[1], scope)
        t, pt = base.type, prop.type
        if t.kind == "array":
            if not (pt.kind == "int" or pt.unknown):
                raise self.err(prop.pos, f"array elements can only be selected using an integer (got {pt})")
            result = t.elem or ANY
        elif t.kind == "string":
            if not (pt.kind == "int" or pt.unknown):
                raise self.err(prop.pos, f"cannot use {pt} to get an element from {t}")
            result = STRING
        elif t.unknown or t.kind in ("map", "nil"):
            result = ANY
        else:
            raise self.err(base.pos, f"type {t}[{pt}] is undefined")
        bfn, pfn = base.fn, prop.fn
        return Node(result, lambda f: member(bfn(f), pfn(f), optional), base.pos)

    def c_opt_index(self, tree: Tree, scope: Scope | None) -> Node:
        return self.c_index(tree, scope, optional=True)

    def c_slice(self, tree: Tree, scope: Scope | None) -> Node:
        base = self.node(tree.children[0], scope)
        if not (base.type.unknown or base.type.kind in ("array", "string")):
            raise self.err(base.pos, f"cannot slice {base.type}")
        bounds: list[Eval | None] = []
        for child in tree.children[1:]:
            if child is None:
                bounds.append(None)
                continue
            n = self.node(child, scope)
            if not (n.type.kind == "int" or n.type.unknown):
                raise self.err(n.pos, f"non-integer slice index {n.type}")
            bounds.append(n.fn)
        lo_fn, hi_fn = bounds
        bfn = base.fn

        def run(f: Frame) -> Any:
            value = bfn(f)
            if not isinstance(value, (list, str)):
                raise EvalError(f"cannot slice {go_type_name(value)}")
            n = len(value)
            lo = lo_fn(f) if lo_fn is not None else 0
            hi = hi_fn(f) if hi_fn is not None else n
            lo, hi = (lo + n if lo < 0 else lo), (hi + n if hi < 0 else hi)
            lo, hi = max(0, min(lo, n)), max(0, min(hi, n))
            return value[lo:hi] if lo <= hi else value[:0]

        return Node(base.type, run, base.pos)

    # -- operators ---------------------------------------------------------------------------------
    def c_unary(self, tree: Tree, scope: Scope | None) -> Node:
        op_tok, operand = tree.children
        op = str(op_tok)
        x = self.node(operand, scope)
        xfn = x.fn
        if op in ("not", "!"):
            if not (x.type.kind == "bool" or x.type.unknown):
                raise self.err(self.pos(op_tok), f"invalid operation: {op} (mismatched type {x.type})")
            return Node(BOOL, lambda f: not as_bool(xfn(f), op), self.pos(op_tok))
        if not (x.type.number or x.type.unknown):
            raise self.err(self.pos(op_tok), f"invalid operation: {op} (mismatched type {x.type})")

        def neg(f: Frame) -> Any:
            v = xfn(f)
            if not is_num(v):
                raise EvalError(f"invalid operation: {op}{go_type_name(v)}")
            if op == "+":
                return v
            if isinstance(v, Duration):
                return Duration(wrap(-v))
            return wrap(-v) if isinstance(v, int) else -v

        return Node(x.type if x.type.number else ANY, neg, self.pos(op_tok))

    def c_not_binary(self, tree: Tree, scope: Scope | None) -> Node:
        left, not_tok, op_tok, right = tree.children
        inner = self.binary(left, cast(Token, op_tok), right, scope)
        ifn = inner.fn
        return Node(BOOL, lambda f: not ifn(f), self.pos(not_tok))

    def c_binary(self, tree: Tree, scope: Scope | None) -> Node:
        left, op_tok, right = tree.children
        return self.binary(left, cast(Token, op_tok), right, scope)

    def binary(self, left_tree: Tree, op_tok: Token, right_tree: Tree, scope: Scope | None) -> Node:
        op = str(op_tok)
        op = {"||": "or", "&&": "and"}.get(op, op)
        pos = self.pos(op_tok)
        l = self.node(left_tree, scope)  # noqa: E741 - the checker's names
        r = self.node(right_tree, scope)
        if op in ("<", ">", "<=", ">=") and l.chain is not None and left_tree.data == "binary":
            # a < b < c is (a < b) and (b < c), as expr reads it
            second = self._binary_node(op, l.chain, r, pos)
            lfn, sfn = l.fn, second.fn
            return Node(BOOL, lambda f: lfn(f) and sfn(f), pos, chain=r)
        node = self._binary_node(op, l, r, pos)
        if op in ("<", ">", "<=", ">="):
            node.chain = r
        return node

    def _binary_node(self, op: str, l: Node, r: Node, pos: int) -> Node:  # noqa: E741
        L, R = l.type, r.type
        lfn, rfn = l.fn, r.fn

        def maybe(*kinds: str) -> bool:
            if L.unknown and R.unknown:
                return True
            if L.unknown:
                return R.kind in kinds or ("number" in kinds and R.number)
            if R.unknown:
                return L.kind in kinds or ("number" in kinds and L.number)
            return False

        def mismatch() -> CompileError:
            return self.err(pos, f"invalid operation: {op} (mismatched types {L} and {R})")

        if op in ("==", "!="):
            if not _comparable(L, R):
                raise mismatch()
            if op == "==":
                return Node(BOOL, lambda f: equal(lfn(f), rfn(f)), pos)
            return Node(BOOL, lambda f: not equal(lfn(f), rfn(f)), pos)
        if op in ("or", "and"):
            if not ((L.kind == "bool" and R.kind == "bool") or maybe("bool")):
                raise mismatch()
            if op == "or":
                return Node(BOOL, lambda f: as_bool(lfn(f), op) or as_bool(rfn(f), op), pos)
            return Node(BOOL, lambda f: as_bool(lfn(f), op) and as_bool(rfn(f), op), pos)
        if op in ("<", ">", "<=", ">="):
            if not ((L.number and R.number) or (L.kind == R.kind == "string") or (L.kind == R.kind == "time")
                    or maybe("number", "string", "time")):
                raise mismatch()
            return Node(BOOL, lambda f: compare(op, lfn(f), rfn(f)), pos)
        if op in ("+", "-") and "time" in (L.kind, R.kind):
            # expr's time arithmetic: time - time, time +/- duration, duration + time
            if op == "-" and L.kind == R.kind == "time":
                t = DURATION
            elif (L.kind, R.kind) == ("time", "duration") or (op, L.kind, R.kind) == ("+", "duration", "time"):
                t = TIME
            elif maybe("time", "duration", "number"):
                t = ANY
            else:
                raise mismatch()
            return Node(t, lambda f: arith(op, lfn(f), rfn(f)), pos)
        if op in ("+", "-", "*"):
            if "duration" in (L.kind, R.kind) and L.kind in ("int", "duration") and R.kind in ("int", "duration"):
                return Node(DURATION, lambda f: arith(op, lfn(f), rfn(f)), pos)
            if L.number and R.number:
                t = FLOAT if FLOAT in (L, R) else INT
            elif op == "+" and L.kind == R.kind == "string":
                t = STRING
            elif maybe("number", "string") if op == "+" else maybe("number"):
                t = ANY
            else:
                raise mismatch()
            return Node(t, lambda f: arith(op, lfn(f), rfn(f)), pos)
        if op in ("/", "**", "^"):
            if not ((L.number and R.number) or maybe("number")):
                raise mismatch()
            return Node(FLOAT, lambda f: arith(op, lfn(f), rfn(f)), pos)
        if op == "%":
            # a time.Duration is an int64 to expr
            if not ((L.kind in ("int", "duration") and R.kind in ("int", "duration")) or maybe("int", "duration")):
                raise mismatch()
            return Node(INT, lambda f: arith(op, lfn(f), rfn(f)), pos)
        if op == "in":
            if R.kind == "map":
                if not (L.unknown or L.kind == "string"):
                    raise self.err(pos, f"cannot use {L} as type string in map key")
            elif R.kind == "array":
                elem = R.elem or ANY
                if not _comparable(L, elem):
                    raise self.err(pos, f"cannot use {L} as type {elem} in array")
            elif not (R.unknown or (L.unknown and R.kind == "string")):
                raise mismatch()
            return Node(BOOL, lambda f: value_in(lfn(f), rfn(f)), pos)
        if op == "matches":
            if r.is_const and isinstance(r.const, str):
                try:
                    pattern = goregex.compile_go(r.const)
                except re.error as e:
                    raise self.err(pos, f"error parsing regexp: {e}") from None
                if not (L.kind == "string" or L.unknown):
                    raise mismatch()
                return Node(BOOL, lambda f: matches(lfn(f), pattern), pos)
            if not ((L.kind == R.kind == "string") or maybe("string")):
                raise mismatch()
            return Node(BOOL, lambda f: matches(lfn(f), rfn(f)), pos)
        if op in ("contains", "startsWith", "endsWith"):
            if not ((L.kind == R.kind == "string") or maybe("string")):
                raise mismatch()
            return Node(BOOL, lambda f: strings_op(op, lfn(f), rfn(f)), pos)
        if op == "..":
            if not ((L.kind == R.kind == "int") or maybe("int")):
                raise mismatch()
            return Node(array(INT), lambda f: range_of(lfn(f), rfn(f)), pos)
        if op == "??":
            t = L if L == R else (R if L.kind == "nil" else L if R.kind == "nil" else ANY)

            def coalesce(f: Frame) -> Any:
                v = lfn(f)
                return rfn(f) if v is None else v

            return Node(t, coalesce, pos)
        raise self.err(pos, f"unknown operator ({op})")

    def c_let_(self, tree: Tree, scope: Scope | None) -> Node:
        """``let name = value; body``: the body is compiled with the variable in the environment
        and runs with it bound in a copy of the frame's variables."""
        name_tok, value_tree, body_tree = tree.children
        name, pos = str(name_tok), self.pos(tree)
        # expr's checker, in its order: the environment's names, functions, builtins, then lets
        if name in self.env.variables and name not in self.lets:
            raise self.err(pos, f"cannot redeclare {name}")
        if name in self.env.functions:
            raise self.err(pos, f"cannot redeclare function {name}")
        if name in BUILTIN_NAMES:
            raise self.err(pos, f"cannot redeclare builtin {name}")
        if name in self.lets:
            raise self.err(pos, f"cannot redeclare variable {name}")
        value = self.node(value_tree, scope)
        outer = self.env
        self.env = outer.copy()
        self.env.add_variable(name, value.type)
        self.lets.add(name)
        try:
            body = self.node(body_tree, scope)
        finally:
            self.env = outer
            self.lets.discard(name)
        vfn, bfn = value.fn, body.fn

        def run(f: Frame) -> Any:
            inner = Frame(f.req, f.data, {**f.vars, name: vfn(f)})
            inner.item, inner.index, inner.acc = f.item, f.index, f.acc
            return bfn(inner)

        return Node(body.type, run, pos)

    def c_if_(self, tree: Tree, scope: Scope | None) -> Node:
        cond, a, b = (self.node(c, scope) for c in tree.children)
        return self._conditional(cond, a, b)

    def c_ternary(self, tree: Tree, scope: Scope | None) -> Node:
        cond, a, b = (self.node(c, scope) for c in tree.children)
        return self._conditional(cond, a, b)

    def c_elvis(self, tree: Tree, scope: Scope | None) -> Node:
        cond = self.node(tree.children[0], scope)
        other = self.node(tree.children[1], scope)
        return self._conditional(cond, cond, other)

    def _conditional(self, cond: Node, a: Node, b: Node) -> Node:
        if not (cond.type.kind == "bool" or cond.type.unknown):
            raise self.err(cond.pos, f"non-bool expression (type {cond.type}) used as condition")
        cfn, afn, bfn = cond.fn, a.fn, b.fn
        t = a.type if a.type == b.type else ANY
        return Node(t, lambda f: afn(f) if as_bool(cfn(f), "?:") else bfn(f), cond.pos)

    # -- calls -------------------------------------------------------------------------------------
    def c_call(self, tree: Tree, scope: Scope | None) -> Node:
        name_tok, args = tree.children
        return self.call(cast(Token, name_tok), [] if args is None else list(args.children), scope)

    def c_pipe_call(self, tree: Tree, scope: Scope | None) -> Node:
        left, name_tok, args = tree.children
        return self.call(cast(Token, name_tok), [left, *([] if args is None else args.children)], scope)

    def call(self, name_tok: Token, args: list[Tree], scope: Scope | None) -> Node:
        name, pos = str(name_tok), self.pos(name_tok)
        func = self.env.functions.get(name)
        if func is not None:
            nodes = [self.node(a, scope) for a in args]
            return self.call_func(func, nodes, pos)
        builtin = BUILTINS.get(name)
        if builtin is not None:
            return builtin(self, args, scope, pos)
        if name in self.env.variables:
            raise self.err(pos, f"{self.env.variables[name]} is not callable")
        raise self.err(pos, f"unknown name {name}")

    def call_func(self, func: Func, nodes: list[Node], pos: int) -> Node:
        params = func.params
        if params is not None:
            fixed = len(params) - 1 if func.variadic else len(params)
            if len(nodes) < fixed:
                raise self.err(pos, f"not enough arguments to call {func.name}")
            if not func.variadic and len(nodes) > fixed:
                raise self.err(pos, f"too many arguments to call {func.name}")
            for i, n in enumerate(nodes):
                want = params[min(i, len(params) - 1)]
                if want.unknown or n.type.unknown or n.type == want or (want.number and n.type.number):
                    continue
                if n.type.kind == "nil":
                    raise self.err(n.pos, f"cannot use nil as argument (type {want}) to call {func.name}")
                raise self.err(n.pos, f"cannot use {n.type} as argument (type {want}) to call {func.name} ")
        fns = [n.fn for n in nodes]
        impl = func.impl
        return Node(func.result, lambda f: impl(f, *[fn(f) for fn in fns]), pos)


