"""Run a whole pycoredns in a background thread on its own uvloop loop, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

import uvloop

from pycoredns import http
from pycoredns.plugin import Directive
from pycoredns.registry import Registry
from pycoredns.server.app import App
from pycoredns.server.config import ListenerKey
from pycoredns.server.runner import Server


class RunningServer:
    """A started server: its app, its loop, and the port of its first listener."""

    def __init__(self, app: App, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.app = app
        self.loop = loop
        self.thread = thread

    @property
    def server(self) -> Server:
        assert self.app.server is not None
        return self.app.server

    @property
    def port(self) -> int:
        """The bound port of the first listener (the kernel's pick when the Corefile says 0)."""
        return self.server.port_of()

    def port_of(self, host: str = "", port: int = 0, transport: str = "dns") -> int:
        """The bound port of the listener the Corefile declared as ``transport://host:port``."""
        return self.server.port_of(ListenerKey(transport, host, port))

    def http_port(self, address: str) -> int:
        """The bound port of the HTTP listener (health, ready, prometheus) declared as
        ``address`` in the Corefile, e.g. ``127.0.0.1:0``."""
        server = (self.app.process.state.get(http.SERVERS) or {}).get(address)
        if server is None or not server.listening:
            raise KeyError(f"no HTTP listener for {address!r}")
        return server.bound_port

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def reload(self, text: str | None = None) -> bool:
        if text is not None:
            self.app.corefile_text = text
        return bool(self.call(self.app.reload()))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.app.stopped.set)
        self.thread.join(30)


@contextlib.contextmanager
def running_server(
    corefile: str,
    *,
    filename: str = "Corefile",
    conf: str = "",
    registry: Registry | None = None,
    dns_port: str = "53",
    plugins: Iterable[Directive] = (),
) -> Iterator[RunningServer]:
    """Start pycoredns with ``corefile`` (text) or ``conf`` (a path); stop it on exit.

    Give listeners port 0 (``.:0 {``) and read the bound port back from :attr:`RunningServer.port`.
    ``plugins`` adds directives that are not installed (a plugin under test), placed by their
    ``before``/``after``. Raises the load error (a :class:`pycoredns.errors.PyCoreDNSError`) if
    the server does not start.
    """
    plugins = list(plugins)
    if plugins:
        registry = (registry or Registry.default()).with_directives(plugins)
    started: Future[None] = Future()
    holder: dict[str, Any] = {}

    def target() -> None:
        async def main() -> None:
            try:
                app = App(conf or filename, quiet=True, dns_port=dns_port, registry=registry,
                          corefile_text=None if conf else corefile)
            except BaseException as e:
                started.set_exception(e)
                return
            holder["app"] = app
            holder["loop"] = asyncio.get_running_loop()
            try:
                await app.start()
            except BaseException as e:
                await app.shutdown()
                started.set_exception(e)
                return
            started.set_result(None)
            await app.stopped.wait()
            await app.shutdown()

        uvloop.run(main())

    thread = threading.Thread(target=target, daemon=True, name="pycoredns-test-server")
    thread.start()
    started.result(30)
    rs = RunningServer(holder["app"], holder["loop"], thread)
    try:
        yield rs
    finally:
        rs.stop()
