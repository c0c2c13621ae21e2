"""Upstream connections: connected UDP sockets, one query at a time, and TCP/TLS streams that
carry several queries at once, matched by ID.

Each exchange is told its outcome by a call to its :class:`Waiter`, so the miss path needs no
coroutine: a UDP reply is read by a reader callback on the socket, a stream's by its protocol.
As miekg/dns's client, a connection takes the first message that carries the query's ID (on a
stream, the ID of one of its queries in flight, unique on that connection); the handler then
checks that it unpacks and answers the question (:func:`answers`), as CoreDNS's forward does.
The UDP socket is connected, so the kernel already drops datagrams from any other address or
port. Messages with another ID are dropped and counted. Query IDs come from the kernel's random
source, drawn a few thousand at a time.

Beyond CoreDNS: more than :data:`NEAR_MISSES` messages with another ID during one UDP exchange
are taken for what they are, someone guessing the ID to slip a forged answer in (the source
address and port are right, so it either spoofs them or sits on the path). The exchange then
ends with :class:`Spoofed`, and the handler asks again over TCP, which an off-path attacker
cannot answer for: the odds of a guess landing stay at NEAR_MISSES in 65,536, however many
guesses are sent.

Read timeouts are not one timer per query: a :class:`Timeouts` ticker per upstream wakes when
the earliest exchange it watches is due (:data:`TICK` seconds apart at the soonest) and ends the
ones that are due. It keeps due times in send order, so a tick looks only at what is due, not at
everything in flight (in an upstream outage that is thousands of exchanges, a hundred times a
second); a connection queues one only when none it has queued would fire in time (see
``Conn.watched``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Protocol, cast

from pycoredns.plugins.forward.metrics import COUNTERS


class Waiter(Protocol):
    """What an exchange in flight reports to: ``on_reply(reply, error)``, once, with exactly one
    of them set. An object rather than a callback: forward passes its exchange itself, where a
    bound method would be made for every query."""

    def on_reply(self, reply: bytes | None, error: BaseException | None, /) -> None: ...


class Told:
    """A :class:`Waiter` that calls ``fn(reply, error)`` (a health check, a test)."""

    __slots__ = ("on_reply",)

    def __init__(self, fn: Callable[[bytes | None, BaseException | None], None]) -> None:
        self.on_reply = fn

_LEN = struct.Struct(">H")
_LEN_ID = struct.Struct(">H2s")  # a stream message's length and query ID
_read = os.read
_write = os.write
_QD_ONE = b"\x00\x01"
TICK = 0.01  # how late a read timeout may fire, at most (while the loop keeps up)
TIMER_SLACK = 0.002  # a tick's timer runs this long after the entry it is for is due
BATCH = 4  # timeouts handled in one turn of the event loop before it reads its sockets again
PIPELINE = 16  # queries in flight on one stream connection, at most
INF = float("inf")

# Query IDs: 2-byte strings from os.urandom, drawn 2048 at a time (one system call, not one per
# query). A forked child starts with a fresh draw, never its parent's.
_ID_DRAW = 2048
_ids: list[bytes] = []


def new_id() -> bytes:
    """A random query ID (2 bytes, network order)."""
    if not _ids:
        raw = os.urandom(2 * _ID_DRAW)
        _ids.extend([raw[i : i + 2] for i in range(0, 2 * _ID_DRAW, 2)])
    return _ids.pop()


os.register_at_fork(after_in_child=_ids.clear)


class NetError(ConnectionError):
    """An upstream exchange failed on the network."""


class ReadTimeout(NetError):
    """No reply within the read timeout."""


NEAR_MISSES = 2  # messages with another ID tolerated in one UDP exchange (a duplicate, a late one)


class Spoofed(ConnectionError):
    """Too many replies with another ID arrived during a UDP exchange: it cannot be trusted."""


class CachedClosed(ConnectionError):
    """cached connection was closed by peer"""

    def __init__(self) -> None:
        super().__init__("cached connection was closed by peer")


# One exchange a stream connection is waiting on, by its query ID: (waiter, sent, due, cached).
# A tuple, not an object: one is made for every query sent on a stream.
Pending = tuple[Waiter, float, float, bool]


def for_pending(data: bytes, qid: bytes) -> bool:
    """The message is the reply to the query sent under ``qid`` as miekg/dns's client reads it: a
    whole header (a shorter message is skipped) carrying the query's ID."""
    return len(data) >= 12 and data[:2] == qid


