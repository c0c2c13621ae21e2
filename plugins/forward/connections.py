"""Upstream connections: connected UDP sockets and TCP/TLS streams, each with one query in flight.

A connection carries one exchange at a time (as CoreDNS's persistConn) and reports its outcome
through a callback, so the UDP miss path needs no coroutine: the reply is read by a reader
callback on the socket. As miekg/dns's client, a connection takes the first message that carries
the query's ID (the handler then checks that it unpacks and answers the question, as CoreDNS's
forward does); the UDP socket is connected, so the kernel already drops datagrams from any other
address or port. Messages with another ID are dropped and counted.

Beyond CoreDNS: more than :data:`NEAR_MISSES` messages with another ID during one UDP exchange
are taken for what they are, someone guessing the ID to slip a forged answer in (the source
address and port are right, so it either spoofs them or sits on the path). The exchange then
ends with :class:`Spoofed`, and the handler asks again over TCP, which an off-path attacker
cannot answer for: the odds of a guess landing stay at NEAR_MISSES in 65,536, however many
guesses are sent.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from typing import cast

from pycoredns.plugins.forward.metrics import COUNTERS

# on_done(reply, error): exactly one of them is set.
Done = Callable[[bytes | None, BaseException | None], None]

_LEN = struct.Struct(">H")
_QD_ONE = b"\x00\x01"


class NetError(ConnectionError):
    """An upstream exchange failed on the network."""


NEAR_MISSES = 2  # messages with another ID tolerated in one UDP exchange (a duplicate, a late one)


class Spoofed(ConnectionError):
    """Too many replies with another ID arrived during a UDP exchange: it cannot be trusted."""


class CachedClosed(ConnectionError):
    """cached connection was closed by peer"""

    def __init__(self) -> None:
        super().__init__("cached connection was closed by peer")


class Pending:
    """The one exchange a connection is waiting on."""

    __slots__ = ("qid", "key", "name_len", "on_done", "timer", "cached", "near_misses")

    def __init__(self, qid: int, key: bytes, name_len: int, on_done: Done, cached: bool) -> None:
        self.qid = qid
        self.key = key
        self.name_len = name_len
        self.on_done = on_done
        self.timer: asyncio.TimerHandle | None = None
        self.cached = cached
        self.near_misses = 0


def for_pending(data: bytes, p: Pending) -> bool:
    """The message is the pending query's reply as miekg/dns's client reads it: a whole header
    (a shorter message is skipped) carrying the query's ID."""
    return len(data) >= 12 and ((data[0] << 8) | data[1]) == p.qid


def answers(data: bytes, key: bytes, name_len: int) -> bool:
    """CoreDNS's request.Match on a reply whose counts are true (checked): a response with one
    question, the query's name (in any case) and type."""
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


