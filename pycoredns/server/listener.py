"""UDP and TCP listeners: sockets in, wire bytes to the dispatcher, replies out.

A reload swaps the configuration under open sockets without losing a query: setting
``holder.dispatcher`` hands the new dispatcher's ``handle`` to every UDP protocol at once (a
datagram then costs no lookup through the holder), and a TCP connection reads
``holder.dispatcher`` for each message it receives.

TCP connections are accepted here (:class:`TCPAcceptor`), not by the event loop's server, so that
the listener never holds more than ``max_connections`` (see :meth:`DispatcherHolder.full`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Callable
from functools import partial
from typing import Any

from pycoredns.server.config import TCPLimits
from pycoredns.server.dispatch import Dispatcher

log = logging.getLogger("pycoredns")

_LEN = struct.Struct(">H")
_TCP_INFO_BACKLOG = struct.Struct("=24xI")  # tcp_info up to tcpi_unacked
UDP_RECEIVE_BUFFER = 4 << 20


class DispatcherHolder:
    """A mutable reference to the listener's current dispatcher (swapped on reload), and the
    listener's TCP connections and accepting sockets, which share its ``max_connections``.

    UDP protocols bind the dispatcher's ``handle`` as their own ``datagram_received``, so a
    datagram costs no lookups through here; setting ``dispatcher`` updates them all at once.
    """

    __slots__ = ("_dispatcher", "udp", "tcp", "acceptors", "paused", "evicting")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self.udp: list[UDPProtocol] = []
        # The open connections, oldest first, each from its accept until its connection_lost
        # (its descriptor is closed then): what counts against the cap.
        self.tcp: dict[TCPProtocol, None] = {}
        self.acceptors: list[TCPAcceptor] = []
        self.paused = False  # the acceptors wait for a slot (see full)
        self.evicting = 0  # connections closed to make room, not yet gone

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher

    @dispatcher.setter
    def dispatcher(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        for protocol in self.udp:
            protocol.serve_with(dispatcher.handle)
        if self.paused:
            self.resume()  # the new configuration may allow more connections

    def full(self, waiting: int) -> None:
        """``waiting`` connections wait in the kernel's backlog and the cap is reached: stop
        accepting until slots free (Go's netutil.LimitListener: the accept blocks; what waits
        stays queued in the kernel, nothing is accepted only to be closed). To free them now,
        close as many of the oldest connections with no query in progress (slow or idle
        clients); with every connection busy, wait for one to end. Those closed are gone on the
        loop's next turn, and the ones waiting accepted on the turn after, all at once."""
        self.pause()
        if self.evicting:
            return  # slots are freeing already: choose more once those are taken
        for conn in self.tcp:
            if self.evicting >= waiting:
                return
            t = conn.transport
            if conn.pending == 0 and conn.read and t is not None and not t.is_closing():
                conn.evicted = True
                self.evicting += 1
                _shut_down(t)
                t.close()

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            for a in self.acceptors:
                a.stop_reading()

    def resume(self) -> None:
        """Watch the listening sockets again; whoever waits is accepted, or :meth:`full` is
        called again, on the loop's next turn."""
        self.paused = False
        for a in self.acceptors:
            a.start_reading()

    def went_idle(self) -> None:
        """A connection finished its queries while the acceptors wait: it can make room."""
        if not self.evicting:
            self.resume()

    def release(self, conn: TCPProtocol) -> None:
        """``conn`` is gone (its socket closed): its slot is free."""
        try:
            del self.tcp[conn]
        except KeyError:
            return  # released already
        if conn.evicted:
            self.evicting -= 1
        if self.paused:
            self.resume()


