"""health's ``liveness`` option (a pycoredns extension): /health fails when DNS is not answered.

CoreDNS's /health answers 200 as long as its HTTP server does, so a cache whose DNS is stuck
keeps passing its liveness probe (kubernetes/dns #586: a full UDP receive queue, no answers, a
green probe). With this option two checks run beside the endpoint:

* **The event loop.** A watchdog thread posts a callback to the loop every ``tick`` and the loop
  measures how late it ran; the thread also notices when it did not run itself (the whole
  process held: CPU throttling, a stopped process). A lag of ``max_stall`` or more is a stall: logged (by the thread
  while it lasts, by the loop once it ends) and reported by /health for twice ``max_stall``
  after it ended (10 s by default, the kubelet's probe period), so that a probe coming between
  two stalls still sees them. While the loop is stalled /health cannot answer at all, which a
  probe also counts as a failure.
* **DNS itself.** Every ``interval`` a round of queries goes to the server's own DNS listeners
  over UDP (:meth:`Runtime.probe_listeners`): the same receive queues and loop as the clients'
  queries, no upstream. When no round has come back whole for ``max_stall``, /health fails.

With workers, each worker watches its own loop and the primary one probes the listeners (one
round reaches every worker's socket); whichever worker takes /health asks the others, and a
worker that does not answer within :data:`ASK_TIMEOUT` counts as not answering DNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from pycoredns.plugin import Runtime, http, plugin_log

log = plugin_log("health")

TOPIC = "health"  # what workers ask each other
ASK_TIMEOUT = 1.0  # a worker that does not say how it is within this long counts as stuck


class Liveness:
    """The two checks of one process, and its part of the /health answer."""

    def __init__(self, runtime: Runtime, max_stall: float, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.max_stall = max_stall
        self.interval = min(interval, max_stall / 2)
        self.tick = min(0.1, max_stall / 10)
        # The last stall seen by the loop: when it ended (monotonic) and how long it lasted.
        self.stall_end = 0.0
        self.stall_length = 0.0
        # DNS probes: when the last round sent was answered in full, and the latest misses.
        self.answered_at = 0.0
        self.missed: list[str] = []
        self._silent = False  # the misses have lasted max_stall (logged once, until an answer)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._posted = 0.0  # when the pending beat was posted (0: none pending)
        self._prober: asyncio.Task[None] | None = None
        self._rounds: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.answered_at = time.monotonic()  # a grace period of max_stall before the first verdict
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="health-liveness", daemon=True)
        self._thread.start()
        if self.runtime.worker.primary:
            self._prober = asyncio.ensure_future(self._probe_loop())

    async def stop(self) -> None:
        self._stop.set()
        tasks = [t for t in (self._prober, *self._rounds) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._prober = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 1.0)
            self._thread = None

    # -- the event loop ------------------------------------------------------------------------
    def _watch(self) -> None:
        """The watchdog thread: keep one beat posted; say so while the loop does not run it."""
        loop = self._loop
        assert loop is not None
        warned = False
        woke = time.monotonic()
        while not self._stop.wait(self.tick):
            posted = self._posted
            now = time.monotonic()
            if now - woke - self.tick >= self.max_stall:
                # This thread did not run either: the whole process was held (CPU throttling, a
                # stopped process); the loop's own beat cannot tell, as it was held alike.
                self.stall_end, self.stall_length = now, now - woke
                log.warning("The process did not run for %.1fs", now - woke)
            woke = now
            if not posted:
                self._posted = now
                warned = False
                try:
                    loop.call_soon_threadsafe(self._beat, now)
                except RuntimeError:  # the loop closed
                    return
            elif not warned and now - posted >= self.max_stall:
                warned = True
                log.warning("The event loop has not run for %.1fs: DNS is not being answered", now - posted)

    def _beat(self, posted: float) -> None:
        now = time.monotonic()
        self._posted = 0.0
        lag = now - posted
        if lag >= self.max_stall:
            self.stall_end, self.stall_length = now, lag
            log.warning("The event loop was blocked for %.1fs", lag)

    # -- DNS -----------------------------------------------------------------------------------
    async def _probe_loop(self) -> None:
        while True:
            task = asyncio.ensure_future(self._round())
            self._rounds.add(task)
            task.add_done_callback(self._rounds.discard)
            await asyncio.sleep(self.interval)

    async def _round(self) -> None:
        sent = time.monotonic()
        missed = await self.runtime.probe_listeners(self.max_stall)
        if missed:
            self.missed = missed
            silent = time.monotonic() - self.answered_at
            if silent >= self.max_stall and not self._silent:
                self._silent = True
                log.warning("No DNS answer on %s for %.1fs", ", ".join(missed), silent)
        elif sent > self.answered_at:
            self.answered_at = sent
            if self._silent:
                self._silent = False
                log.info("DNS answered again")

    # -- the verdict ---------------------------------------------------------------------------
    def reasons(self) -> list[str]:
        """Why DNS counts as not answered by this process (empty: it is answered)."""
        now = time.monotonic()
        out = []
        if self.stall_end and now - self.stall_end < 2 * self.max_stall:
            out.append(f"event loop blocked for {self.stall_length:.1f}s, {now - self.stall_end:.0f}s ago")
        if self._prober is not None and now - self.answered_at >= self.max_stall:
            where = f" on {', '.join(self.missed)}" if self.missed else ""
            out.append(f"no DNS answer{where} for {now - self.answered_at:.1f}s")
        return out

    async def route(self, method: str, headers: dict[str, str]) -> http.Response:
        """/health: 200 ``OK``, or 503 with the reasons, for the whole instance."""
        worker = self.runtime.worker
        reasons = self.reasons()
        if worker.count > 1:
            reasons = [f"worker {worker.index}: {r}" for r in reasons]
            for index, got in sorted((await self.runtime.ask_workers(TOPIC, ASK_TIMEOUT)).items()):
                if not isinstance(got, list):
                    reasons.append(f"worker {index} not answering")
                else:
                    reasons.extend(f"worker {index}: {r}" for r in got)
        if not reasons:
            return http.Response(200, b"OK")
        return http.Response(503, "; ".join(reasons).encode())
