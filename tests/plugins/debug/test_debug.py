"""``debug``: no arguments; it marks the block and turns on [DEBUG] lines for the process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pycoredns import log as clog
from pycoredns.errors import PluginSetupError
from pycoredns.log import plugin_log
from pycoredns.server.config import load
from pycoredns.testing.logs import CapturedLog


@pytest.fixture(autouse=True)
def _restore_level() -> Iterator[None]:
    yield
    clog.set_debug(False)


@pytest.mark.parametrize(
    ("text", "debug"),
    [
        pytest.param(". {\n whoami\n debug\n}\n", [True], id="on"),
        pytest.param(". {\n whoami\n debug\n debug\n}\n", [True], id="twice"),
        pytest.param("a.org {\n whoami\n debug\n}\nb.org {\n whoami\n}\n", [True, False], id="per-block"),
    ],
)
def test_valid(text: str, debug: list[bool]) -> None:
    clog.set_debug(False)
    inst = load(text)
    assert [cfg.debug for cfg in inst.configs] == debug
    assert logging.getLogger("pycoredns").isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("debug off", "plugin/debug: Corefile:2 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'off'", id="argument"),
        pytest.param("debug {\n}", "plugin/debug: Corefile:2 - Error during parsing: "
                     "Unexpected token '{', expecting argument", id="block"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error


def test_debug_lines_shown(coredns_log: CapturedLog) -> None:
    coredns_log.set_level(logging.INFO)
    logger = logging.getLogger("pycoredns")
    plugin_log("forward").debug("hidden")
    load(". {\n whoami\n debug\n}\n")
    assert logger.level == logging.DEBUG
    plugin_log("forward").debug("shown")
    assert coredns_log.lines == ["[DEBUG] plugin/forward: shown"]
