"""Fixtures shared by the whole suite."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from pycoredns import log as clog


@contextlib.contextmanager
def coredns_caplog(caplog: pytest.LogCaptureFixture, level: int) -> Iterator[pytest.LogCaptureFixture]:
    """caplog attached to the ``pycoredns`` logger (which does not propagate to the root), its
    lines in CoreDNS's layout ([INFO] plugin/NAME: ...) so tests match real log lines."""
    logger = logging.getLogger("pycoredns")
    caplog.handler.setFormatter(clog._Format())
    logger.addHandler(caplog.handler)
    old, propagate = logger.level, logger.propagate
    logger.propagate = False  # the root has caplog's handler too: no double lines
    logger.setLevel(level)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old)
        logger.propagate = propagate


@pytest.fixture(scope="session")
def node_cache_image() -> str:
    """The node-cache image built from this checkout (scripts/build-image.sh; reused while the
    sources are unchanged). Skips, saying so, where podman cannot run (not root)."""
    from tests.deploy.image import built_image

    return built_image()
