"""One upstream: its address, its pools of idle connections, its fail count and its health probe.

Connection reuse follows CoreDNS's pkg/proxy Transport: one FIFO of idle connections per class
(UDP; TCP and TLS share the TCP class), the oldest taken first for source-port diversity, ones
idle longer than ``expire`` (or older than ``max_age``) closed instead of used, a connection given
back only after a clean exchange, and a sweep every 10 s closing the idle-expired ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque

from pycoredns.plugins.forward.connections import Conn, NetError, StreamConn, UDPConn
from pycoredns.plugins.forward.health import HealthChecker, Probe
from pycoredns.plugins.forward.metrics import COUNTERS

SWEEP_INTERVAL = 10.0  # CoreDNS's connManager ticker (defaultExpire)
MIN_DIAL_TIMEOUT = 1.0
MAX_DIAL_TIMEOUT = 30.0
DIAL_AVG_WEIGHT = 4


class Proxy:
    """An upstream as forward sees it (CoreDNS's ``proxy.Proxy`` plus its ``Transport``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        expire: float = 10.0,
        max_age: float = 0.0,
        max_idle_conns: int = 0,
        read_timeout: float = 2.0,
        local: str | None = None,
        health: HealthChecker | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.addr = (host, port)
        self.to = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # the metrics' ``to``
        self.tls = tls
        self.server_name = server_name
        self.expire = expire
        self.max_age = max_age
        self.max_idle_conns = max_idle_conns
        self.read_timeout = read_timeout
        self.local = local
        self.fails = 0
        # Connections with an exchange in flight, and when it was sent (monotonic).
        self.inflight: dict[Conn, float] = {}
        self.health = health or HealthChecker(self.addr, "tcp-tls" if tls else "udp", ssl_context=tls,
                                              server_name=server_name, local=local)
        self.probe = Probe()
        self._idle: dict[str, deque[Conn]] = {"udp": deque(), "tcp": deque()}
        self._avg_dial = MAX_DIAL_TIMEOUT / 2
        self._sweeper: asyncio.Task[None] | None = None
        self._stopped = False

    # -- health ----------------------------------------------------------------------------------
    def down(self, max_fails: int) -> bool:
        return max_fails != 0 and self.fails > max_fails

    def healthcheck(self) -> None:
        """Start probing this upstream, unless a probe loop already runs."""
        self.probe.do(self._check_once)

    async def _check_once(self) -> bool:
        began = time.monotonic()
        try:
            await self.health.check()
        except (OSError, TimeoutError, ssl.SSLError, EOFError, asyncio.IncompleteReadError):
            f = COUNTERS.healthcheck_failures
            f[self.to] = f.get(self.to, 0) + 1
            self.fails += 1
            return False
        if self.fails:
            self.back(began)
        self.fails = 0
        return True

    def sent(self, conn: Conn) -> float:
        """An exchange went out on ``conn``; returns when (monotonic)."""
        at = self.inflight[conn] = time.monotonic()
        return at

    def back(self, since: float) -> None:
        """The upstream answers again after failing checks (a check passed, or a query sent at
        ``since`` got its reply): the exchanges sent to it before ``since`` went out while it did
        not answer, and their replies will never come. Rather than wait each out to its read
        timeout, end them now, so their queries are asked again at once (or answered SERVFAIL if
        they have no attempt left): after an outage the queries in flight, and with them
        ``max_concurrent``'s slots, clear as soon as the upstream answers."""
        stale = []
        for conn, at in self.inflight.items():  # in the order they were sent
            if at >= since:
                break
            stale.append(conn)
        for conn in stale:
            self.inflight.pop(conn, None)
            conn.cut(NetError(f"read {conn.proto} {self.to}: sent while the upstream did not answer"))

    # -- connections -----------------------------------------------------------------------------
    def conn_proto(self, proto: str) -> str:
        """The metrics' ``proto`` for a dial: a TLS upstream always uses ``tcp-tls``."""
        return "tcp-tls" if self.tls is not None else proto

    def take_idle(self, proto: str) -> Conn | None:
        """The oldest usable idle connection of ``proto``'s class, counting the cache hit or miss."""
        label = self.conn_proto(proto)
        pool = self._idle["udp" if label == "udp" else "tcp"]
        if pool:
            now = time.monotonic()
            oldest = now - self.max_age if self.max_age > 0 else None
            while pool:
                conn = pool.popleft()
                if conn.closed or now - conn.used > self.expire or (oldest is not None and conn.created < oldest):
                    conn.close()
                    continue
                key = (self.to, label)
                hits = COUNTERS.conn_cache_hits
                hits[key] = hits.get(key, 0) + 1
                return conn
        key = (self.to, label)
        misses = COUNTERS.conn_cache_misses
        misses[key] = misses.get(key, 0) + 1
        return None

    def dial_udp(self, loop: asyncio.AbstractEventLoop) -> UDPConn:
        return UDPConn.dial(loop, self.to, self.addr, self.local)

    async def dial_stream(self, proto: str, limit: float = MAX_DIAL_TIMEOUT) -> StreamConn:
        """Open a TCP or TLS connection within the adaptive dial timeout (at most ``limit``)."""
        loop = asyncio.get_running_loop()
        label = self.conn_proto(proto)
        started = time.monotonic()
        try:
            async with asyncio.timeout(min(self._dial_timeout(), limit)):
                _t, conn = await loop.create_connection(
                    lambda: StreamConn(loop, self.to, label),
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=(self.server_name or self.host) if self.tls is not None else None,
                    local_addr=(self.local, 0) if self.local else None,
                )
        finally:
            self._avg_dial += (time.monotonic() - started - self._avg_dial) / DIAL_AVG_WEIGHT
        return conn

    def _dial_timeout(self) -> float:
        avg = self._avg_dial
        if avg < MIN_DIAL_TIMEOUT:
            return MIN_DIAL_TIMEOUT
        if avg < MAX_DIAL_TIMEOUT / 2:
            return 2 * avg
        return MAX_DIAL_TIMEOUT

    def give_back(self, conn: Conn) -> None:
        """Return a connection after a clean exchange (closed instead if stopped or the pool is full)."""
        if self._stopped or conn.closed:
            conn.close()
            return
        conn.used = time.monotonic()
        pool = self._idle["udp" if conn.proto == "udp" else "tcp"]
        if self.max_idle_conns > 0 and len(pool) >= self.max_idle_conns:
            conn.close()
            return
        pool.append(conn)

    def idle_count(self, cls: str) -> int:
        return len(self._idle[cls])

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, hc_interval: float) -> None:
        self.probe.interval = hc_interval
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep()

    def sweep(self) -> None:
        """Close idle connections unused for longer than ``expire`` or older than ``max_age``."""
        now = time.monotonic()
        for pool in self._idle.values():
            keep = [
                c
                for c in pool
                if not c.closed and now - c.used <= self.expire
                and not (self.max_age > 0 and c.created < now - self.max_age)
            ]
            for c in pool:
                if c not in keep:
                    c.close()
            pool.clear()
            pool.extend(keep)

    def stop(self) -> None:
        self._stopped = True
        self.probe.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pool in self._idle.values():
            while pool:
                with contextlib.suppress(Exception):
                    pool.popleft().close()