class Conn:
    """What both connection kinds share: timestamps, the pending exchange, its timeout."""

    proto = "udp"

    def __init__(self, loop: asyncio.AbstractEventLoop, to: str) -> None:
        self.loop = loop
        self.to = to
        self.created = time.monotonic()
        self.used = self.created
        self.closed = False
        self.pending: Pending | None = None

    def _arm(self, p: Pending, timeout: float) -> None:
        self.pending = p
        p.timer = self.loop.call_later(timeout, self._timed_out)

    def _timed_out(self) -> None:
        p = self.pending
        if p is None:
            return
        self.pending = None
        p.on_done(None, NetError(f"read {self.proto} {self._endpoints()}: i/o timeout"))

    def _finish(self, reply: bytes | None, error: BaseException | None) -> None:
        p = self.pending
        if p is None:
            return
        self.pending = None
        if p.timer is not None:
            p.timer.cancel()
        p.on_done(reply, error)

    def cut(self, error: BaseException) -> None:
        """End the exchange in flight now with ``error`` (the upstream is back; see Proxy.back)."""
        self._finish(None, error)

    def _fail_soon(self, on_done: Done, error: BaseException) -> None:
        # Never call back from inside send(): the caller may be several retries deep already.
        self.loop.call_soon(on_done, None, error)

    def _dropped(self) -> None:
        key = (self.to, self.proto)
        d = COUNTERS.dropped_replies
        d[key] = d.get(key, 0) + 1

    def _endpoints(self) -> str:
        return self.to

    def send(self, wire: bytes, qid: int, key: bytes, name_len: int, timeout: float, bufsize: int,
             on_done: Done, cached: bool) -> None:
        """Send one query; ``on_done`` is called once with the matching reply or the error."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class UDPConn(Conn):
    """A connected UDP socket read by a loop reader callback."""

    proto = "udp"

    def __init__(self, loop: asyncio.AbstractEventLoop, to: str, sock: socket.socket) -> None:
        super().__init__(loop, to)
        self.sock = sock
        self.bufsize = 512
        self.question_len = 0
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def dial(
        cls, loop: asyncio.AbstractEventLoop, to: str, addr: tuple[str, int], local: str | None
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
        return cls(loop, to, sock)

    def send(self, wire: bytes, qid: int, key: bytes, name_len: int, timeout: float, bufsize: int,
             on_done: Done, cached: bool) -> None:
        self.bufsize = bufsize
        self.question_len = len(key)
        try:
            self.sock.send(wire)
        except OSError as e:
            self._fail_soon(on_done, _net_error(e, self))
            return
        self._arm(Pending(qid, key, name_len, on_done, cached), timeout)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # ICMP unreachable on a connected socket surfaces here
            self._finish(None, _net_error(e, self))
            return
        p = self.pending
        if p is None or not for_pending(data, p):
            self._dropped()
            if p is not None:
                p.near_misses += 1
                if p.near_misses > NEAR_MISSES:
                    why = f"read udp {self._endpoints()}: {p.near_misses} replies with another ID"
                    self._finish(None, Spoofed(why))
            return
        if len(data) > self.bufsize:
            data = overflow_reply(data, self.question_len)
        self._finish(data, None)

    def _endpoints(self) -> str:
        try:
            host, port = self.sock.getsockname()[:2]
            local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        except OSError:
            local = "?"
        return f"{local}->{self.to}"

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self._finish(None, NetError("use of closed network connection"))


class StreamConn(Conn, asyncio.Protocol):
    """A TCP (or TLS) connection with two-byte length framing."""

    def __init__(self, loop: asyncio.AbstractEventLoop, to: str, proto: str) -> None:
        Conn.__init__(self, loop, to)
        self.proto = proto
        self.transport: asyncio.Transport | None = None
        self.buf = b""

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while len(buf) >= 2:
            n = _LEN.unpack_from(buf)[0]
            if len(buf) < 2 + n:
                break
            frame, buf = buf[2 : 2 + n], buf[2 + n :]
            p = self.pending
            if p is not None and for_pending(frame, p):
                self._finish(frame, None)
            else:
                self._dropped()
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        p = self.pending
        if p is not None:
            self._finish(None, CachedClosed() if p.cached else NetError(f"read {self.proto} {self.to}: EOF"))

    # -- exchange --------------------------------------------------------------------------------
    def send(self, wire: bytes, qid: int, key: bytes, name_len: int, timeout: float, bufsize: int,
             on_done: Done, cached: bool) -> None:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            closed = NetError(f"write {self.proto} {self.to}: connection closed")
            self._fail_soon(on_done, CachedClosed() if cached else closed)
            return
        self._arm(Pending(qid, key, name_len, on_done, cached), timeout)
        t.write(_LEN.pack(len(wire)) + wire)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        self._finish(None, NetError("use of closed network connection"))


def _net_error(e: OSError, conn: Conn) -> NetError:
    """Word a socket error as Go's net package does (``read udp a->b: connection refused``)."""
    why = e.strerror.lower() if e.strerror else str(e)
    return NetError(f"read {conn.proto} {conn._endpoints()}: {why}")
