"""The subset of Go's text/template that Corefile templates use, compiled once at setup.

Supported: text, actions ``{{ PIPELINE }}`` with ``{{-``/``-}}`` trimming and ``{{/* */}}``
comments; pipelines of commands joined by ``|``; arguments that are fields (``.``, ``.Name``,
``.Group.name``, ``.Question.Name``), methods with arguments (``.Meta "name"``), string, raw-string
and integer constants, parenthesised pipelines; the functions ``index``, ``len``, ``print``,
``printf``, ``println``, ``and``, ``or``, ``not``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` and
``parseInt`` (CoreDNS's ``strconv.ParseUint``); ``{{if}}``, ``{{else if}}``, ``{{else}}`` and
``{{end}}``. The other control structures (``range``, ``with``, ``define``, ``template``,
``block``) and variables (``$x``) are rejected at compile time with an error that names them, as
are the fields this build does not provide (``.Message``).

Values print as Go's fmt does for the types the template data holds: strings, integers, floats,
booleans, lists (``[a b]``), maps (``map[k:v]``); a missing map key prints ``<no value>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycoredns.plugin import expr, parse_uint


class TemplateError(Exception):
    """A template failed to compile or to execute; the text is Go-like."""


class NoValue:
    """What a missing map key evaluates to (Go prints it as ``<no value>``)."""

    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = NoValue()

go_str = expr.go_sprint  # a value as Go's fmt prints it with %v


class GoMap(dict[str, Any]):
    """A Go map in the template data: a missing key is ``<no value>``, not an error."""


Method = Callable[..., Any]

UNSUPPORTED_KEYWORDS = ("range", "with", "define", "template", "block", "break", "continue")
CONTROL_KEYWORDS = ("if", "else", "end")
UNSUPPORTED_FIELDS = ("Message",)


# -- the parse tree ---------------------------------------------------------------------------
@dataclass
class Field:
    path: list[str]

    def __str__(self) -> str:
        return "." + ".".join(self.path) if self.path else "."


@dataclass
class Const:
    value: Any
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Ident:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class Command:
    args: list[Any]

    def __str__(self) -> str:
        return " ".join(str(a) for a in self.args)


@dataclass
class Pipeline:
    commands: list[Command]

    def __str__(self) -> str:
        return " | ".join(str(c) for c in self.commands)


@dataclass
class Paren:
    pipe: Pipeline

    def __str__(self) -> str:
        return f"({self.pipe})"


@dataclass
class If:
    """``{{if PIPELINE}} ... [{{else}} ... | {{else if PIPELINE}} ...] {{end}}``."""

    cond: Pipeline
    then: list[Part] = field(default_factory=list)
    orelse: list[Part] = field(default_factory=list)
    chained: bool = False  # an "else if": the enclosing if's {{end}} closes it too

    def __str__(self) -> str:
        text = "{{if " + str(self.cond) + "}}" + _list_str(self.then)
        if self.orelse:
            text += "{{else}}" + _list_str(self.orelse)
        return text + "{{end}}"


Part = str | Pipeline | If


def _list_str(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else str(p) if isinstance(p, If) else "{{" + str(p) + "}}" for p in parts)


# -- functions ----------------------------------------------------------------------------------
def _parse_int(text: Any, base: Any, bits: Any) -> int:
    """strconv.ParseUint(s, base, bitSize), as CoreDNS registers it under the name parseInt."""
    try:
        return parse_uint(str(text), int(bits), base=int(base))
    except (TypeError, ValueError) as e:
        raise TemplateError(f"error calling parseInt: {e}") from None


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(str(key), "") if isinstance(item, GoMap) else item.get(key, NO_VALUE)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise TemplateError(f"error calling index: cannot index slice/array with type {type(key).__name__}")
            if not 0 <= key < len(item):
                raise TemplateError(f"error calling index: index out of range: {key}")
            item = item[key]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


def _printf(fmt: Any, *args: Any) -> str:
    # Go's %v prints a value the way print does; Python's %s does the same for our value types.
    py = re.sub(r"%(-?\d*)v", r"%\1s", str(fmt))
    try:
        return py % tuple(go_str(a) if not isinstance(a, int) else a for a in args)
    except (TypeError, ValueError) as e:
        raise TemplateError(f"error calling printf: {e}") from None


def _truth(v: Any) -> bool:
    return not (v is None or v is NO_VALUE or v == 0 or v == "" or v == [] or v == {} or v is False)


def _and(*args: Any) -> Any:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def run(a: Any, *others: Any) -> bool:
        try:
            return all(op(a, b) for b in others) if others else op(a, a)
        except TypeError:
            raise TemplateError("error calling comparison: incompatible types for comparison") from None

    return run


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "index": _index,
    "len": lambda v: len(v),
    "print": lambda *a: _go_print(a),
    "printf": _printf,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "and": _and,
    "or": _or,
    "not": lambda v: not _truth(v),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "parseInt": _parse_int,
}
GO_BUILTINS_NOT_SUPPORTED = ("call", "html", "js", "slice", "urlquery")


def _go_print(args: tuple[Any, ...]) -> str:
    # fmt.Sprint adds spaces only between operands when neither is a string.
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(a)
    return out


# -- lexing and parsing -------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<num>-?\d+)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<var>\$[A-Za-z0-9_]*)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[()|]|:?=)
    )""",
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    out, i = [], 0
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
        elif nxt == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise ValueError(f"invalid syntax: {text}")
    return "".join(out)


