"""The test kit as pytest fixtures; pytest loads this module in any project that installs pycoredns
(entry point group ``pytest11``, name ``pycoredns``; ``-p no:pycoredns`` turns it off).

Fixtures (each cleans up after the test):

``setup_controller``
    ``setup_controller(corefile, directive=None, *, block=0, plugins=())``: the
    :class:`~pycoredns.plugin.Controller` a directive's ``setup`` receives, for tests of option
    parsing (:func:`pycoredns.testing.setup.controller`).
``dns_server``
    ``dns_server(corefile, *, plugins=(), ...)``: a whole server started from a Corefile string in a
    thread, listening on loopback; use port 0 (``.:0 {``) and read ``.port`` back
    (:func:`pycoredns.testing.running_server`).
``fake_upstream``
    ``fake_upstream(answer=None, **options)``: a started :class:`~pycoredns.testing.FakeUpstream`,
    a real DNS server on loopback that answers with your function and records what it was asked.
``dns_client``
    a :class:`~pycoredns.testing.DNSClient` (``query``, ``raw_query``) aimed at the last server
    ``dns_server`` started.
``coredns_log``
    a :class:`~pycoredns.testing.CapturedLog` of pycoredns's log lines in CoreDNS's layout
    (``[INFO] plugin/NAME: ...``), captured from DEBUG up for the whole test.

Heavy modules (the server, uvloop) are imported when a fixture is first used, so a project that
installs pycoredns pays nothing at pytest start-up for tests that do not use them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    import dnslib

    from pycoredns.plugin import Controller, Directive
    from pycoredns.registry import Registry
    from pycoredns.testing.client import DNSClient
    from pycoredns.testing.logs import CapturedLog
    from pycoredns.testing.server import RunningServer
    from pycoredns.testing.upstream import FakeUpstream

__all__ = [
    "ControllerFactory",
    "ServerFactory",
    "UpstreamFactory",
    "coredns_log",
    "dns_client",
    "dns_server",
    "fake_upstream",
    "setup_controller",
]


class ControllerFactory(Protocol):
    """What the ``setup_controller`` fixture gives (:func:`pycoredns.testing.setup.controller`)."""

    def __call__(
        self,
        corefile: str,
        directive: str | None = None,
        block: int = 0,
        filename: str = "Corefile",
        *,
        plugins: Iterable[Directive] = (),
    ) -> Controller: ...


class ServerFactory:
    """What the ``dns_server`` fixture gives: call it to start a server (several per test are fine)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.servers: list[RunningServer] = []

    def __call__(
        self,
        corefile: str,
        *,
        plugins: Iterable[Directive] = (),
        filename: str = "Corefile",
        conf: str = "",
        dns_port: str = "53",
        registry: Registry | None = None,
    ) -> RunningServer:
        """Start pycoredns with ``corefile`` (or the file ``conf``) and return it once it serves;
        raises the load error when it does not start. ``plugins`` adds directives that are not
        installed, placed by their ``before``/``after``."""
        from pycoredns.testing.server import running_server

        started = running_server(
            corefile, filename=filename, conf=conf, registry=registry, dns_port=dns_port, plugins=plugins
        )
        server = self._stack.enter_context(started)
        self.servers.append(server)
        return server

    @property
    def last(self) -> RunningServer | None:
        """The server started most recently, if any."""
        return self.servers[-1] if self.servers else None

    def close(self) -> None:
        """Stop every server started, the last first (a test may call it to flush what the servers
        log at shutdown); later calls start new servers as before."""
        self._stack.close()
        self.servers.clear()


class UpstreamFactory:
    """What the ``fake_upstream`` fixture gives: call it to start a :class:`FakeUpstream`.

    Keyword options go to :class:`FakeUpstream` unchanged (``host``, ``port`` and whatever it
    grows), so this factory never lags behind it.
    """

    def __init__(self) -> None:
        self.upstreams: list[FakeUpstream] = []

    def __call__(
        self, answer: Callable[[dnslib.DNSRecord, str], dnslib.DNSRecord | bytes | None] | None = None, **options: Any
    ) -> FakeUpstream:
        from pycoredns.testing.upstream import FakeUpstream

        upstream = FakeUpstream(answer, **options).start()
        self.upstreams.append(upstream)
        return upstream

    def close(self) -> None:
        for upstream in reversed(self.upstreams):
            upstream.stop()


@pytest.fixture
def setup_controller() -> ControllerFactory:
    """``setup_controller(corefile, directive=None, *, block=0, plugins=())`` -> Controller."""
    from pycoredns.testing.setup import controller

    return controller


@pytest.fixture
def dns_server() -> Iterator[ServerFactory]:
    """``dns_server(corefile, *, plugins=())`` -> RunningServer; every server stops after the test."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def fake_upstream() -> Iterator[UpstreamFactory]:
    """``fake_upstream(answer=None, **options)`` -> a started FakeUpstream; stopped after the test."""
    factory = UpstreamFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def dns_client(dns_server: ServerFactory) -> DNSClient:
    """A DNSClient whose default port is that of the last server ``dns_server`` started."""
    from pycoredns.testing.client import DNSClient

    def port() -> int:
        server = dns_server.last
        if server is None:
            raise LookupError("no DNS port: start a server with the dns_server fixture first, or pass port=")
        return server.port

    return DNSClient(port)


@pytest.fixture
def coredns_log() -> Iterator[CapturedLog]:
    """pycoredns's log lines in CoreDNS's layout, captured from DEBUG up while the test runs."""
    from pycoredns.testing.logs import capture_log

    with capture_log() as log:
        yield log