class TCPAcceptor:
    """Accepts on one listening socket for a listener, while its connections are under the cap.

    The event loop's own server (uvloop's, as libuv's) accepts every connection waiting in the
    backlog in one turn, before the protocol of any of them exists: a flood would be held above
    the cap until they were closed again. Here each accept checks the cap first, and at the cap
    the socket is no longer watched (:meth:`DispatcherHolder.full`): the connections wait in the
    kernel's backlog, as under CoreDNS's limited listener.
    """

    __slots__ = ("holder", "sock", "loop", "reading", "closed", "retry")

    BATCH = 64  # accepts in one turn at most: the rest waits a turn, behind UDP and the others

    def __init__(self, holder: DispatcherHolder, sock: socket.socket) -> None:
        self.holder = holder
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.reading = False
        self.closed = False
        self.retry: asyncio.TimerHandle | None = None
        holder.acceptors.append(self)
        if not holder.paused:
            self.start_reading()

    def start_reading(self) -> None:
        if not self.reading and not self.closed and self.retry is None:
            self.loop.add_reader(self.sock.fileno(), self._ready)
            self.reading = True

    def stop_reading(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.sock.fileno())
            self.reading = False

    def close(self) -> None:
        """Stop listening (connections already accepted stay open)."""
        self.stop_reading()
        self.closed = True
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        if self in self.holder.acceptors:
            self.holder.acceptors.remove(self)
        self.sock.close()

    def _ready(self) -> None:
        holder = self.holder
        conns = holder.tcp
        cap = holder.dispatcher.tcp.max_connections
        for i in range(self.BATCH):
            if cap and len(conns) >= cap:
                if i == 0:
                    holder.full(self.waiting())  # called with the cap already reached
                # else the cap was reached by this batch: if more wait, the socket is still
                # readable and the next turn calls here again.
                return
            try:
                sock, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # nobody waits (another worker of the reuseport group may have taken it)
            except ConnectionAbortedError:
                continue  # reset while in the backlog
            except OSError as e:
                # Out of descriptors (EMFILE, ENFILE) or buffers: the socket stays readable, so
                # watching it would spin. Wait a second, as asyncio's own server does.
                log.error("[ERROR] TCP accept on %s: %s", self.sock.getsockname(), e)
                self.stop_reading()
                self.retry = self.loop.call_later(1.0, self._retry)
                return
            self._serve(sock)

    def waiting(self) -> int:
        """How many connections wait in the backlog (at least one: the socket is readable)."""
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_BACKLOG.size)
            # Linux's tcp_info of a listening socket: tcpi_unacked is the accept queue's length.
            return max(1, _TCP_INFO_BACKLOG.unpack(info)[0])
        except (OSError, struct.error):
            return 1

    def _retry(self) -> None:
        self.retry = None
        if not self.holder.paused:
            self.start_reading()

    def _serve(self, sock: socket.socket) -> None:
        conn = TCPProtocol(self.holder)
        self.holder.tcp[conn] = None  # counted from now: the cap covers the accepted socket
        task = self.loop.create_task(self.loop.connect_accepted_socket(lambda: conn, sock))
        task.add_done_callback(lambda t: self._opened(t, conn, sock))

    def _opened(self, task: asyncio.Task[Any], conn: TCPProtocol, sock: socket.socket) -> None:
        # connection_lost will free the slot of a connection that was made; one that failed
        # before (the transport could not take the socket) frees it here.
        if task.cancelled() or task.exception() is not None:
            sock.close()
            self.holder.release(conn)


def _shut_down(transport: asyncio.BaseTransport) -> None:
    """End the connection now, both ways: ``close`` alone would wait for replies the client does
    not read to drain (up to the write timeout), holding the slot a waiting client needs; after
    ``shutdown`` the write fails and the transport goes on the loop's next turn. The transport's
    socket refuses ``shutdown`` (uvloop's stands in for the real one); a duplicate of its
    descriptor reaches the same socket."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        with socket.socket(fileno=os.dup(sock.fileno())) as dup:
            dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone: the close that follows is enough


def unknown_address() -> tuple[Any, ...]:
    """A socket's address when the transport cannot say: a new object each time, since a
    listener's ``local`` object stands for that one socket (see Request)."""
    return tuple(["", 0])


# Dispatcher.handle: (local, proto, send, data, remote).
Handle = Callable[[Any, str, Any, bytes, Any], None]


