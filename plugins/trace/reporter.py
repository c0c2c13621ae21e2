"""Sending finished spans: a queue the query path appends to, a task that posts them in batches.

Zipkin: JSON v2 (``POST /api/v2/spans``), zipkin-go's HTTP reporter defaults: a batch is sent when
it holds ``zipkin_max_batch_size`` spans (100) or ``zipkin_max_batch_interval`` (1 s) has passed;
past ``zipkin_max_backlog_size`` (1000) waiting spans the oldest are dropped. Datadog: the agent's
trace intake (``PUT /v0.4/traces``, JSON), one trace per query, every second. A failed post is
logged and its spans dropped, as those reporters do; nothing is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pycoredns.plugin import COREDNS_VERSION, plugin_log, split_host_port

if TYPE_CHECKING:
    from pycoredns.plugins.trace.options import Options
    from pycoredns.plugins.trace.span import Span

log = plugin_log("trace")
POST_TIMEOUT = 5.0  # zipkin-go's default request timeout
BATCH_SIZE, BATCH_INTERVAL, MAX_BACKLOG = 100, 1.0, 1000


class Reporter:
    """The queue and the sending task; subclasses say where and how a batch is encoded."""

    def __init__(self, url: str, batch_size: int, interval: float, backlog: int) -> None:
        self.url = url
        self.batch_size = batch_size
        self.interval = interval
        self.spans: deque[Span] = deque(maxlen=backlog)  # full: the oldest are dropped
        self.sent = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def report(self, span: Span) -> None:
        """Called on the query path: append, and wake the sender when a batch is full."""
        self.spans.append(span)
        if len(self.spans) >= self.batch_size and self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the task and send what is queued (bounded by the post timeout)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.flush()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            # Not wait_for: Python 3.11's loses a cancel that comes as the wait ends, and this loop
            # would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        while self.spans:
            batch = [self.spans.popleft() for _ in range(min(self.batch_size, len(self.spans)))]
            try:
                async with asyncio.timeout(POST_TIMEOUT):
                    await post(self.url, self.method, self.encode(batch), self.headers(batch))
                self.sent += len(batch)
            except (OSError, TimeoutError, ValueError) as e:
                log.error("failed to send the request: %s", e or type(e).__name__)

    method = "POST"

    def encode(self, batch: list[Span]) -> bytes:
        raise NotImplementedError

    def headers(self, batch: list[Span]) -> dict[str, str]:
        return {"Content-Type": "application/json"}


class ZipkinReporter(Reporter):
    def __init__(self, opts: Options) -> None:
        super().__init__(opts.endpoint, opts.zipkin_max_batch_size or BATCH_SIZE,
                         opts.zipkin_max_batch_interval or BATCH_INTERVAL,
                         opts.zipkin_max_backlog_size or MAX_BACKLOG)
        self.local: dict[str, Any] = {"serviceName": opts.service}
        if opts.service_endpoint:
            host, port = split_host_port(opts.service_endpoint)
            try:
                ip = ipaddress.ip_address(host)
                self.local["ipv6" if ip.version == 6 else "ipv4"] = str(ip)
            except ValueError:
                pass
            if port.isdigit() and int(port):
                self.local["port"] = int(port)
        self.shared = opts.client_server

    def encode(self, batch: list[Span]) -> bytes:
        return json.dumps([self.span(s) for s in batch], separators=(",", ":")).encode()

    def span(self, s: Span) -> dict[str, Any]:
        """A span in Zipkin's v2 JSON model."""
        out: dict[str, Any] = {
            "traceId": f"{s.trace_id:016x}",
            "id": f"{s.id:016x}",
            "name": s.name,
            "timestamp": s.timestamp,
            "duration": s.duration,
            "localEndpoint": self.local,
        }
        if s.parent_id:
            out["parentId"] = f"{s.parent_id:016x}"
        if s.kind:
            out["kind"] = s.kind
        tags = dict(s.tags)
        if s.error:
            tags["error"] = "true"
            out["annotations"] = [{"timestamp": s.timestamp + s.duration, "value": f"error: {s.error}"}]
        if tags:
            out["tags"] = tags
        return out


class DatadogReporter(Reporter):
    method = "PUT"

    def __init__(self, opts: Options) -> None:
        base = opts.endpoint if opts.endpoint.startswith(("http://", "https://")) else f"http://{opts.endpoint}"
        super().__init__(base.rstrip("/") + "/v0.4/traces", BATCH_SIZE, BATCH_INTERVAL, MAX_BACKLOG)
        self.service = opts.service
        self.rate = opts.datadog_analytics_rate

    def encode(self, batch: list[Span]) -> bytes:
        return json.dumps([[self.span(s)] for s in batch], separators=(",", ":")).encode()

    def span(self, s: Span) -> dict[str, Any]:
        meta = {"dns": "true", **s.tags}  # tracer.WithGlobalTag(ext.SpanTypeDNS, true)
        if s.error:
            meta.update({"error.message": s.error, "error.type": "dns_error"})
        metrics: dict[str, float] = {"_sampling_priority_v1": 1.0}
        if self.rate:
            metrics["_dd1.sr.eausr"] = self.rate
        return {"trace_id": s.trace_id, "span_id": s.id, "parent_id": s.parent_id, "name": s.name,
                "resource": s.name, "service": self.service, "type": "dns", "start": s.timestamp * 1000,
                "duration": s.duration * 1000, "error": 1 if s.error else 0, "meta": meta, "metrics": metrics}

    def headers(self, batch: list[Span]) -> dict[str, str]:
        return {"Content-Type": "application/json", "Datadog-Meta-Lang": "python",
                "Datadog-Meta-Tracer-Version": COREDNS_VERSION, "X-Datadog-Trace-Count": str(len(batch))}


def make_reporter(opts: Options) -> Reporter:
    return DatadogReporter(opts) if opts.endpoint_type == "datadog" else ZipkinReporter(opts)


async def post(url: str, method: str, body: bytes, headers: dict[str, str]) -> None:
    """One HTTP/1.1 request on a new connection; raises unless the status is 2xx."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported endpoint {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls = ssl.create_default_context() if parts.scheme == "https" else None
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=tls)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}",
                "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status = await reader.readline()
        fields = status.split()
        if len(fields) < 2 or not fields[1].startswith(b"2"):
            raise ValueError(f"{method} {url}: {status.decode('latin-1').strip() or 'no response'}")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
