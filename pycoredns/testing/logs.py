"""Capture pycoredns's log lines as CoreDNS lays them out (``[INFO] plugin/NAME: ...``).

The capture hangs a handler on the ``pycoredns`` logger itself, so it sees every line whether or
not the logger propagates to the root (the command-line programs turn propagation off when they
install their own output).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from pycoredns.log import _Format


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_Format())
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self.changed:
            self.lines.extend(line.splitlines() or [""])
            self.records.append(record)
            self.changed.notify_all()


class CapturedLog:
    """The lines the ``pycoredns`` loggers wrote while the capture ran (safe across threads: the
    server under test logs from its own thread)."""

    def __init__(self, collector: _Collector) -> None:
        self._c = collector

    @property
    def lines(self) -> list[str]:
        """Every line so far, ``[LEVEL] plugin/NAME: message`` (a traceback adds lines)."""
        with self._c.changed:
            return list(self._c.lines)

    @property
    def text(self) -> str:
        """The lines joined, each ending in a newline."""
        lines = self.lines
        return "".join(line + "\n" for line in lines)

    @property
    def records(self) -> list[logging.LogRecord]:
        with self._c.changed:
            return list(self._c.records)

    def clear(self) -> None:
        """Forget what was captured so far."""
        with self._c.changed:
            self._c.lines.clear()
            self._c.records.clear()

    def set_level(self, level: int) -> None:
        """Capture from ``level`` up (the logger's level while the capture runs)."""
        logging.getLogger("pycoredns").setLevel(level)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """The first line containing ``text``, waiting up to ``timeout`` seconds for it to be
        written; raises AssertionError (with what was written) when it is not."""
        deadline = time.monotonic() + timeout
        with self._c.changed:
            while True:
                for line in self._c.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(self._c.lines) or "(nothing)"
                    raise AssertionError(f"no log line with {text!r} within {timeout}s; the log:\n{seen}")
                self._c.changed.wait(left)


@contextlib.contextmanager
def capture_log(level: int = logging.DEBUG) -> Iterator[CapturedLog]:
    """Collect every line the ``pycoredns`` loggers write while the block runs, from ``level`` up."""
    logger = logging.getLogger("pycoredns")
    collector = _Collector()
    old_level = logger.level
    logger.addHandler(collector)
    logger.setLevel(level)
    try:
        yield CapturedLog(collector)
    finally:
        logger.removeHandler(collector)
        logger.setLevel(old_level)
