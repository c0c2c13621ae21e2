"""``health`` options: defaults, and CoreDNS's exact errors."""

from __future__ import annotations

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.health.setup import parse
from pycoredns.server.config import load
from pycoredns.testing.fixtures import ControllerFactory


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("health", (":8080", 0.0), id="default"),
        pytest.param("health localhost:8091", ("localhost:8091", 0.0), id="address"),
        pytest.param("health bla:a", ("bla:a", 0.0), id="port-not-checked"),
        pytest.param("health :8091 {\n lameduck 4s\n}", (":8091", 4.0), id="lameduck"),
        pytest.param("health {\n lameduck 1m30s\n}", (":8080", 90.0), id="lameduck-default-address"),
    ],
)
def test_valid(setup_controller: ControllerFactory, body: str, expected: tuple[str, float]) -> None:
    assert parse(setup_controller(f". {{\n{body}\n}}\n", "health")) == (*expected, 0.0)  # liveness off


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("health {\n liveness\n}", (":8080", 0.0, 5.0), id="default"),
        pytest.param("health :8091 {\n lameduck 2s\n liveness 1500ms\n}", (":8091", 2.0, 1.5), id="duration"),
    ],
)
def test_liveness(setup_controller: ControllerFactory, body: str, expected: tuple[str, float, float]) -> None:
    assert parse(setup_controller(f". {{\n{body}\n}}\n", "health")) == expected


ARG = "Wrong argument count or unexpected line ending after"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("health bla", "plugin/health: address bla: missing port in address", id="no-port"),
        pytest.param("health a:1 b:2", f"plugin/health: Corefile:2 - Error during parsing: {ARG} 'b:2'", id="two"),
        pytest.param("health :8080 {\n lameduck\n}",
                     f"plugin/health: Corefile:3 - Error during parsing: {ARG} 'lameduck'", id="lameduck-no-value"),
        pytest.param("health :8080 {\n lameduck 1s 2s\n}",
                     f"plugin/health: Corefile:3 - Error during parsing: {ARG} '2s'", id="lameduck-two-values"),
        pytest.param("health :8080 {\n lameduck a\n}",
                     'plugin/health: unable to parse lameduck duration value: "a": time: invalid duration "a"',
                     id="lameduck-bad"),
        pytest.param("health :8080 {\n lameduck 5\n}",
                     'plugin/health: unable to parse lameduck duration value: "5": '
                     'time: missing unit in duration "5"', id="lameduck-no-unit"),
        pytest.param("health :8080 {\n liveness 1s 2s\n}",
                     f"plugin/health: Corefile:3 - Error during parsing: {ARG} '2s'", id="liveness-two-values"),
        pytest.param("health :8080 {\n liveness 0s\n}",
                     "plugin/health: Corefile:3 - Error during parsing: liveness duration must be positive: 0s",
                     id="liveness-zero"),
        pytest.param("health :8080 {\n liveness a\n}",
                     'plugin/health: Corefile:3 - Error during parsing: time: invalid duration "a"', id="liveness-bad"),
        pytest.param("health :8080 {\n foo\n}",
                     "plugin/health: Corefile:3 - Error during parsing: unknown property 'foo'", id="unknown"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error
