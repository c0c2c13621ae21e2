"""The forward handler: match the query, pick upstreams by policy, run CoreDNS's exchange loop.

A forwarded query costs one Future and, over UDP, no coroutine or Task: :class:`Exchange` is a
small state machine driven by connection callbacks (reply, error, timeout). Only dialing a TCP or
TLS connection runs as a Task.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from pycoredns.plugin import Handler, HandlerError, Plugin, Reply, Request, Result, dns, plugin_log, wire
from pycoredns.plugins.forward.connections import CachedClosed, Conn, NetError, Spoofed, answers
from pycoredns.plugins.forward.metrics import COUNTERS
from pycoredns.plugins.forward.policy import Policy, RandomPolicy
from pycoredns.plugins.forward.proxy import Proxy

log = plugin_log("forward")
DEADLINE = 5.0  # CoreDNS's defaultTimeout: no query waits longer than this
ATTEMPTS_PER_UPSTREAM = 2  # defaultConnectAttemptsPerUpstream
NO_HEALTHY = "no healthy proxies"


@dataclass
class Options:
    """What a forward stanza configures beyond its upstreams."""

    from_zone: str = "."
    ignored: list[str] = field(default_factory=list)
    force_tcp: bool = False
    prefer_udp: bool = False
    max_fails: int = 2
    max_connect_attempts: int | None = None  # None: 2 per upstream
    max_concurrent: int = 0  # CoreDNS's: no limit
    limit_message: str = ""
    next_rcodes: frozenset[int] = frozenset()
    next_on_nodata: bool = False
    failfast: bool = False
    failover_rcodes: frozenset[int] = frozenset()
    hc_interval: float = 0.5


class Forward(Plugin):
    name = "forward"

    def __init__(self, next: Handler | None, opts: Options, proxies: list[Proxy], policy: Policy | None = None):
        super().__init__(next)
        self.opts = opts
        self.proxies = proxies
        self.policy: Policy = policy or RandomPolicy()
        self.concurrent = 0
        self._match_all = opts.from_zone == "." and not opts.ignored

    def match(self, req: Request) -> bool:
        if self._match_all:
            return True
        name = req.name
        opts = self.opts
        if not dns.is_subdomain(opts.from_zone, name):
            return False
        if name == opts.from_zone:
            return True  # the FROM zone itself is never excluded
        return not any(dns.is_subdomain(ignored, name) for ignored in opts.ignored)

    def serve(self, req: Request) -> Result:
        if not self.match(req):
            return self.next_or_failure(req)
        limit = self.opts.max_concurrent
        if limit:
            if self.concurrent >= limit:
                COUNTERS.max_concurrent_rejects += 1
                raise HandlerError(wire.REFUSED, self.opts.limit_message)
            self.concurrent += 1
        outer: asyncio.Future[bytes | int] = asyncio.get_running_loop().create_future()
        if limit:
            outer.add_done_callback(self._release)
        Exchange(self, req, outer).run()
        return outer

    def _release(self, _fut: asyncio.Future[Any]) -> None:
        self.concurrent -= 1

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        for p in self.proxies:
            p.start(self.opts.hc_interval)

    async def stop(self) -> None:
        for p in self.proxies:
            p.stop()


class Exchange:
    """One query's walk over the upstreams (CoreDNS's ServeDNS loop), driven by callbacks."""

    __slots__ = (
        "fwd", "req", "outer", "loop", "order", "i", "fails", "attempts", "max_attempts",
        "failovers", "deadline", "force_tcp", "err", "proxy", "conn", "started", "sent_at",
    )

    def __init__(self, fwd: Forward, req: Request, outer: asyncio.Future[bytes | int]) -> None:
        self.fwd = fwd
        self.req = req
        self.outer = outer
        self.loop = outer.get_loop()
        self.order = fwd.policy.order(fwd.proxies)
        self.i = 0
        self.fails = 0
        self.attempts = 0
        cap = fwd.opts.max_connect_attempts
        self.max_attempts = ATTEMPTS_PER_UPSTREAM * len(self.order) if cap is None else cap
        self.failovers = 0
        self.deadline = self.loop.time() + DEADLINE
        self.force_tcp = fwd.opts.force_tcp
        self.err: BaseException | None = None
        self.proxy: Proxy = self.order[0]
        self.conn: Conn | None = None
        self.started = 0.0
        self.sent_at = 0.0

    def run(self) -> None:
        """Pick the next upstream to try, or give up."""
        fwd = self.fwd
        opts = fwd.opts
        total = len(fwd.proxies)
        while True:
            if self.outer.done():
                return
            if self.loop.time() >= self.deadline or (self.max_attempts and self.attempts >= self.max_attempts):
                self.give_up()
                return
            if self.i >= len(self.order):
                self.i = 0
                self.fails = 0
            proxy = self.order[self.i]
            self.i += 1
            if proxy.down(opts.max_fails):
                self.fails += 1
                if self.fails < total:
                    continue
                COUNTERS.healthcheck_broken += 1
                if opts.failfast:
                    self.give_up()
                    return
                # Health checking looks broken: try a random upstream anyway.
                proxy = random.choice(fwd.proxies)
            self.proxy = proxy
            self.force_tcp = opts.force_tcp
            meta = self.req.meta
            if meta is not None:
                meta["forward/upstream"] = proxy.to
            self.attempt()
            return

    def attempt(self) -> None:
        """Send the query to ``self.proxy`` on a pooled or new connection."""
        proxy = self.proxy
        if self.force_tcp:
            proto = "tcp"
        elif self.fwd.opts.prefer_udp:
            proto = "udp"
        else:
            proto = self.req.proto
        if proxy.tls is not None:
            proto = "tcp"
        self.started = time.perf_counter()
        conn = proxy.take_idle(proto)
        if conn is not None:
            self.send(conn, True)
            return
        if proto == "udp":
            try:
                conn = proxy.dial_udp(self.loop)
            except OSError as e:
                self.loop.call_soon(self.on_reply, None, NetError(f"dial udp {proxy.to}: {e.strerror or e}"))
                return
            self.send(conn, False)
            return
        # The dial, too, must end by the query's deadline.
        limit = max(self.deadline - self.loop.time(), 0.001)
        task = self.loop.create_task(proxy.dial_stream(proto, limit))
        task.add_done_callback(self._dialed)

    def _dialed(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.on_reply(None, NetError(f"dial tcp {self.proxy.to}: cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            why = "i/o timeout" if isinstance(exc, TimeoutError) else (getattr(exc, "strerror", None) or str(exc))
            self.on_reply(None, NetError(f"dial tcp {self.proxy.to}: {str(why).lower()}"))
            return
        conn = task.result()
        if self.outer.done():
            conn.close()
            return
        self.send(conn, False)

    def send(self, conn: Conn, cached: bool) -> None:
        self.conn = conn
        self.sent_at = self.proxy.sent(conn)
        req = self.req
        qid = secrets.randbits(16)
        data = struct.pack(">H", qid) + req.wire[2:]
        timeout = min(self.proxy.read_timeout, max(self.deadline - self.loop.time(), 0.001))
        conn.send(data, qid, req.key, req.q.name_end - 12, timeout, max(req.size, 512), self.on_reply, cached)

    def on_reply(self, reply: bytes | None, err: BaseException | None) -> None:
        conn, self.conn = self.conn, None
        proxy = self.proxy
        if conn is not None:
            proxy.inflight.pop(conn, None)
            if reply is not None and proxy.fails:
                proxy.back(self.sent_at)  # it answers again: what went out before will not be
        if reply is None or err is not None:
            if conn is not None:
                conn.close()
            if self.outer.done():
                return
            if isinstance(err, CachedClosed):
                self.attempt()  # the peer closed a pooled connection: retry at once on another
                return
            if isinstance(err, Spoofed) and not self.force_tcp:
                _warn_spoofed(proxy.to, err)
                self.force_tcp = True  # guessed IDs race the answer over UDP: ask over TCP
                self.attempt()
                return
            self.failed(err)
            return
        try:
            reply = wire.check_reply(reply)
        except wire.MalformedMessage as e:
            # As CoreDNS's proxy: a reply that does not unpack closes the connection and fails
            # this attempt; it never reaches the cache or the client.
            if conn is not None:
                conn.close()
            if not self.outer.done():
                self.failed(e)
            return
        if conn is not None:
            proxy.give_back(conn)
        if self.outer.done():
            return
        opts = self.fwd.opts
        rcode = reply[3] & 0xF
        COUNTERS.observe_duration(proxy.to, rcode, time.perf_counter() - self.started)
        if reply[2] & 0x02 and opts.prefer_udp and not self.force_tcp:
            self.force_tcp = True  # truncated over UDP with prefer_udp: fetch it over TCP
            self.attempt()
            return
        if not answers(reply, self.req.key, self.req.q.name_end - 12):
            # Not a response, or for another question: CoreDNS's request.Match fails, and forward
            # writes FORMERR (the reply itself goes nowhere, the cache included).
            self.finish(self.req.error_reply(wire.FORMERR))
            return
        if rcode in opts.failover_rcodes:
            self.failovers += 1
            if self.failovers < len(self.fwd.proxies):
                self.run()
                return
        if isinstance(self.fwd.next, Forward) and (
            rcode in opts.next_rcodes or (opts.next_on_nodata and rcode == 0 and reply[6:8] == b"\x00\x00")
        ):
            self.hand_on()
            return
        self.finish(client_reply(self.req, reply))

    def failed(self, err: BaseException | None) -> None:
        self.err = err
        fwd = self.fwd
        if fwd.opts.max_fails:
            self.proxy.healthcheck()  # is *our* upstream broken?
        if self.max_attempts:
            self.attempts += 1
            if self.attempts >= self.max_attempts:
                self.give_up()
                return
        if self.fails < len(fwd.proxies):
            self.run()
            return
        self.give_up()

    def give_up(self) -> None:
        if self.outer.done():
            return
        message = str(self.err) if self.err is not None else NO_HEALTHY
        self.outer.set_exception(HandlerError(wire.SERVFAIL, message))

    def finish(self, data: bytes) -> None:
        self.req.answered_by = "forward"
        self.outer.set_result(data)

    def hand_on(self) -> None:
        """Pass the query to the next forward (``next`` / ``next_on_nodata``): whatever it answers
        or raises, now or later, is this query's outcome."""
        self.fwd.next_then(self.req, self._handed_on, on_error=self._handed_on)

    def _handed_on(self, outcome: Reply | Exception) -> None:
        if self.outer.done():
            return
        if isinstance(outcome, Exception):
            self.outer.set_exception(outcome)
        else:
            self.outer.set_result(outcome)


