"""Log the errors handlers report: ``[ERROR] plugin/errors: <rcode> <qname> <qtype>: <error>``.

Errors matching a ``consolidate`` pattern are counted instead, and one summary line per period
says how many there were (CoreDNS's errorHandler, with ``show_first``).
"""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from logging import ERROR

from pycoredns.plugin import HandlerError, Request, go_duration, plugin_log

log = plugin_log("errors")
LEVELS: dict[str, Callable[..., None]] = {
    "warning": log.warning,
    "error": log.error,
    "info": log.info,
    "debug": log.debug,
}


@dataclass
class Pattern:
    period: float
    regex: re.Pattern[str]
    source: str  # the pattern as written, quoted in the summary line
    level: str = "error"
    show_first: bool = False
    count: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def flush(self) -> None:
        count, self.count, self.timer = self.count, 0, None
        if count > (1 if self.show_first else 0):
            LEVELS[self.level]("%d errors like '%s' occurred in last %s", count, self.source, go_duration(self.period))


class ErrorsObserver:
    # Only replies that carry an error concern it: the server skips it for the others.
    only_errors = True

    def __init__(self, patterns: list[Pattern], stacktrace: bool = False) -> None:
        self.patterns = patterns
        self.stacktrace = stacktrace
        self.stopped = False

    def observe(self, req: Request, reply: bytes | None, rcode: int, error: BaseException | None) -> None:
        if error is None:
            return
        text = str(error)
        line = (rcode, req.name, req.type_name, text)
        for p in self.patterns:
            if p.regex.search(text):
                if not self.stopped:
                    self._count(p, line)
                    return
                break
        log.laid_out(ERROR, f"[ERROR] plugin/errors: {rcode:d} {line[1]} {line[2]}: {text}")
        if self.stacktrace and not isinstance(error, HandlerError) and error.__traceback__ is not None:
            # A handler crashed (the server recovered it): show where, as CoreDNS's stacktrace does.
            log.error("%s", "".join(traceback.format_exception(error)).rstrip())

    def _count(self, p: Pattern, line: tuple[int, str, str, str]) -> None:
        p.count += 1
        if p.count != 1:
            return
        if p.show_first:
            LEVELS[p.level]("%d %s %s: %s", *line)
        try:
            p.timer = asyncio.get_running_loop().call_later(p.period, p.flush)
        except RuntimeError:  # no loop (a direct call from a test): report at once
            p.flush()

    def stop(self) -> None:
        """On shutdown (reload or exit): report what is pending and stop consolidating."""
        self.stopped = True
        for p in self.patterns:
            if p.timer is not None:
                p.timer.cancel()
                p.flush()
