"""``ready``: options and errors, and /ready over real HTTP with a plugin that reports readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugin import Controller, Directive, Plugin
from pycoredns.plugins.ready.setup import parse
from pycoredns.request import Request
from pycoredns.server.config import load
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ControllerFactory, ServerFactory
from pycoredns.testing.http import http_get


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("ready", (":8181", "until-ready"), id="default"),
        pytest.param("ready localhost:8282", ("localhost:8282", "until-ready"), id="address"),
        pytest.param("ready :8181 {\n monitor continuously\n}", (":8181", "continuously"), id="continuously"),
        pytest.param("ready {\n monitor until-ready\n}", (":8181", "until-ready"), id="until-ready"),
    ],
)
def test_valid(setup_controller: ControllerFactory, body: str, expected: tuple[str, str]) -> None:
    assert parse(setup_controller(f". {{\n{body}\n}}\n", "ready")) == expected


ARG = "Wrong argument count or unexpected line ending after"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("ready bla", "plugin/ready: address bla: missing port in address", id="no-port"),
        pytest.param("ready a:1 b:2", f"plugin/ready: Corefile:2 - Error during parsing: {ARG} 'b:2'", id="two"),
        pytest.param("ready\nready", "plugin/ready: this plugin can only be used once per Server Block", id="twice"),
        pytest.param("ready :8181 {\n monitor\n}", f"plugin/ready: Corefile:3 - Error during parsing: {ARG} 'monitor'",
                     id="monitor-no-value"),
        pytest.param("ready :8181 {\n monitor sometimes\n}",
                     "plugin/ready: Corefile:3 - Error during parsing: monitor type 'sometimes' not supported",
                     id="monitor-bad"),
        pytest.param("ready :8181 {\n foo\n}",
                     "plugin/ready: Corefile:3 - Error during parsing: unknown property 'foo'", id="unknown"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(f". {{\n{body}\n}}\n")
    assert str(e.value) == error


# -- a plugin that reports readiness, and peeks at /ready while the server is still starting ------
class Slow(Plugin):
    name = "slowready"
    is_ready = False

    def ready(self) -> bool:
        return Slow.is_ready

    def serve(self, req: Request) -> Any:
        return self.next_or_failure(req)


SEEN_DURING_STARTUP: list[Any] = []


def _setup_slow(c: Controller) -> None:
    c.next()
    listener = c.http_server(c.remaining_args()[0])  # ready's, e.g. 127.0.0.1:0
    c.add_plugin(lambda next: Slow(next))

    async def peek() -> None:
        # Runs after ready's startup hook, before any DNS listener is open.
        loop = asyncio.get_running_loop()
        port = listener.bound_port  # the kernel's pick for port 0
        try:
            got: Any = await loop.run_in_executor(None, http_get, f"http://127.0.0.1:{port}/ready", 5.0)
        except OSError as e:
            got = e
        SEEN_DURING_STARTUP.append(got)

    c.on_startup(peek)


SLOWREADY = Directive("slowready", _setup_slow)


READY = "127.0.0.1:0"


def _corefile(monitor: str) -> str:
    return (f".:0 {{\n    slowready {READY}\n    whoami\n"
            f"    ready {READY} {{\n        monitor {monitor}\n    }}\n}}\n")


@pytest.mark.parametrize("monitor", ["until-ready", "continuously"])
def test_ready_follows_plugins_and_startup(dns_server: ServerFactory, dns_client: DNSClient, monitor: str) -> None:
    Slow.is_ready = False
    SEEN_DURING_STARTUP.clear()
    s = dns_server(_corefile(monitor), plugins=[SLOWREADY])
    ready = s.http_port(READY)
    assert SEEN_DURING_STARTUP == [(503, "Shutting down")]  # startup not complete: never 200
    assert dns_client.query("example.org", "A").header.rcode == 0
    assert http_get(f"http://127.0.0.1:{ready}/ready") == (503, "slowready")
    Slow.is_ready = True
    assert http_get(f"http://127.0.0.1:{ready}/ready") == (200, "OK")
    Slow.is_ready = False
    expected = (200, "OK") if monitor == "until-ready" else (503, "slowready")
    assert http_get(f"http://127.0.0.1:{ready}/ready") == expected
    dns_server.close()  # the endpoint goes with the server
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{ready}/ready", timeout=2)


def test_ready_without_readiness_plugins_is_ready_and_survives_reload(dns_server: ServerFactory) -> None:
    text = f".:0 {{\n    whoami\n    ready {READY}\n}}\n"
    s = dns_server(text)
    ready = s.http_port(READY)
    assert http_get(f"http://127.0.0.1:{ready}/ready") == (200, "OK")
    assert s.reload(text.replace("whoami", "whoami\n    errors"))
    assert http_get(f"http://127.0.0.1:{ready}/ready") == (200, "OK")