def client_reply(req: Request, reply: bytes) -> bytes:
    """The upstream reply as the client gets it: its own ID, and its own EDNS size and DO bit."""
    data = req.wire[:2] + reply[2:]
    if req.q.edns:
        data = mirror_opt(data, req.q.udp_size, req.q.do)
    return data


def mirror_opt(data: bytes, udp_size: int, do: bool) -> bytes:
    """Set the reply's OPT to the client's buffer size and DO bit, or add one (CoreDNS's SizeAndDo).

    As CoreDNS, an upstream OPT keeps its options and the high flag bits but loses its extended
    rcode and version; a reply without OPT gets one mirroring the client.
    """
    try:
        qd, an, ns, ar = struct.unpack_from(">HHHH", data, 4)
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(data, pos) + 4
        for _ in range(an + ns):
            pos = wire.skip_name(data, pos)
            pos += 10 + struct.unpack_from(">H", data, pos + 8)[0]
        for _ in range(ar):
            name_end = wire.skip_name(data, pos)
            rtype, _cls, ttl, rdlen = struct.unpack_from(">HHIH", data, name_end)
            if rtype == wire.TYPE_OPT:
                ttl = (ttl & 0xFF00) | (0x8000 if do else 0)
                patched = struct.pack(">HHI", rtype, udp_size, ttl)
                return data[:name_end] + patched + data[name_end + 8 :]
            pos = name_end + 10 + rdlen
    except (IndexError, struct.error, wire.MalformedMessage):
        return data  # not ours to repair: the client gets what the upstream sent
    if pos < len(data):
        # Bytes past the last record (which unpacking ignores): an OPT added after them would be
        # read from them, and one added before them moves what a forward pointer may reach there
        # (both found by fuzzing). As for any reply we cannot rewrite, the client gets what the
        # upstream sent; miekg/dns would drop them, packing the reply again.
        return data
    return data[:10] + struct.pack(">H", ar + 1) + data[12:] + wire.opt_record(udp_size, do)


_warned: dict[str, float] = {}
WARN_EVERY = 10.0  # seconds: a flood of forged replies logs a line per upstream this often at most


def _warn_spoofed(to: str, err: BaseException) -> None:
    now = time.monotonic()
    if now - _warned.get(to, -WARN_EVERY) >= WARN_EVERY:
        _warned[to] = now
        log.warning("Possible spoofing of replies from %s (%s): asking over TCP", to, err)
