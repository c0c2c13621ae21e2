"""What outlives a reload: the process store, the exit hooks, and the way to the running app.

Plugins see this object as :class:`pycoredns.plugin.Runtime`; a Corefile loaded for validation
or by a setup test gets one with no app behind it (nothing runs, nothing can be restarted).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pycoredns.errors import PyCoreDNSError
from pycoredns.state import Store
from pycoredns.workers import PEERS, Peers, WorkerInfo

log = logging.getLogger("pycoredns")
_generations = itertools.count(1)


class AppControl(Protocol):
    """The parts of the running app a plugin may drive."""

    @property
    def stopping(self) -> bool: ...

    def stop(self, code: int = 0) -> None: ...

    def restart(self) -> Awaitable[None]: ...

    def read_corefile(self) -> tuple[str, str]: ...

    def udp_listeners(self) -> list[tuple[Any, ...]]: ...


class Process:
    def __init__(self, app: AppControl | None = None, worker: WorkerInfo | None = None,
                 peers: Peers | None = None) -> None:
        self.app = app
        self.state = Store()
        self.exit_hooks: list[Callable[[], None]] = []
        self.worker = worker or WorkerInfo()
        self.peers = peers or PEERS

    @staticmethod
    def next_generation() -> int:
        return next(_generations)

    # -- Runtime -----------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self.app is not None and self.app.stopping

    def stop(self, code: int = 0) -> None:
        if self.app is not None:
            self.app.stop(code)

    async def restart(self) -> None:
        if self.app is None:
            raise PyCoreDNSError("no running server to restart")
        await self.app.restart()

    def read_corefile(self) -> tuple[str, str]:
        if self.app is None:
            raise PyCoreDNSError("no running server")
        return self.app.read_corefile()

    async def ask_workers(self, topic: str, timeout: float = 2.0) -> dict[int, Any]:
        return await self.peers.ask(topic, timeout)

    def answer_workers(self, topic: str, answer: Callable[[], Any]) -> None:
        self.peers.answerers[topic] = answer

    async def probe_listeners(self, timeout: float) -> list[str]:
        if self.app is None:
            return []
        from pycoredns.server import probe

        missed = await probe.probe(self.app.udp_listeners(), self.worker.count, timeout)
        return [f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}" for a in missed]

    # -- exit ----------------------------------------------------------------------------------
    def add_exit_hook(self, hook: Callable[[], None]) -> None:
        self.exit_hooks.append(hook)

    def run_exit_hooks(self) -> None:
        """Run (once) the exit hooks; a failing hook is logged and the rest still run."""
        hooks, self.exit_hooks = self.exit_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception as e:
                log.error("[ERROR] exit hook failed: %s", e)
