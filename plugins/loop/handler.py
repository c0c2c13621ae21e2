"""The loop handler: count HINFO queries for our own random probe name; more than two is a loop."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Coroutine
from typing import Any

from pycoredns.plugin import Handler, Plugin, Request, Result, Runtime, dns, plugin_log, wire

log = plugin_log("loop")
HINFO = 13


def probe_name(zone: str, instance: str = "") -> str:
    """``<random 62-bit int>.<random 62-bit int>.<zone>``, lower-case, fully qualified.

    With workers the numbers come from the instance's id, so every worker knows the name: the
    primary one sends the probe, and whichever worker the name is steered to counts it.
    """
    if instance:
        digest = hashlib.sha256(f"{instance}/{zone}".encode()).digest()
        first, second = (int.from_bytes(digest[i : i + 8], "big") >> 2 for i in (0, 8))
    else:
        first, second = secrets.randbelow(1 << 62), secrets.randbelow(1 << 62)
    labels = f"{first}.{second}"
    return f"{labels}." if zone == "." else f"{labels}.{zone}"


class Loop(Plugin):
    name = "loop"

    def __init__(self, zone: str, runtime: Runtime | None, next: Handler | None = None, instance: str = "") -> None:
        super().__init__(next)
        self.zone = zone
        self.qname = probe_name(zone, instance)
        self.runtime = runtime
        self.seen = 0
        self.disabled = False
        self.address = ""  # where the probe was sent, for the fatal message
        self.fired = False
        self._task: asyncio.Task[None] | None = None

    def with_next(self, next: Handler | None) -> Loop:
        self.next = next
        return self

    def serve(self, req: Request) -> Result:
        if req.qtype != HINFO or self.disabled:
            return self.next_or_failure(req)
        name = req.name
        if not dns.is_subdomain(self.zone, name):
            return self.next_or_failure(req)
        if name == self.qname:
            self.seen += 1
        if self.seen > 2:
            self._fatal(req)
            # CoreDNS exits on the spot; we stop the process and stop feeding the loop meanwhile.
            return wire.SERVFAIL
        return self.next_or_failure(req)

    def _fatal(self, req: Request) -> None:
        if self.fired:
            return
        self.fired = True
        host, port = req.remote[0], req.remote[1]
        remote = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        log.critical(
            'Loop (%s -> %s) detected for zone "%s", see https://coredns.io/plugins/loop#troubleshooting. '
            'Query: "HINFO %s"',
            remote,
            self.address,
            self.zone,
            self.qname,
        )
        if self.runtime is not None:
            self.runtime.stop(1)

    # -- the probe's lifetime ------------------------------------------------------------------
    def start_probe(self, probe: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(probe, name="loop-probe")

    async def stop_probe(self) -> None:
        self.disabled = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