class UDPProtocol(asyncio.DatagramProtocol):
    """A UDP listener's socket. The transport calls ``datagram_received(data, addr)`` for each
    datagram: an instance attribute, the dispatcher's ``handle`` with this socket's own arguments
    bound (a C-level ``functools.partial``), so no Python method runs between the transport and
    the dispatcher (one call fewer for every query). Bound again whenever one of them changes."""

    def __init__(self, holder: DispatcherHolder) -> None:
        self.handle: Handle = holder.dispatcher.handle
        holder.udp.append(self)
        self.sendto: Any = None
        self._sendto: Any = None  # the transport's, while replies are dropped
        self.local: tuple[Any, ...] = unknown_address()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport does not subclass asyncio.DatagramTransport; it has the same API.
        # Its sendto is the reply writer: no closure per datagram.
        self.sendto = transport.sendto  # type: ignore[attr-defined]
        self.local = transport.get_extra_info("sockname") or unknown_address()
        self._bind()

    def serve_with(self, handle: Handle) -> None:
        """Send the next datagrams to ``handle`` (a reloaded configuration's dispatcher)."""
        self.handle = handle
        self._bind()

    def _bind(self) -> None:
        self.datagram_received = partial(self.handle, self.local, "udp", self.sendto)  # type: ignore[method-assign]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # Until connection_made binds the attribute (the transport calls nothing before it).
        self.handle(self.local, "udp", self.sendto, data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies; nothing to do but not to die.
        log.debug("[DEBUG] UDP error: %s", exc)

    # The kernel's send buffer is full and the transport queues what it cannot send (without a
    # bound). Until it drains, replies are dropped here, as the kernel drops datagrams it has no
    # room for: a flood cannot grow the process's memory through its replies.
    def pause_writing(self) -> None:
        self._sendto, self.sendto = self.sendto, _drop
        self._bind()

    def resume_writing(self) -> None:
        self.sendto = self._sendto
        self._bind()


def _drop(reply: bytes, addr: Any = None) -> None:
    pass


class TCPProtocol(asyncio.Protocol):
    """Length-prefixed DNS over TCP: pipelined queries, replies in completion order.

    The connection limits are the listener's (:class:`TCPLimits`, set by the timeouts plugin),
    read once when the connection opens, with miekg/dns's meaning: the first query must arrive
    whole within ``read`` of the connection opening, each later one within ``idle`` of the server
    having nothing left to answer; a query that arrives in pieces counts from that same moment,
    so a stalled partial message closes the connection as an idle one does. While queries are in
    progress no read deadline runs. A reply that is not handed to the kernel within ``write``
    aborts the connection. After ``max_queries`` queries nothing more is read, and the connection
    closes once their replies are written. At ``max_connections`` open connections on the
    listener, a new one waits in the kernel's backlog, for the oldest idle one to be closed or
    for any to end (see :meth:`DispatcherHolder.full`).
    """

    def __init__(self, holder: DispatcherHolder) -> None:
        self.holder = holder
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.remote: tuple[Any, ...] = ("", 0)
        self.local: tuple[Any, ...] = unknown_address()
        self.pending = 0
        self.limits: TCPLimits = holder.dispatcher.tcp
        self.left = self.limits.max_queries  # queries still to serve; negative: no limit
        self.deadline = 0.0  # loop time by which the next query must be whole; 0: none running
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.write_timer: asyncio.TimerHandle | None = None
        self.written = 0  # octets handed to the transport so far
        self.write_mark = 0  # ... when the write timer was armed: those must be sent when it fires
        self.evicted = False  # closed to make room for a new connection
        # What the client sent before it was accepted has been read: with no query in progress,
        # it is idle. Until then it may well have one (the first, waiting in the socket).
        self.read = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.remote = transport.get_extra_info("peername") or ("", 0)
        self.local = transport.get_extra_info("sockname") or unknown_address()
        self._expect(self.limits.read)
        # The transport reads what waits in the socket on the loop's next poll; a callback
        # scheduled now runs after that poll.
        asyncio.get_running_loop().call_soon(self._was_read)

    def _was_read(self) -> None:
        self.read = True
        if self.holder.paused:
            # Accepted just before the acceptors paused, it could not be chosen to make room
            # then; now it can, if it has no query.
            self.holder.went_idle()

    def _expect(self, seconds: float) -> None:
        """Wait at most ``seconds`` for the next whole query (one timer, moved only when earlier)."""
        loop = asyncio.get_running_loop()
        self.deadline = deadline = loop.time() + seconds
        timer = self.timer
        if timer is None or self.timer_at > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = loop.call_at(deadline, self._check)
            self.timer_at = deadline

    def _check(self) -> None:
        self.timer = None
        deadline = self.deadline
        t = self.transport
        if not deadline or t is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            t.close()
            return
        self.timer = loop.call_at(deadline, self._check)
        self.timer_at = deadline

    def data_received(self, data: bytes) -> None:
        if self.left == 0:
            return  # served its quota: nothing more is read
        buf = self.buf
        buf += data
        while len(buf) >= 2:
            (length,) = _LEN.unpack_from(buf)
            if len(buf) < 2 + length:
                break
            msg = bytes(buf[2 : 2 + length])
            del buf[: 2 + length]
            if length < 12 or msg[2] & 0x80:
                continue  # a runt or a response: the dispatcher drops it, no reply will come
            self.deadline = 0.0
            self.pending += 1
            if self.left > 0:
                self.left -= 1
                if self.left == 0:
                    buf.clear()
                    self.holder.dispatcher.handle(self.local, "tcp", self._send, msg, self.remote)
                    break
            self.holder.dispatcher.handle(self.local, "tcp", self._send, msg, self.remote)

    def _send(self, reply: bytes, _remote: Any = None) -> None:
        self.pending -= 1
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(_LEN.pack(len(reply)) + reply)
        self.written += len(reply) + 2
        if self.write_timer is None and t.get_write_buffer_size():
            self._arm_write()
        if self.pending == 0:
            if self.left == 0:
                t.close()
            else:
                self._expect(self.limits.idle)
                if self.holder.paused:
                    self.holder.went_idle()

    # The client does not read its replies as fast as it sends queries: stop reading its queries
    # until the replies drain (the write timeout still aborts it if they never do).
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _arm_write(self) -> None:
        self.write_mark = self.written
        self.write_timer = asyncio.get_running_loop().call_later(self.limits.write, self._write_check)

    def _write_check(self) -> None:
        # Every reply written before the timer was armed must have reached the kernel by now
        # (Go's write deadline, per write); later ones get their own period.
        self.write_timer = None
        t = self.transport
        if t is None:
            return
        buffered = t.get_write_buffer_size()
        if not buffered:
            return
        if self.written - buffered < self.write_mark:
            t.abort()  # the client does not read its replies
            return
        self._arm_write()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.timer, self.write_timer):
            if timer is not None:
                timer.cancel()
        self.timer = self.write_timer = None
        self.transport = None
        self.holder.release(self)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_targets(host: str) -> list[tuple[socket.AddressFamily, str]]:
    """Where a listener binds: the address, or for the wildcard 0.0.0.0 plus [::] (v6-only).

    Two sockets rather than one dual-stack socket, so IPv4 clients are seen as IPv4 addresses
    (not ::ffff:a.b.c.d) without a per-packet conversion.
    """
    if host:
        return [(_family(host), host.split("%")[0])]
    targets = [(socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6 and _ipv6_available():
        targets.append((socket.AF_INET6, "::"))
    return targets


def udp_socket(
    family: socket.AddressFamily, addr: str, port: int, host: str = "", reuse_port: bool = True
) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    _prepare(s, family, host, reuse_port and port != 0)
    # Room for a burst, or for the moments the process is not scheduled (a shared node), so that
    # queries wait instead of being dropped: 4 MiB asked, net.core.rmem_max the kernel's cap.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
    s.bind((addr, port))
    s.setblocking(False)
    return s


def tcp_socket(
    family: socket.AddressFamily, addr: str, port: int, host: str = "", reuse_port: bool = True
) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    _prepare(s, family, host, reuse_port and port != 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1024)
    s.setblocking(False)
    return s


_V6: bool | None = None


def _ipv6_available() -> bool:
    global _V6
    if _V6 is None:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
            _V6 = True
        except OSError:
            _V6 = False
    return _V6


def _prepare(s: socket.socket, family: socket.AddressFamily, host: str, reuse_port: bool) -> None:
    if reuse_port:
        # As CoreDNS: every DNS listener is in a reuseport group, so several processes can serve
        # one address and port (the workers of an instance, two instances during an upgrade). Not
        # for port 0: the kernel would count a port other groups use as free for this one.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if host and "%" in host:
        # A link-local address needs its interface.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, host.split("%")[1].encode())
