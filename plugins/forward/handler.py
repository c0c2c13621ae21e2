"""The forward handler: match the query, pick upstreams by policy, run CoreDNS's exchange loop.

A forwarded query is one :class:`Exchange`: a small state machine driven by connection callbacks
(reply, error, timeout) that is itself the handler's result, a :class:`Deferred` settled in the
callback that reads the upstream's reply. No Future, coroutine or Task, over UDP or over a pooled
TCP connection; only dialing a TCP or TLS connection runs as a Task.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pycoredns.plugin import Deferred, Handler, HandlerError, Plugin, Reply, Request, Result, dns, plugin_log, wire
from pycoredns.plugins.forward.connections import (
    CachedClosed,
    Conn,
    NetError,
    Spoofed,
    StreamConn,
    UDPConn,
    answers,
)
from pycoredns.plugins.forward.metrics import COUNTERS
from pycoredns.plugins.forward.policy import Policy, RandomPolicy
from pycoredns.plugins.forward.proxy import Proxy

log = plugin_log("forward")
_SETTLED = Deferred.SETTLED  # read once: a module global, not a class attribute, on every reply
_new = object.__new__
DEADLINE = 5.0  # CoreDNS's defaultTimeout: no query waits longer than this
ATTEMPTS_PER_UPSTREAM = 2  # defaultConnectAttemptsPerUpstream
NO_HEALTHY = "no healthy proxies"
# At most this many exchanges start per turn of the event loop; the rest wait for the next turns.
# Starting one (a socket dialed, a datagram sent) costs several times what reading the query did,
# and in an upstream outage thousands of misses a second come with thousands of retries and
# SERVFAILs: started as they were read, they kept the loop from its listeners for up to 250 ms at
# a time, and the cached answers queued behind them in the socket. Read at once and started in
# batches, a miss waits in this queue instead, and a hit read meanwhile is answered at once.
# Small, as the timeout ticker's BATCH: with 16, on a machine other work kept busy, hits' p99 was
# 100-120 ms in 30 s outages (6-8 ms when quiet); with 4, 5-7 ms. A turn more costs one poll.
START_BATCH = 4


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
        # No option that looks at a reply beyond "does it answer the question": the reply path
        # checks less.
        self.plain = not (opts.prefer_udp or opts.failover_rcodes or opts.next_rcodes or opts.next_on_nodata)
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, kept at start
        self._started = 0  # exchanges started since the last batch boundary (see _next_turn)
        self._waiting: deque[Exchange] = deque()  # read, not yet started (see START_BATCH)

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
        if not self._match_all and not self.match(req):
            return self.next_or_failure(req)
        limit = self.opts.max_concurrent
        if limit:
            if self.concurrent >= limit:
                COUNTERS.max_concurrent_rejects += 1
                raise HandlerError(wire.REFUSED, self.opts.limit_message)
            self.concurrent += 1
        loop = self.loop
        if loop is None:  # served before start (a direct call): look the loop up once
            loop = self.loop = asyncio.get_running_loop()
        # The Exchange's fields set here, the one place it is made: a class called with a Python
        # __init__ costs a frame the interpreter does not inline.
        ex = _new(Exchange)
        ex._state = 0
        ex._value = None
        ex._steps = None
        ex._cb = None
        ex._args = ()
        ex._more = None
        ex.fwd = self
        ex.req = req
        proxies = self.proxies
        ex.order = order = proxies if len(proxies) == 1 else self.policy.order(proxies)
        ex.started = now = time.monotonic()
        ex.deadline = deadline = now + DEADLINE
        opts = self.opts
        ex.force_tcp = force_tcp = opts.force_tcp
        ex.proxy = proxy = order[0]
        ex.counted = limit != 0  # holds one of max_concurrent's places until settled
        ex.conn = None
        if self._waiting or self._started >= START_BATCH:
            ex.walk = Walk(0)  # started by _next_turn, through the general walk
            self._waiting.append(ex)
            return ex
        self._started += 1
        if self._started == START_BATCH:
            # A batch started since the last boundary: what comes after waits for the next turn.
            # Armed here rather than at a turn's first start: a server asked a few misses per
            # turn (most of the time) pays one callback per START_BATCH misses, not one per turn.
            loop.call_soon(self._next_turn, loop)
        # The first attempt, made as the exchange is: run()'s first turn without the checks that
        # cannot fail yet (nothing settled, no attempt made, the deadline 5 s away).
        max_fails = opts.max_fails
        if max_fails and proxy.fails > max_fails:
            ex.walk = Walk(0)
            ex.run(now)  # down: the general walk picks another or gives up
            return ex
        ex.walk = None  # the first attempt goes to order[0]: the walk's state only if it fails
        meta = req.meta
        if meta is not None:
            meta["forward/upstream"] = proxy.to
        # attempt(), inlined (one call less for every miss): the protocol, a pooled connection.
        if force_tcp or proxy.tls is not None:
            proto = "tcp"
        elif opts.prefer_udp:
            proto = "udp"
        else:
            proto = req.proto
        ex.conn = conn = proxy.take_idle(proto, now)
        if conn is None:
            ex._dial(proto, now)
            return ex
        due = now + proxy.read_timeout
        if due > deadline:  # the deadline is DEADLINE away: only a longer read timeout passes it
            due = deadline
        conn.send(req.wire, len(req.key), now, due, 65535 if req.proto == "tcp" else req.q.udp_size,
                  ex, True)
        return ex

    @property
    def waiting(self) -> int:
        """Exchanges read and not yet started (START_BATCH start per turn of the loop, at most)."""
        return len(self._waiting)

    def _next_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        # Runs after the I/O of the turn in which a batch filled: the next batch of those that
        # wait, in the order they came. A full batch counts against the next turn as well (armed
        # again: the queries read meanwhile wait), a short one leaves the rest of its batch to
        # serve, which arms this again once that fills (never two of these armed at once).
        waiting = self._waiting
        started = 0
        if waiting:  # the clock read only when one waits: most boundaries find none
            now = time.monotonic()
            while waiting and started < START_BATCH:
                waiting.popleft().run(now)  # gives up instead if the deadline passed while it waited
                started += 1
        self._started = started
        if started == START_BATCH:
            loop.call_soon(self._next_turn, loop)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        for p in self.proxies:
            p.start(self.opts.hc_interval)

    async def stop(self) -> None:
        for p in self.proxies:
            p.stop()


class Walk:
    """Where an exchange's walk over the upstreams is, and what failed on it (CoreDNS's ServeDNS
    loop). Made with an exchange that waits for its turn, and for one started at once on its
    first failure or retry: the usual exchange, answered on its first attempt, reads none of it
    (it had 5 fields of its own set for that)."""

    __slots__ = ("i", "fails", "attempts", "failovers", "err")

    def __init__(self, i: int) -> None:
        self.i = i  # the next upstream in the exchange's order
        self.fails = 0  # upstreams found down in this pass over the order
        self.attempts = 0  # connection attempts that failed (max_connect_attempts)
        self.failovers = 0  # replies whose rcode sent the query on (failover)
        self.err: BaseException | None = None  # the last attempt's error


class Exchange(Deferred[Reply]):
    """One query's walk over the upstreams (CoreDNS's ServeDNS loop), driven by callbacks; settled
    with the client's reply or the error. Times are ``time.monotonic`` seconds."""

    __slots__ = (
        "fwd", "req", "order", "walk", "deadline", "force_tcp", "proxy", "conn", "started", "counted",
    )
    # Set by Forward.serve, which makes every exchange (no __init__: see there).
    fwd: Forward
    req: Request
    order: Sequence[Proxy]
    walk: Walk | None
    deadline: float
    force_tcp: bool
    proxy: Proxy
    conn: Conn | None
    started: float
    counted: bool

    @property
    def max_attempts(self) -> int:
        """Connection attempts allowed in all (0: no cap)."""
        cap = self.fwd.opts.max_connect_attempts
        return ATTEMPTS_PER_UPSTREAM * len(self.order) if cap is None else cap

    def _walked(self) -> Walk:
        """The walk's state, made when first needed (the first attempt went to order[0])."""
        walk = self.walk
        if walk is None:
            walk = self.walk = Walk(1)
        return walk

    def _out_of_attempts(self, walk: Walk) -> bool:
        cap = self.max_attempts
        return cap != 0 and walk.attempts >= cap

    def run(self, now: float = 0.0) -> None:
        """Pick the next upstream to try, or give up (``now``: the time, when the caller has it)."""
        fwd = self.fwd
        opts = fwd.opts
        total = len(fwd.proxies)
        walk = self._walked()
        while True:
            if self._state:
                return
            if not now:
                now = time.monotonic()
            if now >= self.deadline or (walk.attempts and self._out_of_attempts(walk)):
                self.give_up()
                return
            if walk.i >= len(self.order):
                walk.i = 0
                walk.fails = 0
            proxy = self.order[walk.i]
            walk.i += 1
            if opts.max_fails and proxy.fails > opts.max_fails:  # down
                walk.fails += 1
                if walk.fails < total:
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
            self.attempt(now)
            return

    def attempt(self, now: float = 0.0) -> None:
        """Send the query to ``self.proxy`` on a pooled or new connection (a retry, or a query
        that waited for its turn: the constructor makes a first attempt itself)."""
        proxy = self.proxy
        if self.force_tcp or proxy.tls is not None:
            proto = "tcp"
        elif self.fwd.opts.prefer_udp:
            proto = "udp"
        else:
            proto = self.req.proto
        if not now:
            now = time.monotonic()
        self.started = now
        conn = proxy.take_idle(proto, now)
        if conn is not None:
            self.send(conn, True, now)
            return
        self._dial(proto, now)

    def _dial(self, proto: str, now: float) -> None:
        """No pooled connection: a new UDP socket at once, or a stream dialed (a Task)."""
        proxy = self.proxy
        loop = self.fwd.loop or asyncio.get_running_loop()
        if proto == "udp":
            try:
                conn = proxy.dial_udp(loop)
            except OSError as e:
                loop.call_soon(self.on_reply, None, NetError(f"dial udp {proxy.to}: {e.strerror or e}"))
                return
            self.send(conn, False, now)
            return
        # The dial, too, must end by the query's deadline.
        limit = max(self.deadline - now, 0.001)
        task = loop.create_task(proxy.dial_stream(proto, limit))
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
        if self._state:
            # Settled meanwhile: the new connection stays open for the next queries, unless the
            # upstream was stopped (it is in no pool then).
            if self.proxy.stopped:
                conn.close()
            return
        self.send(conn, False, time.monotonic())

    def send(self, conn: Conn, cached: bool, now: float) -> None:
        self.conn = conn
        req = self.req
        due = now + self.proxy.read_timeout
        if due > self.deadline:
            due = self.deadline if self.deadline > now else now + 0.001
        size = 65535 if req.proto == "tcp" else req.q.udp_size
        conn.send(req.wire, len(req.key), now, due, size, self, cached)

    def on_reply(self, reply: bytes | None, err: BaseException | None) -> None:
        conn, self.conn = self.conn, None
        proxy = self.proxy
        if reply is None or err is not None:
            if conn is not None:
                proxy.give_up(conn, err)
            if self._state:
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
        if proxy.fails and conn is not None:
            proxy.back(self.started)  # it answers again: what went out before will not be answered
        req = self.req
        q = req.q
        try:
            # The usual reply: a response to the question as sent, read and checked in one pass.
            checked = wire.check_answer(reply, q.key)
            if checked is not None:
                ours = True
                reply = checked
            else:
                # Any other: CoreDNS's request.Match, read before the walk so that the walk can
                # start after a question known to be ours; a reply that fails it is still walked
                # in full first: one that does not unpack fails the attempt, whatever its question.
                ours = answers(reply, q.key, q.name_end - 12)
                reply = wire.check_reply(reply, q.end) if ours else wire.check_reply(reply)
        except wire.MalformedMessage as e:
            # As CoreDNS's proxy: a reply that does not unpack closes the connection and fails
            # this attempt; it never reaches the cache or the client.
            if conn is not None:
                proxy.give_up(conn)
            if not self._state:
                self.failed(e)
            return
        now = time.monotonic()
        if conn is not None:
            # proxy.give_back(), inlined for its usual cases: a UDP socket back to an unbounded
            # pool, a stream kept open as it is.
            kind = type(conn)
            if (kind is UDPConn or kind is StreamConn) and not (
                conn.closed or proxy.stopped or proxy.max_idle_conns
            ):
                conn.used = now
                if kind is UDPConn:
                    proxy.pool.append(conn)  # type: ignore[arg-type]
            else:
                proxy.give_back(conn, now)
        if self._state:
            return
        rcode = reply[3] & 0xF
        took = now - self.started
        try:  # proxy.observe_duration(), inlined once its buckets exist
            b = proxy.durations[rcode]
        except KeyError:
            proxy.observe_duration(rcode, took)
        else:
            b.counts[bisect_left(b.bounds, took)] += 1
            b.total += took
        if self.fwd.plain:
            if not ours:
                self._formerr()
                return
        elif self._judge(reply, rcode, ours):
            return
        # The upstream reply as the client gets it: its own ID (and EDNS size and DO bit).
        req.answered_by = "forward"
        if self.counted:  # _release(), inlined
            self.counted = False
            self.fwd.concurrent -= 1
        value = req.wire[:2] + reply[2:] if not req.q.edns else client_reply(req, reply)
        if self._steps is not None:
            self._run_steps(_SETTLED, value)  # set_result(), inlined: pending (checked above), steps wait
        else:
            self.set_result(value)

    def _formerr(self) -> None:
        # Not a response, or for another question: CoreDNS's request.Match fails, and forward
        # writes FORMERR (the reply itself goes nowhere, the cache included).
        self.finish(self.req.error_reply(wire.FORMERR))

    def _judge(self, reply: bytes, rcode: int, ours: bool) -> bool:
        """What the options say about a reply: fetch it again over TCP, FORMERR, fail over, or
        hand the query on. True when that was done (the reply is not the answer)."""
        opts = self.fwd.opts
        f1 = reply[2]
        if f1 & 0x02 and opts.prefer_udp and not self.force_tcp:
            self.force_tcp = True  # truncated over UDP with prefer_udp: fetch it over TCP
            self.attempt()
            return True
        if not ours:
            self._formerr()
            return True
        if opts.failover_rcodes and rcode in opts.failover_rcodes:
            walk = self._walked()
            walk.failovers += 1
            if walk.failovers < len(self.fwd.proxies):
                self.run()
                return True
        if (opts.next_rcodes or opts.next_on_nodata) and isinstance(self.fwd.next, Forward) and (
            rcode in opts.next_rcodes or (opts.next_on_nodata and rcode == 0 and reply[6:8] == b"\x00\x00")
        ):
            self.hand_on()
            return True
        return False

    def failed(self, err: BaseException | None) -> None:
        walk = self._walked()
        walk.err = err
        fwd = self.fwd
        if fwd.opts.max_fails:
            self.proxy.healthcheck()  # is *our* upstream broken?
        if self.max_attempts:
            walk.attempts += 1
            if self._out_of_attempts(walk):
                self.give_up()
                return
        if walk.fails < len(fwd.proxies):
            self.run()
            return
        self.give_up()

    def _release(self) -> None:
        if self.counted:
            self.counted = False
            self.fwd.concurrent -= 1

    def give_up(self) -> None:
        if self._state:
            return
        self._release()
        err = self.walk.err if self.walk is not None else None
        message = str(err) if err is not None else NO_HEALTHY
        self.set_exception(HandlerError(wire.SERVFAIL, message))

    def finish(self, data: bytes) -> None:
        self.req.answered_by = "forward"
        self._release()
        self.set_result(data)

    def hand_on(self) -> None:
        """Pass the query to the next forward (``next`` / ``next_on_nodata``): whatever it answers
        or raises, now or later, is this query's outcome."""
        self.fwd.next_then(self.req, self._handed_on, on_error=self._handed_on)

    def _handed_on(self, outcome: Reply | Exception) -> None:
        if self._state:
            return
        self._release()
        if isinstance(outcome, Exception):
            self.set_exception(outcome)
        else:
            self.set_result(outcome)


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
