"""The /health endpoint: 200 ``OK`` while the process serves, and the local self-check.

Once a second the endpoint is requested over the network, as CoreDNS does, and the round trip
is recorded in coredns_health_request_duration_seconds (failures in
coredns_health_request_failures_total): a slow local answer means an overloaded process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from pycoredns.plugin import SLIM_TIME_BUCKETS, Buckets, Controller, add_histogram, go_duration, http, plugin_log
from pycoredns.plugins.health.liveness import TOPIC, Liveness

log = plugin_log("health")
CHECK_INTERVAL = 1.0
CHECK_TIMEOUT = 3.0


class _Metrics:
    """The self-check's numbers: counted plainly, rendered at scrape."""

    def __init__(self) -> None:
        self.duration = Buckets(SLIM_TIME_BUCKETS)
        self.failures = 0

    def collect(self) -> Iterator[Metric]:
        hist = HistogramMetricFamily(
            "coredns_health_request_duration_seconds", "Histogram of the time (in seconds) each request took."
        )
        add_histogram(hist, [], self.duration)
        yield hist
        yield CounterMetricFamily(
            "coredns_health_request_failures", "The number of times the health check failed.", value=self.failures
        )


METRICS = _Metrics()


def health_route(method: str, headers: dict[str, str]) -> http.Response:
    return http.Response(200, b"OK")  # liveness only: it does not ask the plugins


class Health:
    def __init__(self, c: Controller, addr: str, lameduck: float, liveness: float = 0.0) -> None:
        self.addr = addr
        self.lameduck = lameduck
        self.runtime = c.runtime
        self.server = c.http_server(addr)
        self.checker: asyncio.Task[None] | None = None
        self.liveness = Liveness(c.runtime, liveness) if liveness > 0 else None
        if self.liveness is not None and c.runtime.worker.count > 1:
            c.answer_workers(TOPIC, self.liveness.reasons)
        c.register_metrics("coredns_health", METRICS.collect)

    async def start(self) -> None:
        route: http.Route = health_route
        if self.liveness is not None:
            self.liveness.start()
            route = self.liveness.route
        await self.server.acquire(self, {"/health": route})
        self.checker = asyncio.ensure_future(self._check_loop())

    async def shutdown(self) -> None:
        """On exit wait out the lameduck period first (DNS still answers); on reload just let go."""
        if self.runtime.stopping and self.lameduck > 0:
            log.info("Going into lameduck mode for %s", go_duration(self.lameduck))
            await asyncio.sleep(self.lameduck)
        if self.checker is not None:
            self.checker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.checker
            self.checker = None
        if self.liveness is not None:
            await self.liveness.stop()
        await self.server.release(self)

    # -- self-check --------------------------------------------------------------------------
    async def _check_loop(self) -> None:
        host = self.server.host or "localhost"
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            port = self.server.bound_port
            url = f"http://{_join(host, port)}/health"
            start = time.perf_counter()
            try:
                # Not wait_for: Python 3.11's loses a cancel that comes as the call it awaits ends,
                # and this loop would then never stop (a worker's shutdown waited for it forever).
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await _get(host, port)
            except (TimeoutError, OSError, ValueError) as e:
                METRICS.duration.observe(time.perf_counter() - start)
                METRICS.failures += 1
                log.warning('Local health request to "%s" failed: %s', url, e or type(e).__name__)
                continue
            elapsed = time.perf_counter() - start
            METRICS.duration.observe(elapsed)
            if elapsed > 1.0:
                log.warning('Local health request to "%s" took more than 1s: %.3fs', url, elapsed)


async def _get(host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /health HTTP/1.1\r\nHost: {_join(host, port)}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
        if not status.startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP response: {status.decode(errors='replace').strip()!r}")
        await reader.read()  # any status: the check times the answer (a 503 of liveness too)
    finally:
        writer.close()


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
