"""One upstream: its address, its connections, its fail count and its health probe.

Connection reuse follows CoreDNS's pkg/proxy Transport: UDP sockets wait in a FIFO of idle
connections, the oldest taken first for source-port diversity; ones idle longer than ``expire``
(or older than ``max_age``) are closed instead of used, a connection is given back only after a
clean exchange, and a sweep every 10 s closes the idle-expired ones. TCP and TLS connections
(one class) are shared rather than taken: each carries up to ``PIPELINE`` queries at once, a new
one is dialed only when every open one is full, and a failed exchange retires its connection.
The same ``expire``, ``max_age`` and ``max_idle_conns`` apply to them while they are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from bisect import bisect_left
from collections import deque

from pycoredns.plugin import Buckets
from pycoredns.plugins.forward.connections import (
    PIPELINE,
    Conn,
    NetError,
    ReadTimeout,
    StreamConn,
    Timeouts,
    UDPConn,
)
from pycoredns.plugins.forward.health import HealthChecker, Probe
from pycoredns.plugins.forward.metrics import COUNTERS

SWEEP_INTERVAL = 10.0  # CoreDNS's connManager ticker (defaultExpire)
MIN_DIAL_TIMEOUT = 1.0
MAX_DIAL_TIMEOUT = 30.0
DIAL_AVG_WEIGHT = 4
CUT_BATCH = 32  # exchanges ended per turn of the event loop when the upstream is back


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
        # A check failed since the last cut (see back): exchanges may be in flight that the
        # upstream will never answer.
        self._unanswered = False
        self.health = health or HealthChecker(self.addr, "tcp-tls" if tls else "udp", ssl_context=tls,
                                              server_name=server_name, local=local)
        self.probe = Probe()
        # Read by the handler too, which gives a UDP socket back itself after a clean exchange.
        self.pool: deque[UDPConn] = deque()
        self._streams: list[StreamConn] = []  # open TCP/TLS connections, busy or idle
        self._timeouts: Timeouts | None = None
        # The connection cache's count cells (see Counters), shared with the upstream's earlier
        # Proxy of a reload: UDP, and TCP or TLS.
        udp = (self.to, "udp")
        stream = (self.to, "tcp-tls" if tls is not None else "tcp")
        hits, misses = COUNTERS.conn_cache_hits, COUNTERS.conn_cache_misses
        self._udp_hits = hits.setdefault(udp, [0])
        self._udp_misses = misses.setdefault(udp, [0])
        self._stream_hits = hits.setdefault(stream, [0])
        self._stream_misses = misses.setdefault(stream, [0])
        self.durations: dict[int, Buckets] = {}  # by rcode: the shared histogram of (to, rcode)
        self._avg_dial = MAX_DIAL_TIMEOUT / 2
        self._sweeper: asyncio.Task[None] | None = None
        self.stopped = False

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
            self._unanswered = True
            return False
        if self.fails:
            self.back(began)
        self.fails = 0
        return True

    def back(self, since: float) -> None:
        """The upstream answers again after failing checks (a check passed, or a query sent at
        ``since`` got its reply): the exchanges sent to it before ``since`` went out while it did
        not answer, and their replies will never come. Rather than wait each out to its read
        timeout, end them now, so their queries are asked again at once (or answered SERVFAIL if
        they have no attempt left): after an outage the queries in flight, and with them
        ``max_concurrent``'s slots, clear as soon as the upstream answers."""
        # Once per outage: the first reply proves the upstream answers, and what was sent after
        # that first reply's query will be answered too (the later replies, until a check passes
        # and resets ``fails``, would each scan everything in flight again for nothing).
        if not self._unanswered:
            return
        self._unanswered = False
        # The connections with an exchange in flight are the ones the timeout ticker watches:
        # nothing is kept per query for this.
        t = self._timeouts
        if t is None:
            return
        self._cut(list(t.in_flight()), 0, since)

    def _cut(self, conns: list[Conn], start: int, since: float) -> None:
        # A batch per turn of the loop: after a long outage thousands are in flight, and each cut
        # asks again or answers SERVFAIL; all at once kept the loop from its sockets for a second.
        end = start + CUT_BATCH
        for conn in conns[start:end]:
            conn.cut(since, NetError(f"read {conn.proto} {self.to}: sent while the upstream did not answer"))
        if end < len(conns):
            asyncio.get_running_loop().call_soon(self._cut, conns, end, since)

    # -- connections -----------------------------------------------------------------------------
    def conn_proto(self, proto: str) -> str:
        """The metrics' ``proto`` for a dial: a TLS upstream always uses ``tcp-tls``."""
        return "tcp-tls" if self.tls is not None else proto

    def take_idle(self, proto: str, now: float = 0.0) -> Conn | None:
        """A pooled connection for ``proto``'s class (the oldest idle UDP socket, or an open stream
        with room for another query), counting the connection cache hit or miss. ``now`` is
        ``time.monotonic()``, when the caller has it."""
        if proto == "udp" and self.tls is None:
            pool = self.pool
            if pool:
                if not now:
                    now = time.monotonic()
                expire = self.expire
                oldest = now - self.max_age if self.max_age > 0 else None
                while pool:
                    udp = pool.popleft()
                    if udp.closed or now - udp.used > expire or (oldest is not None and udp.created < oldest):
                        udp.close()
                        continue
                    self._udp_hits[0] += 1
                    return udp
            self._udp_misses[0] += 1
            return None
        # proto is "tcp" here, or the upstream is TLS
        streams = self._streams
        conn = None
        if streams:
            if not now:
                now = time.monotonic()
            # The usual case: the first stream is open, has room and is not too old to use.
            first = streams[0]
            if (
                not first.closed
                and not first.retired
                and len(first.pending) < PIPELINE
                and (first.pending or now - first.used <= self.expire)
                and (self.max_age <= 0 or first.created >= now - self.max_age)
            ):
                self._stream_hits[0] += 1
                return first
            conn = self._take_stream(now)
        (self._stream_misses if conn is None else self._stream_hits)[0] += 1
        return conn

    def observe_duration(self, rcode: int, seconds: float) -> None:
        """One exchange's duration, by rcode (coredns_proxy_request_duration_seconds)."""
        b = self.durations.get(rcode)
        if b is None:
            b = self.durations[rcode] = COUNTERS.duration_buckets(self.to, rcode)
        b.counts[bisect_left(b.bounds, seconds)] += 1
        b.total += seconds

    def _take_stream(self, now: float) -> StreamConn | None:
        # The first one would not do (take_idle looked): each open stream in turn.
        oldest = now - self.max_age if self.max_age > 0 else None
        found = None
        for conn in list(self._streams):
            if conn.closed:
                self._streams.remove(conn)
                continue
            stale = oldest is not None and conn.created < oldest
            if not conn.busy and (stale or now - conn.used > self.expire):
                self._streams.remove(conn)
                conn.close()
                continue
            if stale:
                conn.retire()
                self._streams.remove(conn)
                continue
            if found is None and conn.usable:
                found = conn
        return found

    def timeouts(self, loop: asyncio.AbstractEventLoop) -> Timeouts:
        """The read-timeout watch of this upstream's connections."""
        t = self._timeouts
        if t is None or t.loop is not loop:
            t = self._timeouts = Timeouts(loop)
        return t

    def dial_udp(self, loop: asyncio.AbstractEventLoop) -> UDPConn:
        return UDPConn.dial(loop, self.to, self.addr, self.local, self.timeouts(loop))

    async def dial_stream(self, proto: str, limit: float = MAX_DIAL_TIMEOUT) -> StreamConn:
        """Open a TCP or TLS connection within the adaptive dial timeout (at most ``limit``)."""
        loop = asyncio.get_running_loop()
        label = self.conn_proto(proto)
        timeouts = self.timeouts(loop)
        started = time.monotonic()
        try:
            async with asyncio.timeout(min(self._dial_timeout(), limit)):
                _t, conn = await loop.create_connection(
                    lambda: StreamConn(loop, self.to, label, timeouts),
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=(self.server_name or self.host) if self.tls is not None else None,
                    local_addr=(self.local, 0) if self.local else None,
                )
        finally:
            self._avg_dial += (time.monotonic() - started - self._avg_dial) / DIAL_AVG_WEIGHT
        # Once stopped (a reload replaced this forward, or the server drains its last queries
        # before it hands over to another instance), a connection still carries the query that
        # dialed it, and closes after it (give_back, give_up): closing it here failed that query.
        if not self.stopped:
            self._streams.append(conn)  # open to the next queries at once
        return conn

    def _dial_timeout(self) -> float:
        avg = self._avg_dial
        if avg < MIN_DIAL_TIMEOUT:
            return MIN_DIAL_TIMEOUT
        if avg < MAX_DIAL_TIMEOUT / 2:
            return 2 * avg
        return MAX_DIAL_TIMEOUT

    def give_back(self, conn: Conn, now: float = 0.0) -> None:
        """After a clean exchange: a UDP socket back to the pool (closed instead if stopped or the
        pool is full); a stream stays open, unless it is now idle and more than
        ``max_idle_conns`` streams are."""
        if self.stopped or conn.closed:
            if isinstance(conn, StreamConn) and self.stopped:
                conn.retire()  # closed once the other queries on it are answered, not before
            else:
                conn.close()
            return
        conn.used = now or time.monotonic()
        if isinstance(conn, StreamConn):
            if self.max_idle_conns > 0 and not conn.busy and self.idle_count("tcp") > self.max_idle_conns:
                self._drop_stream(conn)
            return
        pool = self.pool
        if self.max_idle_conns > 0 and len(pool) >= self.max_idle_conns:
            conn.close()
            return
        pool.append(conn)  # type: ignore[arg-type]

    def give_up(self, conn: Conn, error: BaseException | None = None) -> None:
        """After a failed exchange: a stream is retired (closed once the other queries on it are
        done); a UDP socket is closed, unless its exchange only timed out.

        Beyond CoreDNS, which closes the socket after any error: a UDP socket whose reply did not
        come in time goes back to the pool. In an upstream outage every attempt times out, and a
        socket opened and closed per attempt was a fifth of the server's CPU (thousands a second),
        taken from the cached answers it still serves. A late reply to the old query that comes
        after all carries the old ID: it is dropped (and counted), as any other stray message."""
        if isinstance(conn, StreamConn):
            if conn in self._streams:
                self._streams.remove(conn)
            conn.retire()
        elif isinstance(conn, UDPConn) and isinstance(error, ReadTimeout):
            self.give_back(conn)  # closed there instead when stopped
        else:
            conn.close()

    def _drop_stream(self, conn: StreamConn) -> None:
        if conn in self._streams:
            self._streams.remove(conn)
        conn.close()

    def idle_count(self, cls: str) -> int:
        if cls == "udp":
            return len(self.pool)
        return sum(1 for c in self._streams if not c.busy and not c.closed)

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

        def expired(c: Conn) -> bool:
            return now - c.used > self.expire or (self.max_age > 0 and c.created < now - self.max_age)

        # One pass: the pool holds thousands of sockets after an outage (a membership test per
        # socket against the kept list stalled the loop for seconds).
        keep: deque[UDPConn] = deque()
        for c in self.pool:
            if c.closed:
                continue
            if expired(c):
                c.close()
            else:
                keep.append(c)
        self.pool = keep
        for s in list(self._streams):
            if s.closed:
                self._streams.remove(s)
            elif not s.busy and expired(s):
                self._drop_stream(s)

    def stop(self) -> None:
        self.stopped = True
        self.probe.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self.pool:
            with contextlib.suppress(Exception):
                self.pool.popleft().close()
        streams, self._streams = self._streams, []
        for s in streams:
            with contextlib.suppress(Exception):
                s.retire()  # the queries in flight may finish; no new one is sent
        if self._timeouts is not None and self._timeouts.idle:
            self._timeouts.stop()
