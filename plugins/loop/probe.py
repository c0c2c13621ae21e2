"""The self-probe: send ``HINFO <probe name>`` to the block's own address until one exchange completes.

As CoreDNS: retried every second for up to 30 s (each failed exchange, 2 s timeout, resets the
count); the plugin disables itself once an exchange completed or the 30 s are over. While the
probe waits for its answer, a forwarding loop brings the same query back again and again, and the
handler counts it.
"""

from __future__ import annotations

import asyncio
import socket
import time

import dnslib

from pycoredns.plugins.loop.handler import HINFO, Loop

DEADLINE = 30.0
TIMEOUT = 2.0
RETRY = 1.0


def probe_address(host: str, port: int) -> str:
    """The address CoreDNS names in its message: ``host:port`` (``:port`` for a wildcard)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def exchange(qname: str, host: str, port: int, timeout: float = TIMEOUT) -> bytes:
    """One UDP exchange; raises OSError or TimeoutError."""
    target = host or "127.0.0.1"  # Go dials the local host for an empty host
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    query = dnslib.DNSRecord.question(qname, "HINFO")
    query.header.rd = 1
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (target.split("%")[0], port))
        await loop.sock_sendall(sock, query.pack())
        async with asyncio.timeout(timeout):
            while True:
                data = await loop.sock_recv(sock, 65535)
                if data[:2] == query.pack()[:2]:
                    return data


async def count_only(loop: Loop) -> None:
    """A worker other than the primary: count the probe for as long as the primary may send it."""
    try:
        await asyncio.sleep(DEADLINE + TIMEOUT)
    finally:
        loop.disabled = True


async def run_probe(loop: Loop, address: str) -> None:
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")
    port = int(port_text)
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline and not loop.disabled:
            loop.address = address
            try:
                await exchange(loop.qname, host, port)
            except (OSError, TimeoutError):
                loop.seen = 0
                await asyncio.sleep(RETRY)
                continue
            break
    finally:
        loop.disabled = True


__all__ = ["HINFO", "count_only", "exchange", "probe_address", "run_probe"]
