"""Parse ``errors [stdout] [{ stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }]``."""

from __future__ import annotations

import re

from pycoredns.plugin import Controller
from pycoredns.plugins.errors.observer import LEVELS, ErrorsObserver, Pattern

MAX_REGEXP_LEN = 10000  # CoreDNS's guard against pathological patterns


def parse(c: Controller) -> tuple[list[Pattern], bool]:
    patterns: list[Pattern] = []
    stacktrace = False
    c.next()
    args = c.remaining_args(at_most=1)
    if args and args[0] != "stdout":
        raise c.errf("invalid log file: %s", args[0])
    while c.next_block():
        option = c.val()
        if option == "stacktrace":
            stacktrace = True
        elif option == "consolidate":
            patterns.append(parse_consolidate(c))
        else:
            raise c.syntax_err("Unknown field " + option)
    return patterns, stacktrace


def parse_consolidate(c: Controller) -> Pattern:
    args = c.remaining_args(at_least=2, at_most=4)
    period = c.duration(args[0])
    if len(args[1]) > MAX_REGEXP_LEN:
        raise c.errf("regex pattern too long: %d > %d", len(args[1]), MAX_REGEXP_LEN)
    try:
        regex = re.compile(args[1])
    except re.error as e:
        raise c.err(f"error parsing regexp: {e.msg}: `{args[1]}`") from None
    level, show_first = None, False
    for arg in args[2:]:
        if arg in LEVELS:
            if level is not None:
                raise c.err("multiple log levels specified in consolidate")
            if show_first:
                raise c.err("log level must come before show_first in consolidate")
            level = arg
        elif arg == "show_first":
            show_first = True
        else:
            raise c.errf("unknown option in consolidate: %s", arg)
    return Pattern(period, regex, args[1], level or "error", show_first)


def setup(c: Controller) -> None:
    patterns, stacktrace = parse(c)
    observer = ErrorsObserver(patterns, stacktrace)
    c.add_observer(observer)

    async def shutdown() -> None:
        observer.stop()

    c.on_shutdown(shutdown)
