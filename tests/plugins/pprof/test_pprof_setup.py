"""``pprof`` options: CoreDNS's TestPProf table, with its error texts."""

from __future__ import annotations

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.pprof.setup import parse
from pycoredns.server.config import load
from pycoredns.testing.setup import controller

ARG = "Wrong argument count or unexpected line ending after"
AT = "plugin/pprof: Corefile:{line} - Error during parsing: "


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("pprof", ("localhost:6053", 0), id="default"),
        pytest.param("pprof 1.2.3.4:1234", ("1.2.3.4:1234", 0), id="address"),
        pytest.param("pprof :1234", (":1234", 0), id="port-only"),
        pytest.param("pprof {\n}", ("localhost:6053", 0), id="empty-block"),
        pytest.param("pprof { block\n}", ("localhost:6053", 1), id="block-default-rate"),
        pytest.param("pprof :1234 {\n block 20\n}", (":1234", 20), id="block-rate"),
        pytest.param("pprof {\n block -1\n}", ("localhost:6053", -1), id="block-negative-is-off"),
    ],
)
def test_valid(body: str, expected: tuple[str, int]) -> None:
    assert parse(controller(f". {{\n{body}\n}}\n", "pprof")) == expected


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("pprof :1234 -1", AT.format(line=2) + f"{ARG} '-1'", id="two-args"),
        pytest.param("pprof /foo", AT.format(line=2) + "address /foo: missing port in address", id="no-port"),
        pytest.param("pprof {\n a b\n}", AT.format(line=3) + "unknown property 'a'", id="unknown-with-arg"),
        pytest.param("pprof {\n block 20 30\n}", AT.format(line=3) + f"{ARG} '30'", id="block-two-rates"),
        pytest.param("pprof {\n block invalid\n}", AT.format(line=3) + "property 'block' invalid integer value "
                     "'invalid'", id="block-not-integer"),
        pytest.param("pprof {\n unknown_property\n}", AT.format(line=3) + "unknown property 'unknown_property'",
                     id="unknown"),
        pytest.param("pprof\npprof", "plugin/pprof: this plugin can only be used once per Server Block", id="twice"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error
