"""UDP and TCP listeners: sockets in, wire bytes to the dispatcher, replies out.

A reload swaps the configuration under open sockets without losing a query: setting
``holder.dispatcher`` hands the new dispatcher's ``handle`` to every UDP protocol at once (a
datagram then costs no lookup through the holder), and a TCP connection reads
``holder.dispatcher`` for each message it receives.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from pycoredns.server.dispatch import Dispatcher

log = logging.getLogger("pycoredns")

TCP_IDLE_TIMEOUT = 10.0  # CoreDNS's default idle timeout for TCP connections
_LEN = struct.Struct(">H")


class DispatcherHolder:
    """A mutable reference to the listener's current dispatcher (swapped on reload).

    UDP protocols keep the dispatcher's ``handle`` as their own attribute, so a datagram costs
    no lookups through here; setting ``dispatcher`` updates them all at once.
    """

    __slots__ = ("_dispatcher", "udp")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self.udp: list[UDPProtocol] = []

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher

    @dispatcher.setter
    def dispatcher(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        for protocol in self.udp:
            protocol.handle = dispatcher.handle


class UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, holder: DispatcherHolder) -> None:
        self.handle = holder.dispatcher.handle
        holder.udp.append(self)
        self.sendto: Any = None
        self.local: tuple[Any, ...] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDPTransport does not subclass asyncio.DatagramTransport; it has the same API.
        # Its sendto is the reply writer: no closure per datagram.
        self.sendto = transport.sendto  # type: ignore[attr-defined]
        self.local = transport.get_extra_info("sockname") or ("", 0)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.handle(data, addr, self.local, "udp", self.sendto)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies; nothing to do but not to die.
        log.debug("[DEBUG] UDP error: %s", exc)


class TCPProtocol(asyncio.Protocol):
    """Length-prefixed DNS over TCP: pipelined queries, replies in completion order."""

    def __init__(self, holder: DispatcherHolder) -> None:
        self.holder = holder
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.remote: tuple[Any, ...] = ("", 0)
        self.local: tuple[Any, ...] = ("", 0)
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.remote = transport.get_extra_info("peername") or ("", 0)
        self.local = transport.get_extra_info("sockname") or ("", 0)
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(TCP_IDLE_TIMEOUT, self._timeout)

    def _timeout(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._arm()
        while len(self.buf) >= 2:
            (length,) = _LEN.unpack_from(self.buf)
            if len(self.buf) < 2 + length:
                break
            msg = bytes(self.buf[2 : 2 + length])
            del self.buf[: 2 + length]
            self.holder.dispatcher.handle(msg, self.remote, self.local, "tcp", self._send)

    def _send(self, reply: bytes, _remote: Any = None) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(_LEN.pack(len(reply)) + reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.transport = None


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


def udp_socket(family: socket.AddressFamily, addr: str, port: int, host: str = "") -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    _prepare(s, family, host)
    s.bind((addr, port))
    s.setblocking(False)
    return s


def tcp_socket(family: socket.AddressFamily, addr: str, port: int, host: str = "") -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    _prepare(s, family, host)
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


def _prepare(s: socket.socket, family: socket.AddressFamily, host: str) -> None:
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if host and "%" in host:
        # A link-local address needs its interface.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, host.split("%")[1].encode())
