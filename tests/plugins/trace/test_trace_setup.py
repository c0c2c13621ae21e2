"""``trace`` options: CoreDNS's TestTraceParse and TestParseServiceEndpoint tables, its error texts."""

from __future__ import annotations

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.trace.options import Options
from pycoredns.plugins.trace.setup import parse
from pycoredns.server.config import load
from pycoredns.testing.setup import controller

ZIPKIN = "http://localhost:9411/api/v2/spans"
AT = "plugin/trace: Corefile:{line} - Error during parsing: "
ARG = "Wrong argument count or unexpected line ending after"


def parsed(body: str, keys: str = ".") -> Options:
    return parse(controller(f"{keys} {{\n{body}\n}}\n", "trace"))


@pytest.mark.parametrize(
    ("body", "endpoint", "every", "service", "client_server", "backlog", "batch", "interval"),
    [
        pytest.param("trace", ZIPKIN, 1, "coredns", False, 0, 0, 0.0, id="default"),
        pytest.param("trace localhost:1234", "http://localhost:1234/api/v2/spans", 1, "coredns", False, 0, 0, 0.0,
                     id="zipkin-host"),
        pytest.param("trace http://localhost:1234/somewhere/else", "http://localhost:1234/somewhere/else", 1,
                     "coredns", False, 0, 0, 0.0, id="zipkin-url"),
        pytest.param("trace zipkin localhost:1234", "http://localhost:1234/api/v2/spans", 1, "coredns", False, 0, 0,
                     0.0, id="zipkin-typed"),
        pytest.param("trace datadog localhost", "localhost", 1, "coredns", False, 0, 0, 0.0, id="datadog"),
        pytest.param("trace datadog http://localhost:8127", "http://localhost:8127", 1, "coredns", False, 0, 0, 0.0,
                     id="datadog-url"),
        pytest.param("trace datadog localhost {\n datadog_analytics_rate 0.1\n}", "localhost", 1, "coredns", False,
                     0, 0, 0.0, id="datadog-rate"),
        pytest.param("trace {\n every 100\n}", ZIPKIN, 100, "coredns", False, 0, 0, 0.0, id="every"),
        pytest.param("trace {\n every 100\n service foobar\nclient_server\n}", ZIPKIN, 100, "foobar", True, 0, 0,
                     0.0, id="service-client-server"),
        pytest.param("trace {\n every 2\n client_server true\n}", ZIPKIN, 2, "coredns", True, 0, 0, 0.0,
                     id="client-server-true"),
        pytest.param("trace {\n client_server false\n}", ZIPKIN, 1, "coredns", False, 0, 0, 0.0,
                     id="client-server-false"),
        pytest.param("trace {\n zipkin_max_backlog_size 100\n zipkin_max_batch_size 200\n"
                     " zipkin_max_batch_interval 10s\n}", ZIPKIN, 1, "coredns", False, 100, 200, 10.0,
                     id="zipkin-reporter"),
    ],
)
def test_valid(body: str, endpoint: str, every: int, service: str, client_server: bool, backlog: int, batch: int,
               interval: float) -> None:
    o = parsed(body)
    assert o.service_endpoint == ""
    assert (o.endpoint, o.every, o.service, o.client_server) == (endpoint, every, service, client_server)
    assert (o.zipkin_max_backlog_size, o.zipkin_max_batch_size, o.zipkin_max_batch_interval) == (backlog, batch,
                                                                                                interval)


def test_datadog_rate_and_type() -> None:
    o = parsed("trace datadog localhost {\n datadog_analytics_rate 0.1\n}")
    assert (o.endpoint_type, o.datadog_analytics_rate) == ("datadog", 0.1)
    assert parsed("trace DataDog localhost").endpoint_type == "datadog"  # the type is lower-cased


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("trace footype localhost:4321", "plugin/trace: tracing endpoint type 'footype' is not supported",
                     id="unknown-type"),
        pytest.param("trace {\n every 2\n client_server junk\n}",
                     'plugin/trace: strconv.ParseBool: parsing "junk": invalid syntax', id="client-server-junk"),
        pytest.param("trace datadog localhost {\n datadog_analytics_rate 2\n}",
                     "plugin/trace: datadog analytics rate must be between 0 and 1, '2.000000' is not supported",
                     id="datadog-rate-range"),
        pytest.param("trace {\n zipkin_max_backlog_size wrong\n}",
                     'plugin/trace: strconv.Atoi: parsing "wrong": invalid syntax', id="backlog-not-integer"),
        pytest.param("trace {\n zipkin_max_batch_size wrong\n}",
                     'plugin/trace: strconv.Atoi: parsing "wrong": invalid syntax', id="batch-not-integer"),
        pytest.param("trace {\n zipkin_max_batch_interval wrong\n}",
                     'plugin/trace: time: invalid duration "wrong"', id="interval-not-duration"),
        pytest.param("trace {\n zipkin_max_backlog_size\n}", AT.format(line=3) + f"{ARG} 'zipkin_max_backlog_size'",
                     id="backlog-missing"),
        pytest.param("trace {\n zipkin_max_batch_size\n}", AT.format(line=3) + f"{ARG} 'zipkin_max_batch_size'",
                     id="batch-missing"),
        pytest.param("trace {\n zipkin_max_batch_interval\n}",
                     AT.format(line=3) + f"{ARG} 'zipkin_max_batch_interval'", id="interval-missing"),
        pytest.param("trace {\n evrey 100\n}", AT.format(line=3) + "unknown property 'evrey'", id="unknown-option"),
        pytest.param("trace {\n every x\n}", 'plugin/trace: strconv.ParseUint: parsing "x": invalid syntax',
                     id="every-not-number"),
        pytest.param("trace {\n every 1 2\n}", AT.format(line=3) + f"{ARG} '2'", id="every-two"),
        pytest.param("trace {\n service\n}", AT.format(line=3) + f"{ARG} 'service'", id="service-missing"),
        pytest.param("trace {\n client_server true false\n}", AT.format(line=3) + f"{ARG} 'false'",
                     id="client-server-two"),
        pytest.param("trace zipkin a b", AT.format(line=2) + f"{ARG} 'b'", id="three-args"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error


@pytest.mark.parametrize(
    ("hosts", "port", "expected"),
    [
        pytest.param(["127.0.0.1"], "8053", "127.0.0.1:8053", id="ipv4"),
        pytest.param(["3d47:98c0:b113::3"], "8853", "[3d47:98c0:b113::3]:8853", id="ipv6"),
        pytest.param(["localhost"], "8053", "localhost:8053", id="hostname"),
        pytest.param(["3d47:98c0:b113::3", "127.0.0.1"], "8853", "[3d47:98c0:b113::3]:8853", id="several"),
    ],
)
def test_service_endpoint_is_the_first_listen_host(hosts: list[str], port: str, expected: str) -> None:
    c = controller(f".:{port} {{\n trace\n}}\n", "trace")
    c.set_listen_hosts(hosts)  # what bind, set up before trace, leaves
    assert parse(c).service_endpoint == expected


def test_bind_sets_the_service_endpoint() -> None:
    inst = load(".:8053 {\n bind 127.0.0.1\n trace\n whoami\n}\n")
    sampler = inst.configs[0].sampler
    assert sampler is not None
    assert sampler.opts.service_endpoint == "127.0.0.1:8053"  # type: ignore[attr-defined]
