"""The instances serving on one node, and what they share: a folder they all see (``-instancedir``).

During a rolling update of the node-cache DaemonSet (``maxSurge: 1, maxUnavailable: 0``) the new
pod starts while the old one still serves: two instances, each a process or a group of workers,
on the same addresses and ports (SO_REUSEPORT) and the same interface and rules. They meet in a
host folder the manifest mounts, and nowhere else (never the Kubernetes API):

* ``lock``: one node-wide lock (``flock``). Joining, leaving, every check-and-insert of a rule and
  the teardown take it, so two instances never insert the same rule twice, and never tear down
  what the other one is setting up.
* ``instances/<id>.json``: one file per live instance (its id, pid, workers, and ``starting`` or
  ``serving``), which its owner keeps locked (``flock``) for as long as it lives. Liveness is that
  lock: the kernel drops it when the owner dies, SIGKILL and OOM included, so a file nobody holds
  is a dead instance's and is removed by the next one that looks. Process ids would not do: each
  pod has its own PID namespace.

An instance that stops leaves the registry and removes the interface and rules only if no other
live instance remains; if one is serving, it hands its traffic over (see
:mod:`pycoredns.server.steering`) before its listeners close. An instance with workers steers its
UDP groups by name only while it is the only one there: with two, the kernel shares the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("pycoredns")

LOCK_WAIT = 30.0  # the node lock is held for a rule pass at most; never wait for it forever
SUCCESSOR_WAIT = 20.0  # a stopping instance waits this long at most for a starting one to serve
STARTING, SERVING = "starting", "serving"


class NodeRegistry:
    """This instance's entry in the shared folder, and the node-wide lock."""

    def __init__(self, folder: str | Path, instance_id: str, workers: int = 1) -> None:
        self.folder = Path(folder)
        self.id = instance_id
        self.workers = workers
        self.members = self.folder / "instances"
        self._own: int | None = None  # our entry, locked for our lifetime
        self._lock_fd: int | None = None
        self._depth = 0
        self._complained = False
        self.left_with: list[dict[str, Any]] = []  # the live instances there were when we left

    # -- the node lock -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the node-wide lock (re-entrant in this process; blocking: call from a thread)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self.members.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:  # the folder went away or is read-only: never stop serving for it
            self._complain(e)
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
            return
        deadline = time.monotonic() + LOCK_WAIT
        got = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.error("[ERROR] Node lock %s held for over %gs: going on without it", self.folder / "lock",
                              LOCK_WAIT)
                    break
                time.sleep(0.02)
        self._lock_fd, self._depth = fd, 1
        try:
            yield
        finally:
            self._depth, self._lock_fd = 0, None
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- membership ------------------------------------------------------------------------------
    def join(self) -> list[dict[str, Any]]:
        """Register as ``starting``; return the other live instances.

        A folder that cannot be used is logged, and the instance serves as if alone.
        """
        with self.locked():
            others = self._live_others()
            try:
                fd = os.open(self._path(self.id), os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            except OSError as e:
                self._complain(e)
                return others
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._own = fd
            self._write(STARTING)
        return others

    def _complain(self, e: OSError) -> None:
        if not self._complained:
            self._complained = True
            log.error("[ERROR] Cannot use the instances folder %s: %s", self.folder, e)

    def serving(self) -> None:
        """Listening: others may hand their traffic to this instance from now on."""
        with self.locked():
            self._write(SERVING)

    def others(self) -> list[dict[str, Any]]:
        """The other live instances (entries of dead ones are removed on the way)."""
        with self.locked():
            return self._live_others()

    def alone(self) -> bool:
        return not self.others()

    def leave(self) -> list[dict[str, Any]]:
        """Remove this instance's entry; return (and remember) the live instances that remain.

        Idempotent. Call it under :meth:`locked` together with a teardown decision, so two
        instances stopping at once do not both leave the setup to the other.
        """
        with self.locked():
            if self._own is not None:
                with contextlib.suppress(OSError):
                    self._path(self.id).unlink()
                os.close(self._own)  # drops our lock
                self._own = None
                self.left_with = self._live_others()
        return self.left_with

    def await_successor(self, timeout: float = SUCCESSOR_WAIT) -> None:
        """Stopping while another instance is still starting (a DaemonSet counts a pod ready as
        soon as it runs): wait until one serves, so there is someone to hand the traffic to."""
        deadline = time.monotonic() + timeout
        said = False
        while True:
            others = self.others()
            if not others or any(m.get("state") == SERVING for m in others):
                return
            if not said:
                log.info("[INFO] Waiting for instance %s, starting on this node, to serve",
                         ", ".join(str(m.get("id")) for m in others))
                said = True
            if time.monotonic() > deadline:
                log.warning("[WARNING] No other instance serves after %gs: stopping anyway", timeout)
                return
            time.sleep(0.1)

    def hand_over(self) -> bool:
        """Whether another instance was serving when this one left (then it takes the traffic)."""
        return any(m.get("state") == SERVING for m in self.left_with)

    # -- inside ----------------------------------------------------------------------------------
    def _path(self, member: str) -> Path:
        return self.members / f"{member}.json"

    def _write(self, state: str) -> None:
        if self._own is None:
            return
        data = json.dumps({"id": self.id, "pid": os.getpid(), "workers": self.workers, "state": state,
                           "since": time.time()}).encode()
        os.ftruncate(self._own, 0)
        os.pwrite(self._own, data, 0)

    def _live_others(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            entries = sorted(self.members.glob("*.json"))
        except OSError:
            return out
        for path in entries:
            if path.stem == self.id:
                continue
            info = _probe(path)
            if info is not None:
                out.append(info)
        return out


def _probe(path: Path) -> dict[str, Any] | None:
    """The entry's content while its owner lives; None (and the entry removed) once it has died."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            # Held: alive. Read what it says about itself.
            try:
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                info = {}
            info.setdefault("id", path.stem)
            return info if isinstance(info, dict) else {"id": path.stem}
        # Nobody holds it: its owner is gone (SIGKILL, OOM).
        log.info("[INFO] Instance %s on this node is gone: its entry is removed", path.stem)
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    finally:
        os.close(fd)


class Serving(Protocol):
    """What :class:`Membership` drives: an App or a Supervisor."""

    hand_over: Callable[[], bool]

    @property
    def exit_hooks(self) -> list[Callable[[], None]]: ...


class Membership:
    """A running instance's part in the registry: join before the listeners open, serving once
    they listen, steering by name (workers) while alone, leaving as it stops."""

    WATCH = 1.0  # seconds between looks at the others, while not alone

    def __init__(self, registry: NodeRegistry, app: Serving) -> None:
        self.registry = registry
        self.app = app
        self._task: asyncio.Task[None] | None = None

    async def join(self) -> None:
        others = await asyncio.to_thread(self.registry.join)
        if others:
            log.info("[INFO] Joining %d instance(s) serving on this node: %s", len(others),
                     ", ".join(f"{m.get('id')} ({m.get('state')})" for m in others))
        steering = getattr(self.app, "steer", None)
        if steering is not None:
            self.app.steer = not others  # type: ignore[attr-defined]
        self.app.hand_over = self.registry.hand_over
        self.app.exit_hooks.insert(0, self.registry.await_successor)  # before any teardown decision
        self.app.exit_hooks.append(self.leave)  # after any teardown, which leaves first

    async def serving(self) -> None:
        await asyncio.to_thread(self.registry.serving)
        if getattr(self.app, "steer", True) is False:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="instances-watch")

    async def _watch(self) -> None:
        """Until this instance is alone: then its workers steer by name."""
        while True:
            await asyncio.sleep(self.WATCH)
            if await asyncio.to_thread(self.registry.alone):
                log.info("[INFO] Alone on this node now: queries are steered to the workers by name")
                self.app.set_steering(True)  # type: ignore[attr-defined]
                return

    def leave(self) -> None:
        self.registry.leave()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
