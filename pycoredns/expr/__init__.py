"""CoreDNS's expression language (expr-lang/expr, as the template and view plugins use it) on a
Lark grammar of our own: parsed, type-checked and compiled once, evaluated per query.

    env = expr.query_env()                      # name(), type(), client_ip(), incidr(), ...
    env.add_variable("ttl", expr.INT)
    program = expr.compile("incidr(client_ip(), '10.0.0.0/8') && ttl > 30", env)
    program.run(req, {"ttl": 60})               # True or False, or raises expr.EvalError

Supported: literals (integers in every base, floats, strings in all three quotings, booleans,
nil, arrays, maps), variables, ``let x = v; body``, ``if c { a } else { b }``, calls, member and
index access, slices, every operator of expr (arithmetic, comparison, ``in``, ``matches``,
``contains``, ``startsWith``, ``endsWith``, boolean logic, ``..``, ``??``, ``?:``, the pipe ``|``),
every builtin of expr (:mod:`pycoredns.expr.builtins`, predicates as ``any(list, # > 1)``), and
dates and durations with the methods of Go's time.Time and time.Duration
(:mod:`pycoredns.expr.timeval`). Errors read as expr's do: ``unknown name b (1:1)`` followed by
the expression and a caret.
"""

from __future__ import annotations

from pycoredns.expr.builtins import BUILTIN_NAMES
from pycoredns.expr.compiler import KEYWORDS, CompileError, Env, EvalError, Frame, Program, compile, is_identifier
from pycoredns.expr.gofmt import go_float, go_sprint
from pycoredns.expr.query import QUERY_FUNCTIONS, query_env
from pycoredns.expr.types import ANY, BOOL, FLOAT, INT, MAP, NIL, STRING, Func, Type, array, type_of

__all__ = [
    "ANY",
    "BOOL",
    "BUILTIN_NAMES",
    "FLOAT",
    "INT",
    "KEYWORDS",
    "MAP",
    "NIL",
    "QUERY_FUNCTIONS",
    "STRING",
    "CompileError",
    "Env",
    "EvalError",
    "Frame",
    "Func",
    "Program",
    "Type",
    "array",
    "compile",
    "go_float",
    "go_sprint",
    "is_identifier",
    "query_env",
    "type_of",
]
