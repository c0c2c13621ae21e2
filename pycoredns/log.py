"""CoreDNS's log layout: ``[LEVEL] plugin/NAME: message`` on stdout, no timestamp."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

_ROOT = "pycoredns"
_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("["):  # already laid out by the caller
            return msg
        level = _LEVELS.get(record.levelno, record.levelname)
        plugin = getattr(record, "plugin", None)
        text = f"[{level}] plugin/{plugin}: {msg}" if plugin else f"[{level}] {msg}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(debug: bool = False, stream: object = None) -> None:
    """Send pycoredns's log to stdout in CoreDNS's layout (idempotent).

    The layout shows no caller, thread or process, so the records do not collect them (the
    logging HOWTO's optimisations): that halves the cost of a line, and the errors plugin writes
    one per failed query (thousands a second while an upstream is down)."""
    logging._srcfile = None  # no sys._getframe() walk for the caller's file and line
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logger = logging.getLogger(_ROOT)
    if not any(getattr(h, "_pycoredns", False) for h in logger.handlers):
        h = logging.StreamHandler(stream or sys.stdout)  # type: ignore[arg-type]
        h.setFormatter(_Format())
        h._pycoredns = True  # type: ignore[attr-defined]
        logger.addHandler(h)
        logger.propagate = False
    set_debug(debug)


def set_debug(debug: bool) -> None:
    logging.getLogger(_ROOT).setLevel(logging.DEBUG if debug else logging.INFO)


class PluginLog(logging.LoggerAdapter[logging.Logger]):
    """A logger whose lines read ``[INFO] plugin/NAME: ...`` (CoreDNS's clog.NewWithPlugin)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs.setdefault("extra", {})["plugin"] = self.extra["plugin"] if self.extra else None
        return msg, kwargs


def plugin_log(name: str) -> PluginLog:
    return PluginLog(logging.getLogger(f"{_ROOT}.{name}"), {"plugin": name})


def get() -> logging.Logger:
    return logging.getLogger(_ROOT)
