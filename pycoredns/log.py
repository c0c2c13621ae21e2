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
    """Send pycoredns's log to stdout in CoreDNS's layout (idempotent)."""
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


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``5s``, ``1m30s``, ``1.5ms``), for
    log lines that quote configured durations the way CoreDNS does."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    head = f"{hours}h{minutes}m" if hours else (f"{minutes}m" if minutes else "")
    return f"{sign}{head}{_fraction(rest, 10**9)}s"


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