def answers(data: bytes, key: bytes, name_len: int) -> bool:
    """CoreDNS's request.Match: a response with one question, the query's name (in any case) and
    type. ``key`` is the question as a lookup key (lower-cased name, type, class), ``name_len``
    the name's length in it. For a reply that wire.check_answer did not take: read before
    wire.check_reply, the question count as sent."""
    n = 12 + name_len
    return (
        data[2] & 0x80 != 0
        and data[4:6] == _QD_ONE
        and data[12:n].lower() == key[:name_len]
        and data[n : n + 2] == key[name_len : name_len + 2]
    )


def overflow_reply(data: bytes, question_len: int) -> bytes:
    """A reply bigger than the buffer: header and question only, TC set (CoreDNS's truncateResponse)."""
    return data[:2] + bytes((data[2] | 0x02, data[3])) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + data[
        12 : 12 + question_len
    ]


class Timeouts:
    """The read timeouts of one upstream's exchanges in flight.

    A connection puts ``(due, conn)`` here for an exchange it sends, unless an entry it queued
    already comes no later (``Conn.watched``); it queues again, from ``time_out``, the exchanges
    still in flight when the tick takes its entry. Due times mostly come in send order (send time
    plus the upstream's read timeout), so they queue in a deque; the few that do not (clipped to
    the query's deadline) go to a heap. The tick runs when the earliest entry is due (TICK
    seconds after its timer was armed at the soonest), takes what is due from both and asks its
    connection to time out what is due on it: an entry whose exchange ended meanwhile finds
    nothing to do. A timeout fires at most TICK late.

    The tick sleeps until an entry is due rather than waking every TICK: under load an entry is
    always queued (each is taken a read timeout after it was queued), and a tick every 10 ms
    that found nothing due woke the idle server a hundred times a second, each wake-up a
    context switch in and out of the kernel for nothing.

    A tick handles at most :data:`BATCH` timeouts, and leaves the rest to the loop's next turn:
    each one asks again or answers SERVFAIL, and in an upstream outage thousands fall due
    together (the queries read in one busy turn, then their next attempts), so handling them at
    once kept the loop from its sockets for up to a second, cached answers waiting behind them.
    """

    __slots__ = ("loop", "queue", "late", "order", "timer", "fire_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: deque[tuple[float, Conn]] = deque()
        self.late: list[tuple[float, int, Conn]] = []  # out of order: a heap
        self.order = itertools.count()  # ties in the heap, never compared further
        self.timer: asyncio.Handle | None = None
        self.fire_at = INF  # when the armed timer runs (time.monotonic), INF when none is

    def watch(self, conn: Conn, due: float) -> None:
        """``conn`` has an exchange due at ``due``."""
        q = self.queue
        if not q or due >= q[-1][0]:
            q.append((due, conn))
        else:
            heapq.heappush(self.late, (due, next(self.order), conn))
        # Mostly the timer runs for an entry queued before this one, no later than it: nothing to
        # do. Else (none armed, or this one out of order) it runs in time for this one.
        if due + TICK < self.fire_at:
            if self.timer is not None:
                self.timer.cancel()
            self._arm(due, time.monotonic())

    def _arm(self, due: float, now: float) -> None:
        # Just after ``due``, as the loop keeps its clock in milliseconds (a timer may run up to
        # one early), and TICK from now at the soonest: an outage's timeouts, due one after
        # another, are taken a tick's worth at a time (see BATCH).
        delay = due - now + TIMER_SLACK
        if delay < TICK:
            delay = TICK
        self.fire_at = now + delay
        self.timer = self.loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self.timer = None
        self.fire_at = INF
        now = time.monotonic()
        q = self.queue
        late = self.late
        left = BATCH
        while left and q and q[0][0] <= now:
            q.popleft()[1].time_out(now)
            left -= 1
        while left and late and late[0][0] <= now:
            heapq.heappop(late)[2].time_out(now)
            left -= 1
        # A query asked again from a timeout above (the next attempt) armed the timer already:
        # arming it again would start a second ticker, and every such tick one more.
        if (q and q[0][0] <= now) or (late and late[0][0] <= now):
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_soon(self._tick)  # more are due: next turn, after the I/O
            self.fire_at = now
        elif q or late:
            first = q[0][0] if q else INF
            if late and late[0][0] < first:
                first = late[0][0]
            # Unless the timer a next attempt armed above runs in time for the earliest entry
            # (it was armed for that attempt's own, maybe a later one).
            if first + TICK < self.fire_at:
                if self.timer is not None:
                    self.timer.cancel()
                self._arm(first, now)

    def in_flight(self) -> Iterator[Conn]:
        """The connections with an exchange in flight, each once."""
        seen: set[int] = set()
        conns = [c for _, c in self.queue] + [c for _, _, c in self.late]
        for conn in conns:
            if id(conn) not in seen and conn.busy:
                seen.add(id(conn))
                yield conn

    @property
    def idle(self) -> bool:
        return not self.queue and not self.late

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.fire_at = INF


class Conn:
    """What both connection kinds share: timestamps, reuse state, the timeout watch."""

    proto = "udp"

    def __init__(self, loop: asyncio.AbstractEventLoop, to: str, timeouts: Timeouts | None = None) -> None:
        self.loop = loop
        self.to = to
        self.timeouts = timeouts or Timeouts(loop)
        self.created = time.monotonic()
        self.used = self.created
        self.closed = False
        # The earliest due time this connection has queued with its Timeouts since the tick last
        # took one of its entries (INF: none). An exchange due no earlier is covered by that
        # entry and queues none of its own: a pooled socket reused query after query queues one
        # entry per read timeout, not one per query. When the tick takes an entry, time_out()
        # queues the exchanges still in flight again.
        self.watched = INF

    def _watch(self, due: float) -> None:
        """Queue a timeout entry at ``due`` (Timeouts.watch, and what it covers noted)."""
        self.watched = due
        self.timeouts.watch(self, due)

    def _fail_soon(self, waiter: Waiter, error: BaseException) -> None:
        # Never call back from inside send(): the caller may be several retries deep already.
        self.loop.call_soon(waiter.on_reply, None, error)

    def _dropped(self) -> None:
        key = (self.to, self.proto)
        d = COUNTERS.dropped_replies
        d[key] = d.get(key, 0) + 1

    def _endpoints(self) -> str:
        return self.to

    def _timeout_error(self) -> NetError:
        return ReadTimeout(f"read {self.proto} {self._endpoints()}: i/o timeout")

    @property
    def busy(self) -> bool:
        """An exchange is in flight."""
        raise NotImplementedError

    def send(self, query: bytes, question_len: int, now: float, due: float, bufsize: int,
             waiter: Waiter, cached: bool) -> None:
        """Send ``query`` under a new random ID at ``now``; ``waiter`` is told once of the
        reply that carries that ID (the upstream's ID in it) or the error, a timeout once
        ``time.monotonic()`` passes ``due``. ``question_len``: the question's length on the wire
        (a reply too big for ``bufsize`` keeps its header and question)."""
        raise NotImplementedError

    def time_out(self, now: float) -> None:
        """Fail the exchanges whose read timeout passed."""
        raise NotImplementedError

    def cut(self, since: float, error: BaseException) -> None:
        """End the exchanges sent before ``since`` now with ``error`` (the upstream is back; see
        Proxy.back)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class UDPConn(Conn):
    """A connected UDP socket read by a loop reader callback, one exchange at a time."""

    proto = "udp"

    def __init__(
        self, loop: asyncio.AbstractEventLoop, to: str, sock: socket.socket, timeouts: Timeouts | None = None
    ) -> None:
        super().__init__(loop, to, timeouts)
        self.sock = sock
        # Written and read with os.write and os.read on its descriptor: the same system calls as
        # the socket's send and recv, with less argument parsing around them (-1 once closed).
        self.fd = sock.fileno()
        self.bufsize = 512
        # The exchange in flight (waiter is None when there is none).
        self.qid = b""
        self.question_len = 0
        self.sent = 0.0
        self.due = 0.0
        self.near_misses = 0
        self.waiter: Waiter | None = None
        self.local = ""  # "host:port", read once (the error messages name it)
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def dial(
        cls, loop: asyncio.AbstractEventLoop, to: str, addr: tuple[str, int], local: str | None,
        timeouts: Timeouts | None = None,
    ) -> UDPConn:
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if local:
                sock.bind((local, 0))
            # Connected: the kernel picks a random source port and drops datagrams from elsewhere.
            sock.connect(addr)
        except OSError:
            sock.close()
            raise
        return cls(loop, to, sock, timeouts)

    @property
    def busy(self) -> bool:
        return self.waiter is not None

    def send(self, query: bytes, question_len: int, now: float, due: float, bufsize: int,
             waiter: Waiter, cached: bool) -> None:
        qid = _ids.pop() if _ids else new_id()
        try:
            _write(self.fd, qid + query[2:])
        except OSError as e:
            self._fail_soon(waiter, _net_error(e, self))
            return
        self.bufsize = bufsize
        self.qid = qid
        self.question_len = question_len
        self.sent = now
        self.due = due
        self.near_misses = 0
        self.waiter = waiter
        if due < self.watched:  # else an entry queued already fires in time (see Conn.watched)
            self._watch(due)

    def _readable(self) -> None:
        try:
            # One octet more than the client takes is enough to know a reply is too big for it.
            data = _read(self.fd, self.bufsize + 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # ICMP unreachable on a connected socket surfaces here
            self._finish(None, _net_error(e, self))
            return
        # for_pending(), inlined: one reply per miss comes through here.
        if data[:2] != self.qid or len(data) < 12 or self.waiter is None:
            self._dropped()
            if self.waiter is not None:
                self.near_misses += 1
                if self.near_misses > NEAR_MISSES:
                    why = f"read udp {self._endpoints()}: {self.near_misses} replies with another ID"
                    self._finish(None, Spoofed(why))
            return
        if len(data) > self.bufsize:
            data = overflow_reply(data, self.question_len)
        waiter = self.waiter  # _finish(), inlined: one reply per miss comes through here
        self.waiter = None
        waiter.on_reply(data, None)

    def _finish(self, reply: bytes | None, error: BaseException | None) -> None:
        waiter = self.waiter
        if waiter is None:
            return
        self.waiter = None
        waiter.on_reply(reply, error)

    def time_out(self, now: float) -> None:
        self.watched = INF  # the tick took this connection's entry
        if self.waiter is not None:
            if self.due <= now:
                self._finish(None, self._timeout_error())
            else:
                self._watch(self.due)  # sent after that entry was queued: still watched

    def cut(self, since: float, error: BaseException) -> None:
        if self.waiter is not None and self.sent < since:
            self._finish(None, error)

    def _endpoints(self) -> str:
        local = self.local
        if not local:
            try:
                host, port = self.sock.getsockname()[:2]
                local = self.local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            except OSError:
                local = "?"
        return f"{local}->{self.to}"

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.fd = -1  # a write after this fails as on the closed socket (EBADF), never on a reused number
        self.sock.close()
        self._finish(None, NetError("use of closed network connection"))


class StreamConn(Conn, asyncio.Protocol):
    """A TCP (or TLS) connection with two-byte length framing, up to :data:`PIPELINE` exchanges
    in flight, each reply matched to its query by ID and question.

    After a failed exchange the connection is *retired*: it takes no new query and closes once
    the ones in flight are done (CoreDNS closes a connection after an error; with several queries
    on it, closing at once would fail the others too).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, to: str, proto: str, timeouts: Timeouts | None = None
    ) -> None:
        Conn.__init__(self, loop, to, timeouts)
        self.proto = proto
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.pending: dict[bytes, Pending] = {}
        self.retired = False

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    @property
    def usable(self) -> bool:
        """Open, not retired, and room for another query."""
        return not self.closed and not self.retired and len(self.pending) < PIPELINE

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        pending = self.pending
        if self.buf:
            data = self.buf + data
            self.buf = b""
        elif len(data) >= 14 and ((data[0] << 8) | data[1]) == len(data) - 2:
            # The usual read: one whole reply. The general loop below reads it the same way.
            frame = data[2:]
            p = pending.pop(frame[:2], None)
            if p is not None:
                p[0].on_reply(frame, None)
                if self.retired and not pending:
                    self.close()
                return
        # Frames are read at their offsets in what came: no copy of the rest after each one.
        start = 0
        end = len(data)
        while end - start >= 2:
            stop = start + 2 + ((data[start] << 8) | data[start + 1])
            if stop > end:
                break
            frame = data[2:] if start == 0 and stop == end else data[start + 2 : stop]
            start = stop
            p = pending.pop(frame[:2], None) if len(frame) >= 12 else None
            if p is None:
                self._dropped()
                continue
            p[0].on_reply(frame, None)
        if start < end:
            self.buf = data[start:]
        if self.retired and not pending:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(lambda p: CachedClosed() if p[3] else NetError(f"read {self.proto} {self.to}: EOF"))

    def _fail_all(self, error: Callable[[Pending], BaseException]) -> None:
        pending = list(self.pending.values())
        self.pending.clear()
        for p in pending:
            p[0].on_reply(None, error(p))

    # -- exchanges -------------------------------------------------------------------------------
    def send(self, query: bytes, question_len: int, now: float, due: float, bufsize: int,
             waiter: Waiter, cached: bool) -> None:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            closed = NetError(f"write {self.proto} {self.to}: connection closed")
            self._fail_soon(waiter, CachedClosed() if cached else closed)
            return
        pending = self.pending
        qid = _ids.pop() if _ids else new_id()
        while qid in pending:  # unique among this connection's queries in flight
            qid = new_id()
        pending[qid] = (waiter, now, due, cached)
        if due < self.watched:  # else an entry queued already fires in time (see Conn.watched)
            self._watch(due)
        t.write(_LEN_ID.pack(len(query), qid) + query[2:])

    def time_out(self, now: float) -> None:
        self.watched = INF  # the tick took this connection's entry
        pending = self.pending
        due = [(qid, p) for qid, p in pending.items() if p[2] <= now]
        for qid, _p in due:
            del pending[qid]
        for _qid, p in due:
            p[0].on_reply(None, self._timeout_error())
        if pending:  # sent after that entry was queued: still watched, from the earliest
            first = min(p[2] for p in pending.values())
            if first < self.watched:
                self._watch(first)

    def cut(self, since: float, error: BaseException) -> None:
        pending = self.pending
        stale = [(qid, p) for qid, p in pending.items() if p[1] < since]
        for qid, _p in stale:
            del pending[qid]
        for _qid, p in stale:
            p[0].on_reply(None, error)

    def retire(self) -> None:
        """Take no new query; close once the ones in flight are done."""
        self.retired = True
        if not self.pending:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        self._fail_all(lambda p: NetError("use of closed network connection"))


def _net_error(e: OSError, conn: Conn) -> NetError:
    """Word a socket error as Go's net package does (``read udp a->b: connection refused``)."""
    why = e.strerror.lower() if e.strerror else str(e)
    return NetError(f"read {conn.proto} {conn._endpoints()}: {why}")
