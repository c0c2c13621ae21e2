"""``errors``: options and CoreDNS's errors, the log line, consolidation, and a real server."""

from __future__ import annotations

import asyncio
import re

import pytest

from pycoredns import wire
from pycoredns.errors import PluginSetupError
from pycoredns.plugin import Controller, Directive, HandlerError, Plugin
from pycoredns.plugins.errors.observer import ErrorsObserver, Pattern
from pycoredns.plugins.errors.setup import parse
from pycoredns.request import Request
from pycoredns.server.config import load
from pycoredns.testing import DNSClient, make_request
from pycoredns.testing.fixtures import ControllerFactory, ServerFactory
from pycoredns.testing.logs import CapturedLog


def _summary(patterns: list[Pattern]) -> list[tuple[float, str, str, bool]]:
    return [(p.period, p.source, p.level, p.show_first) for p in patterns]


@pytest.mark.parametrize(
    ("body", "patterns", "stacktrace"),
    [
        pytest.param("errors", [], False, id="bare"),
        pytest.param("errors stdout", [], False, id="stdout"),
        pytest.param("errors {\n stacktrace\n}", [], True, id="stacktrace"),
        pytest.param("errors {\n consolidate 1m .* \n}", [(60.0, ".*", "error", False)], False, id="consolidate"),
        pytest.param("errors {\n consolidate 5s ^timeout warning\n consolidate 1m refused info show_first\n}",
                     [(5.0, "^timeout", "warning", False), (60.0, "refused", "info", True)], False, id="two"),
        pytest.param("errors {\n consolidate 1s x show_first\n}", [(1.0, "x", "error", True)], False,
                     id="show-first-default-level"),
        pytest.param("errors {\n consolidate 1s x debug\n}", [(1.0, "x", "debug", False)], False, id="debug"),
    ],
)
def test_valid(
    setup_controller: ControllerFactory, body: str, patterns: list[tuple[float, str, str, bool]], stacktrace: bool
) -> None:
    got, st = parse(setup_controller(f". {{\n{body}\n}}\n", "errors"))
    assert (_summary(got), st) == (patterns, stacktrace)


PREFIX = "plugin/errors: Corefile:3 - Error during parsing: "
ARG = "Wrong argument count or unexpected line ending after"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("errors file.log", "plugin/errors: Corefile:2 - Error during parsing: invalid log file: file.log",
                     id="not-stdout"),
        pytest.param("errors stdout x", f"plugin/errors: Corefile:2 - Error during parsing: {ARG} 'x'", id="two"),
        pytest.param("errors\nerrors", "plugin/errors: this plugin can only be used once per Server Block",
                     id="twice"),
        pytest.param("errors {\n foo\n}", "plugin/errors: Corefile:3 - Syntax error: Unexpected token 'foo', "
                     "expecting 'Unknown field foo'", id="unknown-field"),
        pytest.param("errors {\n consolidate 1m\n}", f"{PREFIX}{ARG} '1m'", id="consolidate-one-arg"),
        pytest.param("errors {\n consolidate 1m a error show_first x\n}", f"{PREFIX}{ARG} 'x'",
                     id="consolidate-five-args"),
        pytest.param("errors {\n consolidate x .*\n}", f'{PREFIX}time: invalid duration "x"', id="bad-duration"),
        pytest.param("errors {\n consolidate 1m .* fatal\n}", f"{PREFIX}unknown option in consolidate: fatal",
                     id="bad-level"),
        pytest.param("errors {\n consolidate 1m .* info warning\n}",
                     f"{PREFIX}multiple log levels specified in consolidate", id="two-levels"),
        pytest.param("errors {\n consolidate 1m .* show_first info\n}",
                     f"{PREFIX}log level must come before show_first in consolidate", id="level-after-show-first"),
        pytest.param("errors {\n consolidate 1m " + "a" * 10001 + "\n}",
                     f"{PREFIX}regex pattern too long: 10001 > 10000", id="regexp-too-long"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error


def test_bad_regexp() -> None:
    with pytest.raises(PluginSetupError) as e:
        load(". {\n errors {\n consolidate 1m (\n }\n}\n")
    assert str(e.value).startswith(f"{PREFIX}error parsing regexp: ")


def test_logs_error_line(coredns_log: CapturedLog) -> None:
    obs = ErrorsObserver([])
    req = make_request("Example.ORG", "AAAA")
    obs.observe(req, req.error_reply(wire.SERVFAIL), wire.SERVFAIL, HandlerError(2, "read udp: i/o timeout"))
    obs.observe(req, None, 0, None)  # no error: nothing logged
    assert coredns_log.lines == ["[ERROR] plugin/errors: 2 example.org. AAAA: read udp: i/o timeout"]


def test_consolidate(coredns_log: CapturedLog) -> None:
    async def run() -> list[str]:
        patterns = [
            Pattern(0.2, re.compile("timeout"), "timeout", "warning"),
            Pattern(0.2, re.compile("refused"), "refused", "info", show_first=True),
        ]
        obs = ErrorsObserver(patterns)
        req = make_request("example.org", "A")
        for _ in range(3):
            obs.observe(req, None, 2, HandlerError(2, "dial: i/o timeout"))
        obs.observe(req, None, 2, HandlerError(2, "connection refused"))
        obs.observe(req, None, 2, HandlerError(2, "something else"))
        await asyncio.sleep(0.6)
        obs.observe(req, None, 2, HandlerError(2, "second round timeout"))
        obs.stop()  # shutdown reports what is pending
        obs.observe(req, None, 2, HandlerError(2, "late timeout"))  # stopped: logged plainly
        return coredns_log.lines

    assert asyncio.run(run()) == [
        "[INFO] plugin/errors: 2 example.org. A: connection refused",
        "[ERROR] plugin/errors: 2 example.org. A: something else",
        "[WARNING] plugin/errors: 3 errors like 'timeout' occurred in last 200ms",
        "[WARNING] plugin/errors: 1 errors like 'timeout' occurred in last 200ms",
        "[ERROR] plugin/errors: 2 example.org. A: late timeout",
    ]


# -- through a real server: a handler that fails --------------------------------------------------
class Failing(Plugin):
    name = "failing"

    def serve(self, req: Request) -> bytes:
        if req.name.startswith("crash."):
            raise RuntimeError("handler crashed")
        raise HandlerError(wire.SERVFAIL, "plugin/failing: upstream unreachable")


def _setup_failing(c: Controller) -> None:
    c.next()
    c.add_plugin(lambda next: Failing(next))


def test_errors_through_server(dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog) -> None:
    dns_server(".:0 {\n    errors {\n        stacktrace\n    }\n    failing\n}\n",
               plugins=[Directive("failing", _setup_failing)])
    assert dns_client.query("www.example.org", "A").header.rcode == wire.SERVFAIL
    assert dns_client.query("crash.example.org", "A").header.rcode == wire.SERVFAIL
    dns_server.close()  # every line written
    assert "[ERROR] plugin/errors: 2 www.example.org. A: plugin/failing: upstream unreachable" in coredns_log.lines
    assert "[ERROR] plugin/errors: 2 crash.example.org. A: handler crashed" in coredns_log.lines
    assert "RuntimeError: handler crashed" in coredns_log.text  # stacktrace
