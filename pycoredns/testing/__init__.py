"""The public test kit for plugin authors: a fake upstream, a server in a thread, query helpers,
setup controllers and log capture. It is also a pytest plugin (:mod:`pycoredns.testing.fixtures`):
any project that installs pycoredns gets the fixtures ``setup_controller``, ``dns_server``,
``fake_upstream``, ``dns_client`` and ``coredns_log``.

    from pycoredns.testing import FakeUpstream, running_server, query, serve_handler

Everything binds to loopback only, and to port 0: the kernel picks a free port when the socket is
bound, and the test reads it back (``RunningServer.port``, ``RunningServer.http_port``,
``FakeUpstream.port``, ``wait_dns_port`` for another process), so no port is ever picked first
and bound later, when something else may have taken it.

The names below are imported on first use, so loading the pytest plugin costs a project nothing
until a test uses the kit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pycoredns.testing.client import DNSClient, loopback_address, query, raw_query
    from pycoredns.testing.handler import make_request, serve_handler
    from pycoredns.testing.logs import CapturedLog, capture_log
    from pycoredns.testing.ports import fixed_port, listening_ports, tcp_connections, wait_dns_port
    from pycoredns.testing.server import RunningServer, running_server
    from pycoredns.testing.setup import controller, registry_with, validate_corefile
    from pycoredns.testing.upstream import FakeUpstream, answer_a

_WHERE = {
    "CapturedLog": "logs",
    "DNSClient": "client",
    "FakeUpstream": "upstream",
    "RunningServer": "server",
    "answer_a": "upstream",
    "capture_log": "logs",
    "controller": "setup",
    "fixed_port": "ports",
    "listening_ports": "ports",
    "loopback_address": "client",
    "make_request": "handler",
    "query": "client",
    "raw_query": "client",
    "registry_with": "setup",
    "running_server": "server",
    "serve_handler": "handler",
    "tcp_connections": "ports",
    "validate_corefile": "setup",
    "wait_dns_port": "ports",
}

__all__ = [
    "CapturedLog",
    "DNSClient",
    "FakeUpstream",
    "RunningServer",
    "answer_a",
    "capture_log",
    "controller",
    "fixed_port",
    "listening_ports",
    "loopback_address",
    "make_request",
    "query",
    "raw_query",
    "registry_with",
    "running_server",
    "serve_handler",
    "tcp_connections",
    "validate_corefile",
    "wait_dns_port",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
