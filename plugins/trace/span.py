"""Spans: one timed step of a traced query, and the root's stand-in before *trace*'s place."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pycoredns.plugin import Handler

_rng = random.Random()  # ids only need to be unique, not secret: no system call per span


def new_id() -> int:
    return _rng.getrandbits(64) or 1


class Span:
    """One timed step: ids, name, start (epoch microseconds), duration, tags."""

    __slots__ = ("report", "trace_id", "id", "parent_id", "name", "timestamp", "_started", "duration",
                 "kind", "tags", "error", "children")

    def __init__(self, report: Callable[[Span], None], trace_id: int, parent_id: int, name: str,
                 children: bool = True) -> None:
        self.report = report  # the reporter's queue
        self.trace_id = trace_id
        self.id = new_id()
        self.parent_id = parent_id
        self.name = name
        self.timestamp = time.time_ns() // 1000
        self._started = time.perf_counter()
        self.duration = 0
        self.kind = ""
        self.tags: dict[str, str] = {}
        self.error = ""
        self.children = children

    def child(self, handler: Handler) -> Span | None:
        if not self.children:
            return None
        return Span(self.report, self.trace_id, self.id, handler.name)

    def finish(self) -> None:
        self.duration = max(int((time.perf_counter() - self._started) * 1e6), 1)
        self.report(self)


class Pending:
    """The root span while the query is still in the handlers placed before *trace* (bufsize): as
    in CoreDNS they are outside the trace, which starts at the handler after *trace*'s place."""

    __slots__ = ("root", "at")

    def __init__(self, root: Span, at: Handler) -> None:
        self.root = root
        self.at = at

    def child(self, handler: Handler) -> Span | None:
        return self.root.child(handler) if handler is self.at else None

    def finish(self) -> None:  # the root is finished by the sampler
        pass
