"""``log`` options: names, formats and classes as CoreDNS reads them, and its errors."""

from __future__ import annotations

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.log.format import COMBINED, COMMON
from pycoredns.plugins.log.setup import parse
from pycoredns.server.config import load
from pycoredns.testing.fixtures import ControllerFactory


@pytest.mark.parametrize(
    ("body", "rules"),
    [
        pytest.param("log", [(".", COMMON, {"all"})], id="bare"),
        pytest.param("log example.org", [("example.org.", COMMON, {"all"})], id="one-name"),
        pytest.param("log {type}", [("{type}.", COMMON, {"all"})], id="one-arg-is-a-name"),
        pytest.param("log example.org {combined}", [("example.org.", COMBINED, {"all"})], id="combined"),
        pytest.param("log . {common}", [(".", COMMON, {"all"})], id="common"),
        pytest.param("log a.org b.org \"{name} {type}\"",
                     [("a.org.", "{name} {type}", {"all"}), ("b.org.", "{name} {type}", {"all"})], id="names-format"),
        pytest.param("log a.org b.org", [("a.org.", COMMON, {"all"}), ("b.org.", COMMON, {"all"})],
                     id="two-names-no-format"),
        pytest.param("log \"{common} {>opcode}\" x",
                     [("{common} {>opcode}.", COMMON, {"all"}), ("x.", COMMON, {"all"})], id="format-must-be-last"),
        pytest.param("log . \"[{remote}] {combined}\"", [(".", "[{remote}] " + COMBINED, {"all"})], id="expand-inside"),
        pytest.param("log {\n class denial error\n}", [(".", COMMON, {"denial", "error"})], id="classes"),
        pytest.param("log {\n class success\n class error\n}", [(".", COMMON, {"success", "error"})],
                     id="classes-or-ed"),
        pytest.param("log a.org b.org {\n class denial\n}\nlog",
                     [("a.org.", COMMON, {"denial"}), ("b.org.", COMMON, {"denial"}), (".", COMMON, {"all"})],
                     id="two-lines"),
    ],
)
def test_valid(setup_controller: ControllerFactory, body: str, rules: list[tuple[str, str, set[str]]]) -> None:
    got = parse(setup_controller(f". {{\n{body}\n}}\n", "log"))
    assert [(r.name, r.format, r.classes) for r in got] == rules


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("log {\n class\n}", "plugin/log: Corefile:3 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'class'", id="class-empty"),
        pytest.param("log {\n class often\n}", "plugin/log: invalid Class: often", id="class-bad"),
        pytest.param("log {\n foo\n}", "plugin/log: Corefile:3 - Error during parsing: unknown property 'foo'",
                     id="unknown"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error
