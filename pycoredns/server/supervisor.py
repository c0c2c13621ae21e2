"""``-workers N``: N worker processes on the same listeners, one process to the outside.

The supervisor serves no DNS itself. It starts the workers (worker 0 first: what it sets up, an
interface say, may be what the others bind to; then the rest), and makes them one process:

* **Listeners.** Every worker binds every listener with SO_REUSEPORT; on UDP a classic BPF
  program sends each question name to one worker, so their caches make one logical cache
  (:mod:`pycoredns.server.steering`). TCP connections land on any worker.
* **Metrics.** Whichever worker a scrape reaches asks the supervisor, which adds up every worker's
  registry, its own (worker restarts, node-cache's setup errors) and what workers that died had
  counted: the same families and labels as one process, every query counted.
* **Health and readiness.** Each worker answers /health (the instance lives while one answers);
  /ready asks every worker through :meth:`pycoredns.plugin.Runtime.ask_workers`.
* **Reload.** SIGUSR1 reloads every worker; a worker whose reload plugin reloaded it has the
  others reloaded too. A worker started later (a restart) loads the configuration the others run.
* **Stop.** SIGTERM: every worker runs its shutdown hooks (lameduck: DNS still answered) and exit
  hooks; once all have, the supervisor runs the process's exit hooks (the node network
  teardown, once), tells them to hand over (when another instance serves, see ``hand_over``) or
  close, and waits for them to exit.
* **Restarts.** A worker that dies is logged, counted (``coredns_worker_restarts_total``) and
  started again, with a growing delay if it keeps dying.

It has the surface the node-cache program drives an :class:`pycoredns.server.app.App` by
(``start``, ``stopped``, ``stop``, ``reload``, ``shutdown``, ``exit_hooks``, ``exit_code``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from pycoredns import metrics
from pycoredns.errors import PyCoreDNSError
from pycoredns.server import signals
from pycoredns.server.control import Channel, ChannelClosed, Message
from pycoredns.server.process import Process
from pycoredns.workers import SPEC_ENV, WorkerSpec, new_instance_id

log = logging.getLogger("pycoredns")

RESTART_DELAY = 0.2  # after a worker dies; doubled each time it dies again soon, up to MAX
MAX_RESTART_DELAY = 10.0
STABLE_AFTER = 30.0  # a worker that ran this long starts the delay from scratch
STOP_WAIT = 30.0  # for the workers to exit once told to close, then SIGKILL

RESTARTS = Counter(
    "restarts_total", "Counter of worker processes that died and were started again.", ["worker"],
    namespace="coredns", subsystem="worker", registry=None,
)
RUNNING = Gauge("coredns_workers", "The number of worker processes serving.", registry=None)


@dataclass
class Slot:
    """One worker index and the process holding it now."""

    index: int
    proc: asyncio.subprocess.Process | None = None
    channel: Channel | None = None
    pid: int = 0
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Future[str] | None = None  # the worker waits on it to close or hand over
    asked: asyncio.Event = field(default_factory=asyncio.Event)  # it is waiting on ``closing``
    snapshot: metrics.Snapshot = field(default_factory=list)  # its metrics at the last scrape
    started_at: float = 0.0
    delay: float = RESTART_DELAY
    returncode: int | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and not self.exited.is_set()


class Supervisor:
    def __init__(
        self,
        conf: str = "",
        *,
        workers: int = 2,
        dns_port: str = "53",
        quiet: bool = False,
        pidfile: str = "",
        instance_id: str = "",
    ) -> None:
        self.conf = conf
        self.count = workers
        self.dns_port = dns_port
        self.quiet = quiet
        self.pidfile = pidfile
        self.instance_id = instance_id or new_instance_id()
        self.process = Process(self)
        self.slots = [Slot(i) for i in range(workers)]
        self.stopped = asyncio.Event()
        self.exit_code = 0
        self.shutting_down = False
        self.started = False
        self.retired: metrics.Snapshot = []  # counters of workers that died
        self.good_text: str | None = None  # the configuration the workers run
        self.stdin_text: str | None = sys.stdin.read() if conf == "stdin" else None
        self.steer = True  # the name hash in force (the instance is alone in its groups)
        # Whether another instance serves these addresses when this one stops (-instancedir).
        self.hand_over: Callable[[], bool] = lambda: False
        metrics.register_once("worker_restarts", lambda: RESTARTS)
        metrics.register_once("workers_running", lambda: RUNNING)

    # -- App's surface ---------------------------------------------------------------------------
    @property
    def exit_hooks(self) -> list[Callable[[], None]]:
        return self.process.exit_hooks

    @property
    def stopping(self) -> bool:
        return self.stopped.is_set()

    def udp_listeners(self) -> list[tuple[Any, ...]]:
        return []  # the workers listen, not the supervisor

    def stop(self, code: int = 0) -> None:
        if not self.stopped.is_set():
            self.exit_code = code
        self.stopped.set()

    def read_corefile(self) -> tuple[str, str]:
        if self.stdin_text is not None:
            return self.stdin_text, "stdin"
        path = self.conf or "Corefile"
        try:
            return Path(path).read_text(encoding="utf-8"), path
        except OSError as e:
            raise PyCoreDNSError(f"Corefile: open {path}: {e.strerror}") from None

    async def restart(self) -> None:
        await self.reload()

    async def reload(self) -> bool:
        """Every worker loads the Corefile again (each logs its own failure, keeping its config)."""
        if self.stopping:
            return False
        results = await asyncio.gather(
            *(self._request(s, {"op": "restart"}, 60.0) for s in self.slots if s.alive), return_exceptions=True
        )
        return all(r is True for r in results)

    def run_exit_hooks(self) -> None:
        self.process.run_exit_hooks()

    # -- start -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start worker 0, then the others; return once every one listens (pidfile written)."""
        first, rest = self.slots[0], self.slots[1:]
        await self._spawn(first)
        await self._until_listening([first])
        for slot in rest:
            await self._spawn(slot)
        await self._until_listening(rest)
        self.started = True
        RUNNING.set(sum(1 for s in self.slots if s.alive))
        if not self.quiet:
            self._notify(first, {"op": "banner"})
        if self.pidfile:
            Path(self.pidfile).write_text(f"{os.getpid()}\n")

    async def _until_listening(self, slots: list[Slot]) -> None:
        for slot in slots:
            listening = asyncio.ensure_future(slot.listening.wait())
            exited = asyncio.ensure_future(slot.exited.wait())
            await asyncio.wait([listening, exited], return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
            exited.cancel()
            if not slot.listening.is_set():
                raise PyCoreDNSError(f"worker {slot.index} exited with status {slot.returncode} before listening")

    async def _spawn(self, slot: Slot) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        text = self.stdin_text if self.stdin_text is not None else self.good_text
        spec = WorkerSpec(
            conf=self.conf, dns_port=self.dns_port, quiet=self.quiet, index=slot.index, count=self.count,
            instance=self.instance_id, control_fd=child.fileno(), supervisor=os.getpid(), steer=self.steer,
            corefile_text=text, reread=self.stdin_text is None,
        )
        env = {**os.environ, SPEC_ENV: spec.to_env()}
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pycoredns.server.worker",
                pass_fds=(child.fileno(),), start_new_session=True, env=env,
            )
        finally:
            child.close()
        slot.proc = proc
        slot.pid = proc.pid
        slot.listening = asyncio.Event()
        slot.exited = asyncio.Event()
        slot.closing = None
        slot.asked = asyncio.Event()
        slot.returncode = None
        slot.started_at = time.monotonic()
        slot.channel = Channel(parent, lambda msg: self._handle(slot, msg), f"worker {slot.index}")
        await slot.channel.start()
        asyncio.ensure_future(self._watch(slot, proc))

    async def _watch(self, slot: Slot, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if slot.proc is not proc:
            return
        slot.returncode = code
        slot.exited.set()
        if slot.channel is not None:
            await slot.channel.close()
        if slot.closing is not None and not slot.closing.done():
            slot.closing.cancel()
        self._retire(slot)
        RUNNING.set(sum(1 for s in self.slots if s.alive))
        if self.shutting_down or not self.started:
            return
        ran = time.monotonic() - slot.started_at
        if ran >= STABLE_AFTER:
            slot.delay = RESTART_DELAY
        log.error("[ERROR] Worker %d (PID %d) died: %s; starting it again in %s",
                  slot.index, slot.pid, _status(code), f"{slot.delay:g}s")
        RESTARTS.labels(str(slot.index)).inc()
        await asyncio.sleep(slot.delay)
        slot.delay = min(slot.delay * 2, MAX_RESTART_DELAY)
        if self.shutting_down:
            return
        await self._spawn(slot)
        listening = asyncio.ensure_future(slot.listening.wait())
        exited = asyncio.ensure_future(slot.exited.wait())
        await asyncio.wait([listening, exited], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        exited.cancel()
        if slot.listening.is_set():
            log.info("[INFO] Worker %d started again (PID %d)", slot.index, slot.pid)
            RUNNING.set(sum(1 for s in self.slots if s.alive))

    def _retire(self, slot: Slot) -> None:
        """What a dead worker counted stays in the sums (counters and histograms)."""
        if slot.snapshot:
            self.retired = metrics.merge([self.retired, metrics.additive(slot.snapshot)])
            slot.snapshot = []

    # -- the workers' messages ---------------------------------------------------------------------
    def _handle(self, slot: Slot, msg: Message) -> Any:
        op = msg.get("op")
        if op == "listening":
            if msg.get("text") is not None:
                self.good_text = msg["text"]
            slot.listening.set()
            return None
        if op == "restarted":
            if msg.get("text") is not None:
                self.good_text = msg["text"]
            if not msg.get("quiet"):  # its own reload plugin reloaded it: the others follow
                for other in self.slots:
                    if other is not slot and other.alive:
                        self._notify(other, {"op": "restart"})
            return None
        if op == "stop":
            self.stop(int(msg.get("code", 0)))
            return None
        if op == "ask":
            return self._ask(slot, str(msg.get("topic", "")), float(msg.get("timeout", 2.0)))
        if op == "metrics":
            slot.snapshot = list(msg.get("snapshot") or [])
            return self._merged(exclude=slot)
        if op == "closing":
            slot.closing = asyncio.get_running_loop().create_future()
            slot.asked.set()
            return slot.closing
        log.warning("[WARNING] unknown message %r from worker %d", op, slot.index)
        return None

    async def _request(self, slot: Slot, msg: Message, timeout: float) -> Any:
        if slot.channel is None:
            raise ChannelClosed("no channel")
        return await slot.channel.request(msg, timeout)

    def _notify(self, slot: Slot, msg: Message) -> None:
        if slot.channel is not None:
            slot.channel.notify(msg)

    async def _ask(self, asker: Slot, topic: str, timeout: float) -> dict[str, Any]:
        others = [s for s in self.slots if s is not asker]

        async def one(s: Slot) -> Any:
            if not s.alive or not s.listening.is_set():
                return None
            try:
                return await self._request(s, {"op": "answer", "topic": topic}, timeout)
            except (TimeoutError, ChannelClosed):
                return None

        answers = await asyncio.gather(*(one(s) for s in others))
        return {str(s.index): a for s, a in zip(others, answers, strict=True)}

    async def _merged(self, exclude: Slot | None = None) -> metrics.Snapshot:
        """Every worker's metrics (fresh; the last known of one that does not answer), the
        supervisor's own, and the retired counts, added up."""

        async def fresh(s: Slot) -> None:
            if not s.alive or not s.listening.is_set():
                return
            with contextlib.suppress(TimeoutError, ChannelClosed):
                got = await self._request(s, {"op": "snapshot"}, 5.0)
                if got is not None:
                    s.snapshot = list(got)

        await asyncio.gather(*(fresh(s) for s in self.slots if s is not exclude))
        return metrics.merge([metrics.snapshot(), self.retired, *(s.snapshot for s in self.slots)])

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The whole instance's /metrics (node-cache's own endpoint uses it)."""
        return metrics.render(await self._merged(), accept)

    # -- steering ------------------------------------------------------------------------------------
    def set_steering(self, active: bool) -> None:
        """The instance became alone in its groups (or not): workers steer by name from now on."""
        if active == self.steer:
            return
        self.steer = active
        if active:
            for s in self.slots:
                if s.alive:
                    self._notify(s, {"op": "steer", "active": True})

    # -- stop ------------------------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """CoreDNS's order across the workers: lameduck and the workers' exit hooks, then the
        process's exit hooks (once), then hand over or close."""
        self.shutting_down = True
        self.stopped.set()
        for s in self.slots:
            if s.alive:
                self._notify(s, {"op": "stop"})
        for s in self.slots:
            if s.alive:
                asked = asyncio.ensure_future(s.asked.wait())
                exited = asyncio.ensure_future(s.exited.wait())
                await asyncio.wait([asked, exited], return_when=asyncio.FIRST_COMPLETED)
                asked.cancel()
                exited.cancel()
        if self.process.exit_hooks:
            await asyncio.to_thread(self.process.run_exit_hooks)
        word = "leave" if self.hand_over() else "close"
        for s in self.slots:
            if s.closing is not None and not s.closing.done():
                s.closing.set_result(word)
        deadline = time.monotonic() + STOP_WAIT
        for s in self.slots:
            if s.proc is None:
                continue
            try:
                await asyncio.wait_for(s.exited.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.error("[ERROR] Worker %d (PID %d) did not stop: killed", s.index, s.pid)
                with contextlib.suppress(ProcessLookupError):
                    s.proc.kill()
                await s.exited.wait()
            if s.returncode not in (0, None) and self.exit_code == 0 and s.returncode > 0:
                self.exit_code = s.returncode
        RUNNING.set(0)
        if self.pidfile:
            with contextlib.suppress(OSError):
                os.unlink(self.pidfile)

    def kill_workers(self) -> None:
        for s in self.slots:
            if s.alive and s.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    s.proc.kill()

    # -- the pycoredns command -----------------------------------------------------------------------
    async def run(self, on_serving: Callable[[], Awaitable[None]] | None = None) -> int:
        signals.trap(self.stopped, self._quit_now, self.reload)
        try:
            await self.start()
        except PyCoreDNSError as e:
            log.error("[ERROR] %s", e)
            await self.shutdown()
            return 1
        if on_serving is not None:
            await on_serving()
        await self.stopped.wait()
        await self.shutdown()
        return self.exit_code

    def _quit_now(self) -> None:
        self.run_exit_hooks()
        self.kill_workers()


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
