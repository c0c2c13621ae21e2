"""A worker: one whole server (every plugin, its own cache) under a supervisor.

Started by :class:`pycoredns.server.supervisor.Supervisor` as ``python -m pycoredns.server.worker``
with its spec in ``PYCOREDNS_WORKER`` (JSON) and one end of a socket pair as its control channel.
It binds the same listeners as its siblings (SO_REUSEPORT), steers its UDP groups by name when
told to, answers the supervisor's questions (its metrics, a plugin's topic), reloads when told,
and stops in the instance's order: its shutdown hooks (lameduck) and exit hooks, then it waits
for the supervisor (which runs the node's teardown once every worker got there), hands its
traffic over when told to, and closes. It dies with the supervisor (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import Any

from pycoredns import log as clog
from pycoredns import metrics
from pycoredns.errors import PyCoreDNSError
from pycoredns.server import collector, config, signals
from pycoredns.server.app import App
from pycoredns.server.control import Channel, ChannelClosed, Message
from pycoredns.server.steering import Steering
from pycoredns.workers import PEERS, SPEC_ENV, WorkerInfo, WorkerSpec

log = logging.getLogger("pycoredns")

PR_SET_PDEATHSIG = 1
CLOSING_WAIT = 600.0  # how long a stopping worker waits for the supervisor's go (it dies with it anyway)


class WorkerApp(App):
    def __init__(self, spec: WorkerSpec) -> None:
        info = WorkerInfo(spec.index, spec.count, spec.instance)
        super().__init__(
            # The supervisor has worker 0 print the banner once every worker listens.
            spec.conf, dns_port=spec.dns_port, quiet=True, worker=info,
            steering=Steering(spec.count, active=spec.steer),
            corefile_text=None if spec.reread else spec.corefile_text,
        )
        self.spec = spec
        self.first_text = spec.corefile_text
        self.channel: Channel | None = None
        self.coordinated = False  # the supervisor asked this worker to stop (not a signal of its own)

    # -- plugins see the instance --------------------------------------------------------------
    def stop(self, code: int = 0) -> None:
        """A plugin stops the process (a loop found): the supervisor stops every worker."""
        if self.channel is None or not self.channel.notify({"op": "stop", "code": code}):
            self.stop_self(code)

    def stop_self(self, code: int = 0) -> None:
        super().stop(code)

    async def restart(self) -> None:
        await super().restart()
        if self.channel is not None:
            self.channel.notify({"op": "restarted", "text": self.running_text()})

    def load(self) -> config.Instance:
        if self.first_text is not None:
            text, self.first_text = self.first_text, None
            filename = self.conf if self.conf and self.conf != "stdin" else "Corefile"
            return config.load(text, filename, dns_port=self.dns_port, registry=self.registry, process=self.process)
        return super().load()

    def running_text(self) -> str | None:
        return self.server.instance.text if self.server is not None else None

    # -- the control channel -------------------------------------------------------------------
    def handle(self, msg: Message) -> Any:
        op = msg.get("op")
        if op == "snapshot":
            return metrics.snapshot()
        if op == "answer":
            return PEERS.answer(str(msg.get("topic", "")))
        if op == "restart":
            return self._reload_and_report()
        if op == "stop":
            self.coordinated = True
            self.stop_self(int(msg.get("code", 0)))
            return None
        if op == "banner":
            if self.server is not None:
                self.server.banner(self.server.instance)
            return None
        if op == "steer":
            if self.steering is not None and self.server is not None and msg.get("active"):
                self.steering.activate(self.server.udp_sockets())
            return None
        log.warning("[WARNING] worker %d: unknown control message %r", self.spec.index, op)
        return None

    async def _reload_and_report(self) -> bool:
        ok = await self.reload()
        if ok and self.channel is not None:
            self.channel.notify({"op": "restarted", "text": self.running_text(), "quiet": True})
        return ok

    async def _ask(self, topic: str, timeout: float) -> dict[int, Any]:
        if self.channel is None:
            return {}
        try:
            got = await self.channel.request({"op": "ask", "topic": topic, "timeout": timeout}, timeout + 1.0)
        except (TimeoutError, ChannelClosed):
            return {i: None for i in range(self.spec.count) if i != self.spec.index}
        return {int(k): v for k, v in (got or {}).items()}

    async def _gather(self, snap: metrics.Snapshot) -> metrics.Snapshot:
        if self.channel is None:
            return snap
        try:
            got = await self.channel.request({"op": "metrics", "snapshot": snap}, 10.0)
        except (TimeoutError, ChannelClosed):
            return snap
        return list(got) if got else snap

    async def before_close(self) -> None:
        """Exit hooks, then (when the supervisor stops the instance) wait for its word: ``leave``
        hands the traffic to another instance before the listeners close."""
        await self._exit_hooks_in_thread()
        if not self.coordinated or self.channel is None or self.server is None:
            return
        try:
            word = await self.channel.request({"op": "closing"}, CLOSING_WAIT)
        except (TimeoutError, ChannelClosed):
            return
        if word == "leave":
            await self.server.leave()

    # -- running -------------------------------------------------------------------------------
    async def serve(self, sock: socket.socket) -> int:
        loop = asyncio.get_running_loop()
        self.channel = Channel(sock, self.handle, f"worker {self.spec.index}")
        await self.channel.start()
        PEERS.ask_hook = self._ask
        PEERS.gather_hook = self._gather
        # A signal to this worker alone stops or reloads it alone (the supervisor starts a worker
        # that stopped again); the instance is stopped and reloaded through the supervisor.
        signals.trap(self.stopped, self.run_exit_hooks, self.reload)
        loop.add_signal_handler(signal.SIGINT, lambda: None)  # the supervisor decides
        try:
            await self.start()
        except PyCoreDNSError as e:
            print(e, file=sys.stderr, flush=True)
            await self.shutdown()
            return 1
        if self.server is not None and self.spec.index == 0:
            self.server.quiet = self.spec.quiet  # reloads print the banner, as CoreDNS's do
        self.channel.notify({"op": "listening", "pid": os.getpid(), "text": self.running_text()})
        collector.settle()
        stop_wait = asyncio.ensure_future(self.stopped.wait())
        gone = asyncio.ensure_future(self.channel.closed.wait())
        await asyncio.wait([stop_wait, gone], return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        stop_wait.cancel()
        await self.shutdown()
        await self.channel.close()
        return self.exit_code


def _die_with_parent(supervisor: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != supervisor:  # the supervisor died before the line above
        os._exit(1)


def main() -> int:
    spec = WorkerSpec.from_env(os.environ.pop(SPEC_ENV))
    _die_with_parent(spec.supervisor)
    clog.setup()
    sock = socket.socket(fileno=spec.control_fd)
    import uvloop

    collector.serve_mode()
    return uvloop.run(WorkerApp(spec).serve(sock))


if __name__ == "__main__":
    sys.exit(main())
