"""The process: find the Corefile, load it, serve, reload on request, stop on signals."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pycoredns.errors import PyCoreDNSError
from pycoredns.registry import Registry
from pycoredns.server import collector, config, signals
from pycoredns.server.process import Process
from pycoredns.server.runner import Server
from pycoredns.server.steering import Steering
from pycoredns.workers import WorkerInfo

log = logging.getLogger("pycoredns")


class App:
    """One pycoredns process. ``process`` is state that outlives reloads (shared listeners)."""

    def __init__(
        self,
        conf: str = "",
        *,
        dns_port: str = "53",
        quiet: bool = False,
        pidfile: str = "",
        registry: Registry | None = None,
        corefile_text: str | None = None,
        worker: WorkerInfo | None = None,
        steering: Steering | None = None,
    ) -> None:
        self.conf = conf
        self.dns_port = dns_port
        self.quiet = quiet
        self.pidfile = pidfile
        self.registry = registry or Registry.default()
        self.corefile_text = corefile_text
        # What outlives reloads; plugins see it as their Runtime.
        self.process = Process(self, worker)
        self.steering = steering
        self.server: Server | None = None
        self.stopped = asyncio.Event()
        self.exit_code = 0
        self._reload_lock = asyncio.Lock()
        # Whether another instance serves these addresses when this one stops: then it hands the
        # traffic over before its listeners close (set by the node registry, -instancedir).
        self.hand_over: Callable[[], bool] = lambda: False

    @property
    def exit_hooks(self) -> list[Callable[[], None]]:
        """Caddy's OnProcessExit: quick, synchronous cleanup (the node network teardown) run at
        exit, SIGQUIT included, whatever instance is loaded and whether or not a reload is in flight."""
        return self.process.exit_hooks

    @property
    def stopping(self) -> bool:
        return self.stopped.is_set()

    # -- the Corefile ------------------------------------------------------------------------------
    def read_corefile(self) -> tuple[str, str]:
        """(text, filename) from -conf, ``stdin``, ./Corefile or the built-in default."""
        if self.corefile_text is not None:
            return self.corefile_text, self.conf or "Corefile"
        if self.conf == "stdin":
            return sys.stdin.read(), "stdin"
        if self.conf:
            try:
                return Path(self.conf).read_text(encoding="utf-8"), self.conf
            except OSError as e:
                raise PyCoreDNSError(f"Corefile: open {self.conf}: {e.strerror}") from None
        if Path("Corefile").is_file():
            return Path("Corefile").read_text(encoding="utf-8"), "Corefile"
        return "", "Corefile"

    def udp_listeners(self) -> list[tuple[Any, ...]]:
        """The bound addresses of the running configuration's UDP listeners."""
        if self.server is None:
            return []
        out = []
        for s in self.server.udp_sockets():
            try:
                out.append(s.getsockname())
            except OSError:  # closed meanwhile
                continue
        return out

    def load(self) -> config.Instance:
        text, filename = self.read_corefile()
        return config.load(text, filename, dns_port=self.dns_port, registry=self.registry, process=self.process)

    # -- running -----------------------------------------------------------------------------------
    async def start(self) -> Server:
        instance = self.load()
        self.server = Server(instance, quiet=self.quiet, steering=self.steering)
        await self.server.start()
        if self.pidfile:
            Path(self.pidfile).write_text(f"{os.getpid()}\n")
        return self.server

    async def run(self, on_serving: Callable[[], Awaitable[None]] | None = None) -> int:
        await self.start()
        if on_serving is not None:
            await on_serving()
        signals.trap(self.stopped, self.run_exit_hooks, self.reload)
        collector.settle()  # after the signals are ours: a full collection takes a moment
        await self.stopped.wait()
        await self.shutdown()
        return self.exit_code

    async def _exit_hooks_in_thread(self) -> None:
        # iptables and netlink calls block; the event loop keeps answering DNS meanwhile.
        if self.exit_hooks:
            await asyncio.to_thread(self.run_exit_hooks)

    def run_exit_hooks(self) -> None:
        """Run (once) the exit hooks; a failing hook is logged and the rest still run."""
        self.process.run_exit_hooks()

    async def before_close(self) -> None:
        """Between the shutdown hooks (lameduck) and the listeners' close: the exit hooks (the
        node network teardown), then, when another instance serves, the handover."""
        await self._exit_hooks_in_thread()
        if self.server is not None and self.hand_over():
            await self.server.leave()

    def stop(self, code: int = 0) -> None:
        """Ask the process to stop (from a plugin: loop detection, a fatal error)."""
        self.exit_code = code
        self.stopped.set()

    async def shutdown(self) -> None:
        if self.server is not None:
            await self.server.stop(before_close=self.before_close)
        await self._exit_hooks_in_thread()  # no server (a failed start): the hooks still run
        if self.pidfile:
            try:
                os.unlink(self.pidfile)
            except OSError:
                pass

    async def restart(self) -> None:
        """Load the Corefile again and swap it in, raising the load error (the running one stays).

        For callers that report the error themselves (the reload plugin); :meth:`reload` logs it.
        """
        async with self._reload_lock:
            if self.server is None or self.stopped.is_set():
                raise PyCoreDNSError("server is stopping")
            new = self.load()
            await self.server.reload(new)

    async def reload(self) -> bool:
        """Load the Corefile again and swap it in; on any error keep the running one."""
        async with self._reload_lock:
            if self.server is None or self.stopped.is_set():
                return False
            try:
                new = self.load()
                await self.server.reload(new)
            except PyCoreDNSError as e:
                log.error("[ERROR] Restart failed: %s", e)
                return False
            except Exception as e:
                log.error("[ERROR] Restart failed: %s", e)
                return False
            return True
