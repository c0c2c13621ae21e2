"""Health checks: a probe loop per upstream, started by a failed exchange, run until a check passes.

As CoreDNS's pkg/proxy: the check asks ``<domain> IN NS`` (RD set unless ``no_rec``) on a fresh
connection with 1 s timeouts, over UDP, TCP (``force_tcp``) or TLS (``tls://``); any DNS reply is
healthy, only I/O errors count. Every failure bumps the upstream's fail count; one success resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import dnslib

CHECK_TIMEOUT = 1.0


class HealthChecker:
    """Sends one health-check query to an upstream."""

    def __init__(
        self,
        addr: tuple[str, int],
        proto: str,
        *,
        recursion_desired: bool = True,
        domain: str = ".",
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        local: str | None = None,
    ) -> None:
        self.addr = addr
        self.proto = proto  # "udp", "tcp" or "tcp-tls"
        self.recursion_desired = recursion_desired
        self.domain = domain
        self.ssl_context = ssl_context
        self.server_name = server_name
        self.local = local

    def _ping(self) -> tuple[int, bytes]:
        q = dnslib.DNSRecord.question(self.domain, "NS")
        qid = secrets.randbits(16)
        q.header.id = qid
        q.header.rd = 1 if self.recursion_desired else 0
        return qid, bytes(q.pack())

    async def check(self) -> None:
        """Raise OSError/TimeoutError when the upstream does not answer."""
        _qid, wire = self._ping()
        async with asyncio.timeout(CHECK_TIMEOUT * 2):  # write + read, 1 s each in CoreDNS
            if self.proto == "udp":
                await self._check_udp(wire)
            else:
                await self._check_stream(wire)

    async def _check_udp(self, wire: bytes) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            if self.local:
                sock.bind((self.local, 0))
            sock.connect(self.addr)
            await loop.sock_sendall(sock, wire)
            # Any reply is healthy, whatever its ID (miekg's Exchange accepts a mismatched response).
            async with asyncio.timeout(CHECK_TIMEOUT):  # not wait_for: see _check_stream
                await loop.sock_recv(sock, 65535)

    async def _check_stream(self, wire: bytes) -> None:
        tls = self.proto == "tcp-tls"
        # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancel that comes as the
        # call it awaits ends, and a check cancelled when its upstream is removed would go on.
        async with asyncio.timeout(CHECK_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                self.addr[0],
                self.addr[1],
                ssl=self.ssl_context if tls else None,
                server_hostname=(self.server_name or self.addr[0]) if tls else None,
                local_addr=(self.local, 0) if self.local else None,
            )
        try:
            writer.write(struct.pack(">H", len(wire)) + wire)
            async with asyncio.timeout(CHECK_TIMEOUT):
                head = await reader.readexactly(2)
            async with asyncio.timeout(CHECK_TIMEOUT):
                await reader.readexactly(struct.unpack(">H", head)[0])
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class Probe:
    """At most one probe loop at a time: ``check`` every ``interval`` until it succeeds."""

    def __init__(self) -> None:
        self.interval = 0.5
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def active(self) -> bool:
        return self._task is not None and not self._task.done()

    def do(self, check: Callable[[], Awaitable[bool]]) -> None:
        if self._stopped or self.active:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(check))

    async def _loop(self, check: Callable[[], Awaitable[bool]]) -> None:
        while not self._stopped:
            if await check():
                return
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
