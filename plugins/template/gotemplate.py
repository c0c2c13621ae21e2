"""Go's text/template, as Corefile templates use it, compiled once at setup.

The language: text, actions ``{{ PIPELINE }}`` with ``{{-``/``-}}`` trimming and ``{{/* */}}``
comments; pipelines of commands joined by ``|``, optionally declaring (``$x := PIPELINE``) or
assigning (``$x = PIPELINE``) a variable; arguments that are fields (``.``, ``.Name``,
``.Group.name``, ``.Message.Question``), variables with fields (``$``, ``$x``, ``$x.Name``),
methods with arguments (``.Meta "name"``), string, raw-string, character, integer and float
constants, ``true``/``false``/``nil`` and parenthesised pipelines; the control structures
``if``/``else if``/``else``, ``range`` (over lists, maps in key order and integers, with ``else``,
``$v :=`` and ``$i, $v :=``, ``break`` and ``continue``), ``with``/``else with``/``else``,
``define``, ``template`` and ``block``; Go's builtin functions ``and``, ``call``, ``html``,
``index``, ``js``, ``len``, ``not``, ``or``, ``print``, ``printf``, ``println``, ``slice``,
``urlquery``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, and CoreDNS's ``parseInt``.

Values print as Go's fmt does for the types the template data holds: strings, integers, floats,
booleans, lists (``[a b]``), maps (``map[k:v]``), structs through their ``String`` method; a
missing map key prints ``<no value>``. Go structs (the ``.Message``) are :class:`GoStruct` s:
named fields and methods, walked as Go's reflection walks a struct.
"""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

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


class GoStruct:
    """A Go struct value in the template data: its exported fields, and its methods (callables
    that take the method's arguments). ``type_name`` is what Go's errors call it (``*dns.Msg``)."""

    def __init__(self, type_name: str, fields: dict[str, Any], methods: dict[str, Callable[..., Any]] | None = None):
        self.type_name = type_name
        self.fields = fields
        self.methods = methods or {}

    def member(self, name: str) -> Any:
        if name in self.fields:
            value = self.fields[name]
            return value() if isinstance(value, Lazy) else value
        if name in self.methods:
            return Method(name, self.methods[name])
        raise TemplateError(f"can't evaluate field {name} in type {self.type_name}")

    def __str__(self) -> str:
        if "String" in self.methods:
            return str(self.methods["String"]())
        return "{" + " ".join(go_str(self.member(n)) for n in self.fields) + "}"


class Lazy:
    """A field computed on first use (the ``.Message`` costs nothing to templates without it)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None

    def __call__(self) -> Any:
        if self._make is not None:
            self._value, self._make = self._make(), None
        return self._value


@dataclass
class Method:
    """A method value: ``.Meta "x"`` calls it with arguments, a bare ``.Len`` with none."""

    name: str
    fn: Callable[..., Any]

    def call(self, *args: Any) -> Any:
        try:
            want = len(inspect.signature(self.fn).parameters)
        except (TypeError, ValueError):
            want = len(args)
        if want != len(args):
            raise TemplateError(f"wrong number of args for {self.name}: want {want} got {len(args)}")
        return self.fn(*args)


# Go stops a template that calls itself without end at 100000 levels; Python's stack is smaller.
MAX_DEPTH = 200
CONTROL_KEYWORDS = ("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue")


# -- the parse tree ---------------------------------------------------------------------------
@dataclass
class Field:
    path: list[str]

    def __str__(self) -> str:
        return "." + ".".join(self.path) if self.path else "."


@dataclass
class Variable:
    name: str  # with its $
    path: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.name + "".join("." + p for p in self.path)


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
    decl: list[str] = field(default_factory=list)  # the variables it declares or assigns
    assign: bool = False  # "=" rather than ":="

    def __str__(self) -> str:
        text = " | ".join(str(c) for c in self.commands)
        if self.decl:
            text = ", ".join(self.decl) + (" = " if self.assign else " := ") + text
        return text


@dataclass
class Paren:
    pipe: Pipeline
    path: list[str] = field(default_factory=list)  # (pipeline).Field

    def __str__(self) -> str:
        return f"({self.pipe})" + "".join("." + p for p in self.path)


@dataclass
class Branch:
    """``if``, ``with`` and ``range``: ``{{KEYWORD PIPELINE}} body [{{else}} ...] {{end}}``."""

    keyword: str
    cond: Pipeline
    then: list[Part] = field(default_factory=list)
    orelse: list[Part] = field(default_factory=list)
    chained: bool = False  # an "else if"/"else with": the enclosing {{end}} closes it too

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.cond) + "}}" + _list_str(self.then)
        if self.orelse:
            text += "{{else}}" + _list_str(self.orelse)
        return text + "{{end}}"


@dataclass
class Call:
    """``{{template "name" [PIPELINE]}}`` (and the call half of ``{{block}}``)."""

    name: str
    pipe: Pipeline | None

    def __str__(self) -> str:
        arg = f" {self.pipe}" if self.pipe is not None else ""
        return "{{template " + _go_quote(self.name) + arg + "}}"


@dataclass
class Jump:
    """``{{break}}`` or ``{{continue}}``."""

    keyword: str

    def __str__(self) -> str:
        return "{{" + self.keyword + "}}"


Part = str | Pipeline | Branch | Call | Jump


def _list_str(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else "{{" + str(p) + "}}" if isinstance(p, Pipeline) else str(p)
                   for p in parts)


def _empty(parts: list[Part]) -> bool:
    """Go's IsEmptyTree: nothing but white space."""
    return all(isinstance(p, str) and not p.strip() for p in parts)


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


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


