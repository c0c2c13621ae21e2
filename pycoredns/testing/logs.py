"""Capture pycoredns's log lines as CoreDNS lays them out (``[INFO] plugin/NAME: ...``)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from pycoredns.log import _Format


class CapturedLog:
    def __init__(self, buf: io.StringIO) -> None:
        self._buf = buf

    @property
    def lines(self) -> list[str]:
        return self._buf.getvalue().splitlines()

    @property
    def text(self) -> str:
        return self._buf.getvalue()


@contextlib.contextmanager
def capture_log(level: int = logging.DEBUG) -> Iterator[CapturedLog]:
    """Collect every line the ``pycoredns`` loggers write while the block runs."""
    logger = logging.getLogger("pycoredns")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(_Format())
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield CapturedLog(buf)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
