"""Shared fixtures: log capture that works whether or not pycoredns's log handler is installed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.conftest import coredns_caplog


@pytest.fixture
def nclog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with coredns_caplog(caplog, logging.DEBUG) as log:
        yield log