def _slice(item: Any, *indexes: Any) -> Any:
    """Go's ``slice x 1 2``: ``x[1:2]``; a string takes at most two indexes, a list three."""
    if not isinstance(item, (list, tuple, str)):
        raise TemplateError(f"error calling slice: can't slice item of type {type(item).__name__}")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise TemplateError(f"error calling slice: too many slice indexes: {len(indexes)}")
    for i in indexes:
        if not isinstance(i, int) or isinstance(i, bool):
            raise TemplateError(f"error calling slice: cannot index slice/array with type {type(i).__name__}")
        if not 0 <= i <= len(item):
            raise TemplateError(f"error calling slice: index out of range: {i}")
    bounds = [*indexes, len(item)] if len(indexes) == 1 else list(indexes) or [0, len(item)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        if a > b:
            raise TemplateError(f"error calling slice: invalid slice index: {a} > {b}")
    return item[bounds[0] : bounds[1]]  # a third index (the capacity) changes nothing to read


def _call(fn: Any, *args: Any) -> Any:
    """Go's ``call``: the first argument must be a function value."""
    if fn is None or fn is NO_VALUE:
        raise TemplateError("error calling call: call of nil")
    if isinstance(fn, Method):
        return fn.call(*args)
    if not callable(fn):
        raise TemplateError(f"error calling call: non-function of type {_go_type(fn)}")
    return fn(*args)


def _go_type(v: Any) -> str:
    if isinstance(v, GoStruct):
        return v.type_name
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(type(v), type(v).__name__)


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


def _escape_arg(args: tuple[Any, ...]) -> str:
    """What html, js and urlquery escape: a lone string as it is, otherwise fmt.Sprint of all."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _go_print(args)


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def _html(*args: Any) -> str:
    """template.HTMLEscapeString."""
    return "".join(_HTML.get(ch, ch) for ch in _escape_arg(args))


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _js(*args: Any) -> str:
    """template.JSEscapeString: quotes, backslash and HTML-significant characters escaped, control
    characters and unprintable runes as ``\\uXXXX`` (upper-case hex)."""
    out = []
    for ch in _escape_arg(args):
        if ch in _JS:
            out.append(_JS[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not _printable(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return unicodedata.category(ch)[0] in "LMNPS"


def _urlquery(*args: Any) -> str:
    """url.QueryEscape: space as +, everything but letters, digits and ``-_.~`` as %XX."""
    return quote_plus(_escape_arg(args), safe="")


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
    "call": _call,
    "html": _html,
    "js": _js,
    "slice": _slice,
    "urlquery": _urlquery,
    "parseInt": _parse_int,
}


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
    r"""(?P<space>\s*)(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<char>'(?:[^'\\]|\\.[^']*)')
      | (?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0[bB][01_]+|\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+))
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[(),|]|:?=)
    )""",
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}

Token = tuple[str, str, bool]  # (kind, text, whether space came before it)


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
        elif nxt == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        else:
            raise ValueError(f"invalid syntax: {text}")
    return "".join(out)


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    try:
        return int(clean, 0) if not re.fullmatch(r"[-+]?0\d+", clean) else int(clean, 8)
    except ValueError:
        return float(clean)


@dataclass
class _Open:
    """A control structure being read: where its parts go, and the variables declared in it."""

    node: Branch | None  # None: a define/block body
    in_else: bool = False
    scope: list[str] = field(default_factory=list)
    define: str = ""  # the name a define/block body is stored under
    saved_scopes: list[list[str]] | None = None  # a define's body sees only $: the scopes outside

    def parts(self, body: list[Part]) -> list[Part]:
        if self.node is None:
            return body
        return self.node.orelse if self.in_else else self.node.then


class Template:
    """A compiled template: ``execute(data)`` renders it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.source = text
        self.parts: list[Part] = []
        self.defined: dict[str, list[Part]] = {}
        self._compile(text)

    def __str__(self) -> str:
        """The template as Go's ``Tree.Root.String()`` prints it (the metrics' template label)."""
        return _list_str(self.parts)

    def _err(self, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:1: {msg}")

    # -- the action level: text, control structures, variable scopes ---------------------------
    def _compile(self, text: str) -> None:
        pos = 0
        root: list[Part] = []
        stack: list[_Open] = []
        bodies: dict[int, list[Part]] = {}  # define/block bodies by the id of their _Open
        self._scopes: list[list[str]] = [["$"]]

        def current() -> list[Part]:
            if not stack:
                return root
            top = stack[-1]
            return bodies[id(top)] if top.node is None else top.parts(root)

        def open_(entry: _Open) -> None:
            stack.append(entry)
            self._scopes.append(entry.scope)

        def close() -> _Open:
            entry = stack.pop()
            if entry.saved_scopes is not None:
                self._scopes = entry.saved_scopes
            else:
                self._scopes.pop()
            return entry

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
            rest = body[len(keyword) :].strip()
            if keyword == "end":
                if not stack:
                    raise self._err("unexpected {{end}}")
                while stack[-1].node is not None and stack[-1].node.chained:
                    close()
                done = close()
                if done.node is None:
                    body = bodies.pop(id(done))
                    old = self.defined.get(done.define)
                    # Go keeps the first non-empty definition and refuses a second one
                    if old is None or _empty(old):
                        self.defined[done.define] = body
                    elif not _empty(body):
                        raise self._err(f'template: multiple definition of template "{done.define}"')
            elif keyword == "else":
                top = stack[-1] if stack else None
                if top is None or top.node is None or top.in_else:
                    raise self._err("unexpected {{else}}")
                node = top.node
                top.in_else = True  # as in Go, what the first part declared stays in scope
                inner_kw = rest.split(None, 1)[0] if rest else ""
                if inner_kw in ("if", "with") and node.keyword in ("if", "with"):
                    inner = Branch(inner_kw, self._pipeline(rest[len(inner_kw) :].strip(), decl=True), chained=True)
                    node.orelse.append(inner)
                    open_(_Open(inner))
                elif rest:
                    raise self._err(f"unexpected {rest!r} in else")
            elif keyword in ("if", "with", "range"):
                scope: list[str] = []
                self._scopes.append(scope)  # what the pipeline declares lives until the {{end}}
                cond = self._pipeline(rest, decl=True, range_decl=keyword == "range")
                self._scopes.pop()
                node = Branch(keyword, cond)
                current().append(node)
                open_(_Open(node, scope=scope))
            elif keyword in ("break", "continue"):
                if rest:
                    raise self._err(f"unexpected {rest!r} in {{{{{keyword}}}}}")
                if not any(o.node is not None and o.node.keyword == "range" for o in stack):
                    raise self._err(f"{{{{{keyword}}}}} outside {{{{range}}}}")
                current().append(Jump(keyword))
            elif keyword in ("template", "block", "define"):
                name, arg = self._template_clause(keyword, rest)
                if keyword == "define" and stack:
                    raise self._err("unexpected <define> in command")
                if keyword != "define":
                    current().append(Call(name, arg))
                if keyword != "template":
                    entry = _Open(None, define=name, saved_scopes=self._scopes)
                    bodies[id(entry)] = []
                    stack.append(entry)
                    self._scopes = [["$"], entry.scope]  # a defined template sees only its own $
            else:
                current().append(self._pipeline(body, decl=True))
        tail = text[pos:]
        if "{{" in tail:
            raise self._err("unclosed action")
        if stack:
            raise self._err("unexpected EOF")
        if tail:
            root.append(tail)
        self.parts = root

    def _template_clause(self, keyword: str, rest: str) -> tuple[str, Pipeline | None]:
        m = re.match(r'("(?:[^"\\]|\\.)*"|`[^`]*`)\s*', rest)
        if m is None:
            shown = repr(rest.split(None, 1)[0]) if rest else "EOF"
            raise self._err(f"unexpected {shown} in {keyword} clause")
        name = _unquote(m.group(1)) if m.group(1)[0] == '"' else m.group(1)[1:-1]
        arg_text = rest[m.end() :].strip()
        if keyword == "define":
            if arg_text:
                raise self._err(f"unexpected {arg_text!r} in define clause")
            return name, None
        if keyword == "block" and not arg_text:
            raise self._err("missing value for command")
        return name, self._pipeline(arg_text, decl=False) if arg_text else None

    # -- the pipeline level ---------------------------------------------------------------------
    def _tokens(self, body: str) -> list[Token]:
        tokens: list[Token] = []
        pos = 0
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            if m is None or m.end() == pos:
                if body[pos:].strip() == "":
                    break
                raise self._err(f"unexpected {body[pos:].strip()!r} in command")
            kind = next(k for k in ("str", "raw", "char", "num", "field", "var", "ident", "punct") if m.group(k))
            tokens.append((kind, m.group(kind), bool(m.group("space")) or pos == 0))
            pos = m.end()
        return tokens

    def _pipeline(self, body: str, decl: bool = False, range_decl: bool = False) -> Pipeline:
        tokens = self._tokens(body)
        if not tokens:
            raise self._err("missing value for command")
        names: list[str] = []
        assign = False
        if decl and tokens[0][0] == "var":
            # "$x :=", "$x =", and for range "$i, $v :="
            i = 0
            candidate = [tokens[0][1]]
            if len(tokens) > 2 and tokens[1][1] == "," and tokens[2][0] == "var":
                if not range_decl:
                    raise self._err("too many declarations in command")
                candidate.append(tokens[2][1])
                i = 2
            if len(tokens) > i + 1 and tokens[i + 1][1] in (":=", "="):
                if any("." in n for n in candidate):
                    raise self._err(f"unexpected {tokens[i + 1][1]!r} in operand")
                names = candidate
                assign = tokens[i + 1][1] == "="
                tokens = tokens[i + 2 :]
                if len(names) == 2 and assign:
                    raise self._err("too many declarations in command")
                if assign:
                    if not self._defined(names[0]):
                        raise self._err(f'undefined variable "{names[0]}"')
            elif len(candidate) == 2:
                raise self._err("too many declarations in command")
        pipe, rest = self._parse_pipe(tokens)
        if rest:
            raise self._err(f"unexpected {rest[0][1]!r} in operand")
        if names and not assign:
            self._scopes[-1].extend(names)  # in scope after the declaring action
        pipe.decl, pipe.assign = names, assign
        return pipe

    def _defined(self, name: str) -> bool:
        return any(name in scope for scope in self._scopes)

    def _parse_pipe(self, tokens: list[Token]) -> tuple[Pipeline, list[Token]]:
        commands: list[Command] = []
        args: list[Any] = []
        while tokens:
            kind, text, spaced = tokens[0]
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
                paren = Paren(inner)
                if tokens and tokens[0][0] == "field" and not tokens[0][2]:
                    paren.path = [p for p in tokens[0][1].split(".") if p]  # (pipeline).Field
                    tokens = tokens[1:]
                args.append(paren)
            elif kind == "punct":
                raise self._err(f"unexpected {text!r} in operand")
            elif kind == "var":
                name, *path = text.split(".")
                if not self._defined(name):
                    raise self._err(f'undefined variable "{name}"')
                args.append(Variable(name, path))
            elif kind == "str":
                try:
                    args.append(Const(_unquote(text), text))
                except (ValueError, IndexError):
                    raise self._err(f"invalid syntax: {text}") from None
            elif kind == "raw":
                args.append(Const(text[1:-1], text))
            elif kind == "char":
                try:
                    value = _unquote('"' + text[1:-1] + '"')
                except (ValueError, IndexError):
                    raise self._err(f"malformed character constant: {text}") from None
                if len(value) != 1:
                    raise self._err(f"malformed character constant: {text}")
                args.append(Const(ord(value), text))
            elif kind == "num":
                try:
                    args.append(Const(_number(text), text))
                except ValueError:
                    raise self._err(f"illegal number syntax: {text!r}") from None
            elif kind == "field":
                args.append(Field([p for p in text.split(".") if p]))
            else:  # an identifier: a function, a keyword or a constant
                if text in CONTROL_KEYWORDS:
                    raise self._err(f"unexpected <{text}> in command")
                if text in ("true", "false"):
                    args.append(Const(text == "true", text))
                elif text == "nil":
                    args.append(Const(None, text))
                elif text in FUNCTIONS:
                    args.append(Ident(text))
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
        self._render(self.parts, data, [("$", data)], out, self.name, 0)
        return "".join(out)

    def _fail(self, at: Any, e: TemplateError, template: str) -> TemplateError:
        text = str(e)
        if text.startswith("template: "):
            return e
        return TemplateError(f'template: {self.name}:1: executing "{template}" at <{at}>: {text}')

    def _render(self, parts: list[Part], dot: Any, variables: list[tuple[str, Any]], out: list[str],
                template: str, depth: int) -> None:
        mark = len(variables)
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Pipeline):
                try:
                    value = self._pipe(part, dot, variables)
                except TemplateError as e:
                    raise self._fail(part, e, template) from None
                if not part.decl:
                    out.append(go_str(value.call() if isinstance(value, Method) else value))
            elif isinstance(part, Jump):
                raise _Break() if part.keyword == "break" else _Continue()
            elif isinstance(part, Call):
                self._call_template(part, dot, variables, out, template, depth)
            else:
                self._branch(part, dot, variables, out, template, depth)
        del variables[mark:]

    def _call_template(self, part: Call, dot: Any, variables: list[tuple[str, Any]], out: list[str],
                       template: str, depth: int) -> None:
        body = self.defined.get(part.name)
        if body is None:
            raise self._fail(part, TemplateError(f'template "{part.name}" not defined'), template)
        if depth >= MAX_DEPTH:
            raise self._fail(part, TemplateError(f"exceeded maximum template depth ({MAX_DEPTH})"), template)
        try:
            arg = self._pipe(part.pipe, dot, variables) if part.pipe is not None else None
        except TemplateError as e:
            raise self._fail(part, e, template) from None
        self._render(body, arg, [("$", arg)], out, part.name, depth + 1)

    def _branch(self, part: Branch, dot: Any, variables: list[tuple[str, Any]], out: list[str],
                template: str, depth: int) -> None:
        mark = len(variables)
        items: list[tuple[Any, Any]] = []
        try:
            if part.keyword == "range":
                # the declared variables take each key and element, not the ranged value
                value = self._pipe(Pipeline(part.cond.commands), dot, variables)
                items = list(self._iterate(value))
            else:
                value = self._pipe(part.cond, dot, variables)
        except TemplateError as e:
            raise self._fail(part.cond, e, template) from None
        if isinstance(value, Method):
            value = value.call()
        if part.keyword == "if":
            self._render(part.then if _truth(value) else part.orelse, dot, variables, out, template, depth)
        elif part.keyword == "with":
            if _truth(value):
                self._render(part.then, value, variables, out, template, depth)
            else:
                self._render(part.orelse, dot, variables, out, template, depth)
        else:
            if not items:
                self._render(part.orelse, dot, variables, out, template, depth)
            for key, elem in items:
                del variables[mark:]
                names = part.cond.decl
                if len(names) == 1:
                    variables.append((names[0], elem))
                elif len(names) == 2:
                    variables.extend(((names[0], key), (names[1], elem)))
                try:
                    self._render(part.then, elem, variables, out, template, depth)
                except _Break:
                    break
                except _Continue:
                    continue
        del variables[mark:]

    @staticmethod
    def _iterate(value: Any) -> Iterator[tuple[Any, Any]]:
        if isinstance(value, Method):
            value = value.call()
        if value is None or value is NO_VALUE:
            return iter(())
        if isinstance(value, dict):
            return ((k, value[k]) for k in sorted(value, key=lambda k: (str(type(k)), k)))
        if isinstance(value, (list, tuple)):
            return enumerate(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise TemplateError(f"range can't iterate over {value}")
            return ((i, i) for i in range(value))
        raise TemplateError(f"range can't iterate over {go_str(value)}")

    def _pipe(self, pipe: Pipeline, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        value: Any = NO_VALUE
        piped = False
        for cmd in pipe.commands:
            value = self._command(cmd, dot, variables, value if piped else NO_VALUE, piped)
            piped = True
        if isinstance(value, Method) and pipe.decl:
            value = value.call()
        if pipe.decl:
            if pipe.assign:
                for i in range(len(variables) - 1, -1, -1):
                    if variables[i][0] == pipe.decl[0]:
                        variables[i] = (pipe.decl[0], value)
                        break
            else:
                variables.append((pipe.decl[0], value))
        return value

    def _command(self, cmd: Command, dot: Any, variables: list[tuple[str, Any]], final: Any, piped: bool) -> Any:
        first, rest = cmd.args[0], cmd.args[1:]
        if isinstance(first, Ident):
            args = [self._arg(a, dot, variables) for a in rest] + ([final] if piped else [])
            try:
                return FUNCTIONS[first.name](*args)
            except TypeError:
                raise TemplateError(f"wrong number of args for {first.name}: got {len(args)}") from None
        if isinstance(first, (Field, Variable)) and (rest or piped):
            method = self._walk(first, dot, variables, call_last=False)
            if not isinstance(method, Method) and not callable(method):
                raise TemplateError(f"can't give argument to non-function {first}")
            args = [self._arg(a, dot, variables) for a in rest] + ([final] if piped else [])
            return method.call(*args) if isinstance(method, Method) else method(*args)
        if rest or piped:
            raise TemplateError(f"can't give argument to non-function {first}")
        return self._arg(first, dot, variables)

    def _arg(self, arg: Any, dot: Any, variables: list[tuple[str, Any]]) -> Any:
        if isinstance(arg, Const):
            return arg.value
        if isinstance(arg, (Field, Variable)):
            return self._walk(arg, dot, variables, call_last=True)
        if isinstance(arg, Paren):
            value = self._pipe(arg.pipe, dot, variables)
            for name in arg.path:
                value = _member(value, name)
            return value.call() if isinstance(value, Method) else value
        raise TemplateError(f"can't use {arg} as an argument")

    def _walk(self, arg: Field | Variable, dot: Any, variables: list[tuple[str, Any]], call_last: bool) -> Any:
        value = dot
        if isinstance(arg, Variable):
            found = [v for name, v in variables if name == arg.name]
            if not found:
                raise TemplateError(f"undefined variable: {arg.name}")
            value = found[-1]
        for name in arg.path:
            if isinstance(value, Method):  # a method in the middle of a chain runs without arguments
                value = value.call()
            value = _member(value, name)
        if call_last and isinstance(value, Method):
            value = value.call()
        elif call_last and callable(value) and not isinstance(value, GoStruct):
            value = Method(arg.path[-1] if arg.path else "", value).call()
        return value


def _member(value: Any, name: str) -> Any:
    if isinstance(value, GoMap):
        return value.get(name, NO_VALUE)
    if isinstance(value, GoStruct):
        return value.member(name)
    if isinstance(value, dict):
        if name not in value:
            raise TemplateError(f"can't evaluate field {name} in type *template.templateData")
        got = value[name]
        if isinstance(got, Lazy):
            return got()
        return Method(name, got) if callable(got) else got
    if value is None or value is NO_VALUE:
        raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
    raise TemplateError(f"can't evaluate field {name} in type {_go_type(value)}")
