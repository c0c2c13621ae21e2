"""Rewrite rules: what they match in the query, what they change, and the response rules they add.

A rule's ``rewrite(q)`` changes the mutable :class:`Question` and returns the response rules to
apply to the reply, or None when it did not match (CoreDNS's RewriteIgnored).
"""

from __future__ import annotations

import re

from pycoredns.plugin import Request, goregex
from pycoredns.plugins.rewrite.opt import QueryOpt
from pycoredns.plugins.rewrite.response import RcodeRule, Response, TTLRule
from pycoredns.plugins.rewrite.strings import NameResponse, Remap, StringRewriter, ValueResponse

STOP = "stop"
CONTINUE = "continue"


class Question:
    """The query being rewritten: name as it will be sent, type and class, and the OPT record
    once an ``edns0`` rule has read it (``req`` is the client's query, as it came)."""

    __slots__ = ("name", "qtype", "qclass", "req", "opt")

    def __init__(self, name: str, qtype: int, qclass: int, req: Request) -> None:
        self.name = name
        self.qtype = qtype
        self.qclass = qclass
        self.req = req
        self.opt: QueryOpt | None = None

    @property
    def lower(self) -> str:
        """CoreDNS's ``state.Name()``: the current name, lower-cased."""
        return self.name.lower()


class Rule:
    mode = STOP

    def rewrite(self, q: Question) -> list[Response] | None:  # pragma: no cover - overridden
        raise NotImplementedError


class NameRule(Rule):
    """``name [exact|prefix|suffix|substring|regex] FROM TO [answer ...]``."""

    def __init__(
        self,
        mode: str,
        kind: str,
        match: str,
        replacement: str,
        auto: bool,
        static: list[Response],
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.mode = mode
        self.kind = kind
        self.match = match
        self.pattern = pattern
        self.replacement = replacement
        self.auto = auto
        self.static = static

    def rewrite(self, q: Question) -> list[Response] | None:
        new = self._new_name(q.lower)
        if new is None:
            return None
        original = q.lower
        q.name = new
        if not self.auto:
            return self.static
        # Map the new name (and names below it) back to the one the client asked for.
        back: StringRewriter = Remap(new, original)
        return [NameResponse(back), ValueResponse(back), *self.static]

    def _new_name(self, name: str) -> str | None:
        kind, match = self.kind, self.match
        if self.pattern is not None:
            groups = goregex.submatches(self.pattern, name)
            return None if groups is None else goregex.expand(self.replacement, groups)
        if kind == "exact":
            return self.replacement if name == match else None
        if kind == "prefix":
            return self.replacement + name[len(match) :] if name.startswith(match) else None
        if kind == "suffix":
            return name[: len(name) - len(match)] + self.replacement if name.endswith(match) else None
        return name.replace(match, self.replacement) if match in name else None


class TypeRule(Rule):
    def __init__(self, mode: str, from_type: int, to_type: int) -> None:
        self.mode, self.from_type, self.to_type = mode, from_type, to_type

    def rewrite(self, q: Question) -> list[Response] | None:
        if self.from_type > 0 and self.to_type > 0 and q.qtype == self.from_type:
            q.qtype = self.to_type
            return []
        return None


class ClassRule(Rule):
    def __init__(self, mode: str, from_class: int, to_class: int) -> None:
        self.mode, self.from_class, self.to_class = mode, from_class, to_class

    def rewrite(self, q: Question) -> list[Response] | None:
        if self.from_class > 0 and self.to_class > 0 and q.qclass == self.from_class:
            q.qclass = self.to_class
            return []
        return None


class NameMatch:
    """The name test ``ttl`` and ``rcode`` rules use (they never change the question)."""

    def __init__(self, kind: str, match: str, pattern: re.Pattern[str] | None = None) -> None:
        self.kind, self.match, self.pattern = kind, match, pattern

    def __call__(self, name: str) -> bool:
        m = self.match
        if self.pattern is not None:
            return self.pattern.search(name) is not None
        if self.kind == "exact":
            return name == m
        if self.kind == "prefix":
            return name.startswith(m)
        if self.kind == "suffix":
            return name.endswith(m)
        return m in name


class ResponseOnlyRule(Rule):
    """``ttl`` and ``rcode``: a name test that, on a match, adds one response rule."""

    def __init__(self, mode: str, test: NameMatch, response: TTLRule | RcodeRule) -> None:
        self.mode, self.test, self.response = mode, test, response

    def rewrite(self, q: Question) -> list[Response] | None:
        return [self.response] if self.test(q.lower) else None
