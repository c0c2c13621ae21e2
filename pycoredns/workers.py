"""Which worker process this is, and how the workers of one instance ask each other.

An *instance* of pycoredns is one process (``-workers 1``, the default) or a supervisor and N
worker processes on the same listeners (``-workers N``): each worker loads the Corefile and
serves as a whole server, and the supervisor makes them one process to the outside. This module
holds what every part shares; the supervisor is in :mod:`pycoredns.server.supervisor`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from pycoredns import metrics

AUTO = 0  # ``-workers auto``: chosen from the CPU quota and the memory limit at start


@dataclass(frozen=True)
class WorkerInfo:
    """This process's place in its instance.

    ``count`` is 1 for a process that serves alone (no workers); ``index`` runs from 0 to
    ``count - 1``; ``instance_id`` is a random id, the same in every worker of the instance and
    different in every instance (two instances overlap during an upgrade).
    """

    index: int = 0
    count: int = 1
    instance_id: str = ""

    @property
    def primary(self) -> bool:
        """Worker 0: the one that does what the instance needs done once (a self-probe, say)."""
        return self.index == 0


SPEC_ENV = "PYCOREDNS_WORKER"  # how the supervisor hands a worker its spec


@dataclass
class WorkerSpec:
    """What the supervisor hands a worker it starts (in the environment, as JSON)."""

    conf: str
    dns_port: str
    quiet: bool
    index: int
    count: int
    instance: str
    control_fd: int
    supervisor: int  # the supervisor's pid
    steer: bool  # attach the name hash to the UDP groups
    corefile_text: str | None = None  # the first load's text (the configuration the others run)
    reread: bool = True  # later reloads read -conf again (False: -conf stdin)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def new_instance_id() -> str:
    return os.urandom(8).hex()


def parse_workers(text: str) -> int:
    """The ``-workers`` flag: a positive number, or ``auto`` (returned as :data:`AUTO`)."""
    if text == "auto":
        return AUTO
    if not text.isdigit() or int(text) < 1:
        raise ValueError("want a positive number or auto")
    n = int(text)
    if n > 256:
        raise ValueError("at most 256 workers")
    return n


# -- asking the other workers -------------------------------------------------------------------
Ask = Callable[[str, float], Awaitable[dict[int, Any]]]
Gather = Callable[[metrics.Snapshot], Awaitable[metrics.Snapshot]]


class Peers:
    """How this process reaches the other workers of its instance (none when it serves alone).

    ``answerers`` answer the questions other workers ask (:meth:`ask`), by topic. In a worker the
    control channel to the supervisor sets ``ask_hook`` and ``gather_hook`` (this worker's metrics
    in, the whole instance's out).
    """

    def __init__(self) -> None:
        self.answerers: dict[str, Callable[[], Any]] = {}
        self.ask_hook: Ask | None = None
        self.gather_hook: Gather | None = None

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """/metrics for the whole instance: this process's, or every worker's added up."""
        if self.gather_hook is None:
            return metrics.exposition(accept)
        merged = await self.gather_hook(metrics.snapshot())
        return metrics.render(merged, accept)

    def answer(self, topic: str) -> Any:
        fn = self.answerers.get(topic)
        return None if fn is None else fn()

    async def ask(self, topic: str, timeout: float = 2.0) -> dict[int, Any]:
        """Every other worker's answer to ``topic``, by worker index (None: it did not answer)."""
        if self.ask_hook is None:
            return {}
        return await self.ask_hook(topic, timeout)


PEERS = Peers()  # this process's (a process is one worker of one instance)
