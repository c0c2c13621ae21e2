"""``prometheus`` options: CoreDNS's default address, and its exact errors for bad input."""

from __future__ import annotations

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.prometheus.setup import parse
from pycoredns.server.config import load
from pycoredns.testing.fixtures import ControllerFactory


@pytest.mark.parametrize(
    ("body", "addr"),
    [
        pytest.param("prometheus", "localhost:9153", id="default"),
        pytest.param("prometheus :9253", ":9253", id="port-only"),
        pytest.param("prometheus 127.0.0.1:9254", "127.0.0.1:9254", id="host-port"),
        pytest.param("prometheus [::1]:9153", "[::1]:9153", id="ipv6"),
        pytest.param("prometheus localhost:9153 {\n runtime_metrics\n}", "localhost:9153", id="runtime-metrics"),
    ],
)
def test_valid(setup_controller: ControllerFactory, body: str, addr: str) -> None:
    assert parse(setup_controller(f". {{\n{body}\n}}\n", "prometheus")) == addr


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("prometheus /foo", "plugin/prometheus: address /foo: missing port in address", id="no-port"),
        pytest.param("prometheus {}", "plugin/prometheus: address {}: missing port in address", id="braces"),
        pytest.param("prometheus a:1 b:2",
                     "plugin/prometheus: Corefile:2 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'b:2'", id="two-args"),
        pytest.param("prometheus :9153 {\n foo\n}",
                     "plugin/prometheus: Corefile:3 - Error during parsing: unknown option: foo", id="unknown-option"),
        pytest.param("prometheus :9153 {\n runtime_metrics yes\n}",
                     "plugin/prometheus: Corefile:3 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'yes'", id="runtime-metrics-arg"),
        pytest.param("prometheus :9153 {\n tls\n}",
                     "plugin/prometheus: Corefile:3 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'tls'", id="tls-no-file"),
        pytest.param("prometheus :9153 {\n tls a.yml\n tls b.yml\n}",
                     "plugin/prometheus: Corefile:4 - Error during parsing: tls block already specified",
                     id="tls-twice"),
        pytest.param("prometheus :9153 {\n tls a.yml b.yml\n}",
                     "plugin/prometheus: Corefile:3 - Error during parsing: "
                     "Wrong argument count or unexpected line ending after 'b.yml'", id="tls-two-files"),
        pytest.param("prometheus :9153\nprometheus :9154",
                     "plugin/prometheus: this plugin can only be used once per Server Block", id="twice"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error


def test_observer_not_a_handler() -> None:
    inst = load(".:1053 {\n    whoami\n    prometheus 127.0.0.1:0\n}\n")
    cfg = inst.configs[0]
    assert [h.name for h in cfg.handlers] == ["whoami"]
    assert len(cfg.observers) == 1
