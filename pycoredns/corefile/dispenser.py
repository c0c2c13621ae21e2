"""The token cursor plugins read their arguments from (Caddy's ``Dispenser``).

A plugin's setup receives every token of its directive in one server block and walks them:

    while d.next():                 # the directive name, once per occurrence
        args = d.remaining_args()   # the rest of its line, stopping before a "{"
        while d.next_block():       # each option line of its "{ ... }" block
            option = d.val()

"Same line" is judged by file and start line plus the line breaks inside a quoted token, so a
multi-line quoted argument does not end its line early. Errors are built, not raised (``raise
d.arg_err()``), and carry CoreDNS's layout ``<file>:<line> - Error during parsing: <msg>``; the
engine adds the ``plugin/<name>: `` prefix.

The option helpers say in one call what a CoreDNS plugin spells out each time, with the same
cursor moves and therefore the same error texts:

    d.one_arg()                     # if !c.NextArg() { return c.ArgErr() }; c.Val()
    d.no_args()                     # if c.NextArg() { return c.ArgErr() }
    d.remaining_args(at_least=1)    # args := c.RemainingArgs(); if len(args) == 0 { return c.ArgErr() }
    d.only_arg()                    # args := c.RemainingArgs(); if len(args) != 1 { return c.ArgErr() }
    raise d.unknown_property()      # return c.Errf("unknown property '%s'", c.Val())
    d.duration(text)                # time.ParseDuration, its error positioned: c.Err(err.Error())
    d.duration(text, plain=True)    # the same error returned as is (no file and line)
    d.integer(text), d.unsigned(text, bits=32), d.host_port(text)   # strconv.Atoi, ParseUint, SplitHostPort

A value helper's ``message`` rewords the parser's error: ``{value}`` is the text read, ``{error}``
Go's message (``message="invalid duration for reload '{value}'"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pycoredns.corefile.tokens import Token
from pycoredns.corefile.values import parse_atoi, parse_duration, parse_uint, split_host_port
from pycoredns.errors import ConfigError, CorefileError, PyCoreDNSError

__all__ = ["Dispenser"]

T = TypeVar("T")


class Dispenser:
    """A cursor over tokens; it starts before the first token, so call :meth:`next` first."""

    def __init__(self, tokens: list[Token], plugin: str | None = None, *, filename: str | None = None) -> None:
        self.plugin = plugin
        self._tokens = tokens
        self._cursor = -1
        self._nesting = 0
        # Named in errors when no token is loaded (Caddy names the Corefile there).
        self._filename = filename if filename is not None else (tokens[0].file if tokens else "")

    # -- moving ------------------------------------------------------------------------------
    def next(self) -> bool:
        """Load the next token, wherever it is; False at the end."""
        if self._cursor < len(self._tokens) - 1:
            self._cursor += 1
            return True
        return False

    def next_arg(self) -> bool:
        """Load the next token only if it is on the current token's line."""
        if self._cursor < 0:
            self._cursor += 1
            return True
        if self._cursor < len(self._tokens) - 1 and self._same_line(self._cursor, self._cursor + 1):
            self._cursor += 1
            return True
        return False

    def next_line(self) -> bool:
        """Load the next token only if it starts a later line (or another file)."""
        if self._cursor < 0:
            self._cursor += 1
            return True
        if self._cursor < len(self._tokens) - 1:
            a, b = self._tokens[self._cursor], self._tokens[self._cursor + 1]
            # Strictly later, as Caddy: a token spliced in from earlier lines of the same file
            # (a snippet) is neither on this line nor on a new one.
            if a.file != b.file or a.line + a.newlines < b.line:
                self._cursor += 1
                return True
        return False

    def next_block(self, nesting: int = 0) -> bool:
        """Load the next token of the ``{ ... }`` block that opens on the current line.

        Returns False, leaving the cursor on the ``}``, when the block ends; also when there is no
        block (the cursor is then unmoved). A ``{`` directly followed by ``}`` counts as no block.
        Nested blocks: inside a loop at depth N, loop on ``next_block(N + 1)`` for the inner one.
        """
        if self._nesting > nesting:
            if not self.next():
                return False  # unclosed block at EOF: stop instead of looping on the last token
            if self.val() == "}":
                self._nesting -= 1
                return False
            return True
        if not self.next_arg():  # a block must open on the directive's (or option's) line
            return False
        if self.val() != "{":
            self._cursor -= 1
            return False
        if not self.next():
            return False
        if self.val() == "}":
            return False
        self._nesting += 1
        return True

    def args(self, count: int) -> list[str] | None:
        """The next ``count`` arguments on this line, or None (cursor moved) if there are fewer."""
        out = []
        for _ in range(count):
            if not self.next_arg():
                return None
            out.append(self.val())
        return out

    def remaining_args(self, *, at_least: int = 0, at_most: int | None = None) -> list[str]:
        """The rest of this line's arguments; stops before (without loading) a ``{``.

        With ``at_least`` or ``at_most``, a count outside the bounds is an argument error (the
        cursor is then on the last argument read, as after Caddy's ``RemainingArgs``).
        """
        out = []
        while self.next_arg():
            if self.val() == "{":
                self._cursor -= 1
                break
            out.append(self.val())
        if len(out) < at_least or (at_most is not None and len(out) > at_most):
            raise self.arg_err()
        return out

    def one_arg(self) -> str:
        """The next argument on this line; an argument error when the line ends."""
        if not self.next_arg():
            raise self.arg_err()
        return self.val()

    def only_arg(self) -> str:
        """The one remaining argument of this line; an argument error when there are none or more."""
        return self.remaining_args(at_least=1, at_most=1)[0]

    def no_args(self) -> None:
        """An argument error if another argument follows on this line (the error names it)."""
        if self.next_arg():
            raise self.arg_err()

    # -- reading -----------------------------------------------------------------------------
    def token(self) -> Token | None:
        """The current token, or None before the first / past the last."""
        if 0 <= self._cursor < len(self._tokens):
            return self._tokens[self._cursor]
        return None

    def val(self) -> str:
        tok = self.token()
        return tok.text if tok is not None else ""

    def line(self) -> int:
        tok = self.token()
        return tok.line if tok is not None else 0

    def file(self) -> str:
        tok = self.token()
        return tok.file if tok is not None and tok.file else self._filename

    @property
    def nesting(self) -> int:
        """How many blocks :meth:`next_block` has entered and not yet left."""
        return self._nesting

    # -- errors (returned, to be raised by the caller) ---------------------------------------
    def err(self, message: str, at: Token | None = None) -> CorefileError:
        """``<file>:<line> - Error during parsing: <message>`` at the current token, or at ``at``
        (a token kept from :meth:`token`, for a check that can only run after more was read)."""
        if at is not None:
            return CorefileError(f"{at.file or self._filename}:{at.line} - Error during parsing: {message}")
        return CorefileError(f"{self.file()}:{self.line()} - Error during parsing: {message}")

    def errf(self, message: str, *args: object) -> CorefileError:
        """Like :meth:`err` with ``%``-formatting, as Caddy's ``Errf``."""
        return self.err(message % args if args else message)

    def arg_err(self) -> CorefileError:
        """An argument was expected but the line ended (or a block opened) instead."""
        if self.val() == "{":
            return self.err("Unexpected token '{', expecting argument")
        return self.err(f"Wrong argument count or unexpected line ending after '{self.val()}'")

    def unknown_property(self) -> CorefileError:
        """The current token is no option of this plugin (the error most plugins give for it)."""
        return self.errf("unknown property '%s'", self.val())

    def syntax_err(self, expected: str) -> CorefileError:
        found = f"Unexpected token '{self.val()}', expecting '{expected}'"
        return CorefileError(f"{self.file()}:{self.line()} - Syntax error: {found}")

    def eof_err(self) -> CorefileError:
        return self.err("Unexpected EOF")

    # -- typed values: Go's syntax and errors -----------------------------------------------
    # Each reads ``text`` (default: the current token). An error is positioned at the current
    # token (CorefileError), or with ``plain`` a ConfigError without file and line, for the places
    # where CoreDNS returns the parser's error as is.
    def duration(self, text: str | None = None, *, plain: bool = False, message: str | None = None) -> float:
        """Seconds in a Go duration, as ``time.ParseDuration`` reads it."""
        return self._read(parse_duration, text, plain, message)

    def integer(
        self,
        text: str | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        plain: bool = False,
        message: str | None = None,
    ) -> int:
        """An integer as ``strconv.Atoi`` reads it, optionally bounded (inclusive)."""
        value = self._read(parse_atoi, text, plain, message)
        if minimum is not None and value < minimum:
            raise self._error(f"value {value} is below the minimum {minimum}", plain)
        if maximum is not None and value > maximum:
            raise self._error(f"value {value} is above the maximum {maximum}", plain)
        return value

    def unsigned(
        self, text: str | None = None, *, bits: int = 64, plain: bool = False, message: str | None = None
    ) -> int:
        """An unsigned integer as ``strconv.ParseUint(text, 10, bits)`` reads it."""
        return self._read(lambda t: parse_uint(t, bits), text, plain, message)

    def positive_int(self, text: str | None = None) -> int:
        value_text = self.val() if text is None else text
        value = self.integer(value_text)
        if value <= 0:
            raise self.err(f"{value_text} must be a positive integer")
        return value

    def host_port(self, text: str | None = None, *, plain: bool = False, message: str | None = None) -> tuple[str, str]:
        """``(host, port)`` as ``net.SplitHostPort`` splits it."""
        return self._read(split_host_port, text, plain, message)

    def _read(self, parse: Callable[[str], T], text: str | None, plain: bool, message: str | None) -> T:
        value = self.val() if text is None else text
        try:
            return parse(value)
        except ValueError as e:
            why = str(e) if message is None else message.format(value=value, error=e)
            raise self._error(why, plain) from None

    def _error(self, message: str, plain: bool) -> PyCoreDNSError:
        return ConfigError(message) if plain else self.err(message)

    # -- internals shared with the parser ----------------------------------------------------
    def _same_line(self, first: int, second: int) -> bool:
        a, b = self._tokens[first], self._tokens[second]
        return a.file == b.file and a.line + a.newlines == b.line

    def _is_new_line(self) -> bool:
        """True if the current token starts a later line than the one before it (or no token precedes)."""
        if self._cursor < 1:
            return True
        if self._cursor > len(self._tokens) - 1:
            return False
        prev, cur = self._tokens[self._cursor - 1], self._tokens[self._cursor]
        return prev.file != cur.file or prev.line + prev.newlines < cur.line