class Template:
    """A compiled template: ``execute(data)`` renders it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.source = text
        self.parts: list[Part] = []
        self._compile(text)

    def __str__(self) -> str:
        """The template as Go's ``Tree.Root.String()`` prints it (the metrics' template label)."""
        return _list_str(self.parts)

    def _err(self, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:1: {msg}")

    def _compile(self, text: str) -> None:
        pos = 0
        root: list[Part] = []
        open_ifs: list[tuple[If, bool]] = []  # each open if, and whether its else part is being read

        def current() -> list[Part]:
            if not open_ifs:
                return root
            node, in_else = open_ifs[-1]
            return node.orelse if in_else else node.then

        for m in _ACTION.finditer(text):
            literal = text[pos : m.start()]
            if m.group(1):
                literal = literal.rstrip()
            if literal:
                current().append(literal)
            pos = m.end()
            if m.group(3):
                rest = text[pos:]
                pos += len(rest) - len(rest.lstrip())
            body = m.group(2).strip()
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise self._err("unclosed comment")
                continue
            keyword = body.split(None, 1)[0] if body else ""
            if keyword == "end":
                if not open_ifs:
                    raise self._err("unexpected {{end}}")
                while open_ifs[-1][0].chained:
                    open_ifs.pop()
                open_ifs.pop()
            elif keyword == "else":
                if not open_ifs or open_ifs[-1][1]:
                    raise self._err("unexpected {{else}}")
                node = open_ifs[-1][0]
                open_ifs[-1] = (node, True)
                rest = body[4:].strip()
                if rest.split(None, 1)[:1] == ["if"]:
                    inner = If(self._pipeline(rest[2:].strip()), chained=True)
                    node.orelse.append(inner)
                    open_ifs.append((inner, False))
                elif rest:
                    raise self._err(f"unexpected {rest!r} in else")
            elif keyword == "if":
                node = If(self._pipeline(body[2:].strip()))
                current().append(node)
                open_ifs.append((node, False))
            else:
                current().append(self._pipeline(body))
        tail = text[pos:]
        if "{{" in tail:
            raise self._err("unclosed action")
        if open_ifs:
            raise self._err("unexpected EOF")
        if tail:
            root.append(tail)
        self.parts = root

    def _pipeline(self, body: str) -> Pipeline:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            if m is None or m.end() == pos:
                if body[pos:].strip() == "":
                    break
                raise self._err(f"unexpected {body[pos:].strip()!r} in command")
            kind = m.lastgroup or ""
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        if not tokens:
            raise self._err("missing value for command")
        pipe, rest = self._parse_pipe(tokens)
        if rest:
            raise self._err(f"unexpected {rest[0][1]!r} in operand")
        return pipe

    def _parse_pipe(self, tokens: list[tuple[str, str]]) -> tuple[Pipeline, list[tuple[str, str]]]:
        commands: list[Command] = []
        args: list[Any] = []
        while tokens:
            kind, text = tokens[0]
            if kind == "punct" and text == ")":
                break
            tokens = tokens[1:]
            if kind == "punct" and text == "|":
                if not args:
                    raise self._err("missing command")
                commands.append(Command(args))
                args = []
            elif kind == "punct" and text == "(":
                inner, tokens = self._parse_pipe(tokens)
                if not tokens or tokens[0][1] != ")":
                    raise self._err("unclosed left paren")
                tokens = tokens[1:]
                args.append(Paren(inner))
            elif kind == "punct":
                raise self._err(f"variable declarations ({text}) are not supported by this build")
            elif kind == "var":
                raise self._err(f"variables ({text}) are not supported by this build")
            elif kind == "str":
                try:
                    args.append(Const(_unquote(text), text))
                except (ValueError, IndexError):
                    raise self._err(f"invalid syntax: {text}") from None
            elif kind == "raw":
                args.append(Const(text[1:-1], text))
            elif kind == "num":
                args.append(Const(int(text), text))
            elif kind == "field":
                path = [p for p in text.split(".") if p]
                if path and path[0] in UNSUPPORTED_FIELDS:
                    raise self._err(f"the field .{path[0]} is not supported by this build")
                args.append(Field(path))
            else:  # an identifier: a function, a keyword or a constant
                if text in UNSUPPORTED_KEYWORDS:
                    raise self._err(f'"{text}" actions are not supported by this build')
                if text in CONTROL_KEYWORDS:
                    raise self._err(f"unexpected <{text}> in command")
                if text in ("true", "false"):
                    args.append(Const(text == "true", text))
                elif text == "nil":
                    args.append(Const(None, text))
                elif text in FUNCTIONS:
                    args.append(Ident(text))
                elif text in GO_BUILTINS_NOT_SUPPORTED:
                    raise self._err(f'function "{text}" is not supported by this build')
                else:
                    raise self._err(f'function "{text}" not defined')
        if args:
            commands.append(Command(args))
        elif commands:
            raise self._err("missing command")
        if not commands:
            raise self._err("missing value for command")
        return Pipeline(commands), tokens

    # -- execution ---------------------------------------------------------------------------
    def execute(self, data: dict[str, Any]) -> str:
        out: list[str] = []
        self._render(self.parts, data, out)
        return "".join(out)

    def _render(self, parts: list[Part], data: dict[str, Any], out: list[str]) -> None:
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            pipe = part.cond if isinstance(part, If) else part
            try:
                value = self._run(pipe, data)
            except TemplateError as e:
                raise TemplateError(f'template: {self.name}:1: executing "{self.name}" at <{pipe}>: {e}') from None
            if isinstance(part, If):
                self._render(part.then if _truth(value) else part.orelse, data, out)
            else:
                out.append(go_str(value))

    def _run(self, pipe: Pipeline, data: dict[str, Any]) -> Any:
        value: Any = NO_VALUE
        piped = False
        for cmd in pipe.commands:
            value = self._command(cmd, data, value if piped else NO_VALUE, piped)
            piped = True
        return value

    def _command(self, cmd: Command, data: dict[str, Any], final: Any, piped: bool) -> Any:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, Ident):
            args = [self._arg(a, data) for a in rest] + ([final] if piped else [])
            try:
                return FUNCTIONS[first.name](*args)
            except TypeError:
                raise TemplateError(f"wrong number of args for {first.name}: got {len(args)}") from None
        if isinstance(first, Field) and (rest or piped):
            method = self._field(first, data)
            if not callable(method):
                raise TemplateError(f"can't give argument to non-function {first}")
            args = [self._arg(a, data) for a in rest] + ([final] if piped else [])
            return method(*args)
        if rest or piped:
            raise TemplateError(f"can't give argument to non-function {first}")
        return self._arg(first, data)

    def _arg(self, arg: Any, data: dict[str, Any]) -> Any:
        if isinstance(arg, Const):
            return arg.value
        if isinstance(arg, Field):
            value = self._field(arg, data)
            return value() if callable(value) else value
        if isinstance(arg, Paren):
            return self._run(arg.pipe, data)
        raise TemplateError(f"can't use {arg} as an argument")

    @staticmethod
    def _field(field: Field, data: dict[str, Any]) -> Any:
        value: Any = data
        for name in field.path:
            if isinstance(value, GoMap):
                value = value.get(name, NO_VALUE)
            elif isinstance(value, dict):
                if name not in value:
                    raise TemplateError(f"can't evaluate field {name} in type *template.templateData")
                value = value[name]
            else:
                raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        return value
