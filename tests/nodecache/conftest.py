"""Shared fixtures: log capture that works whether or not pycoredns's log handler is installed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pycoredns import log as clog


@pytest.fixture
def nclog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, also attached to the ``pycoredns`` logger (which may not propagate to the root)."""
    logger = logging.getLogger("pycoredns")
    # CoreDNS's line layout ([INFO] plugin/NAME: ...), so tests can match real log lines.
    caplog.handler.setFormatter(clog._Format())
    logger.addHandler(caplog.handler)
    old, propagate = logger.level, logger.propagate
    logger.propagate = False  # the root has caplog's handler too: no double lines
    logger.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old)
        logger.propagate = propagate
