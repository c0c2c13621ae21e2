"""Blocking DNS clients for tests (UDP and TCP)."""

from __future__ import annotations

import itertools
import socket
import struct
from collections.abc import Callable

import dnslib

_loopback = itertools.count()


def loopback_address() -> str:
    """A loopback address (127.1.x.y; Linux answers all of 127/8 on ``lo``) that no earlier call in
    this process returned.

    A server bound to it with port 0 (``.:0 { bind ADDRESS ... }``) has a ``server`` metric label,
    ``dns://ADDRESS:0``, of its own: the metrics registry is process-wide, so this keeps one
    test's counts apart from another's.
    """
    n = next(_loopback)
    return f"127.1.{n // 254 % 256}.{n % 254 + 1}"


def raw_query(data: bytes, port: int, host: str = "127.0.0.1", proto: str = "udp", timeout: float = 3.0) -> bytes:
    """Send wire bytes, return the wire reply (raises socket.timeout when none comes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if proto == "udp":
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(data, (host, port))
            reply, _ = s.recvfrom(65535)
            return reply
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(struct.pack(">H", len(data)) + data)
        head = _recv_exact(s, 2)
        return _recv_exact(s, struct.unpack(">H", head)[0])


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def query(
    name: str,
    qtype: str = "A",
    port: int = 53,
    host: str = "127.0.0.1",
    proto: str = "udp",
    timeout: float = 3.0,
    *,
    qclass: str = "IN",
    edns: int | None = None,
    do: bool = False,
    rd: bool = True,
) -> dnslib.DNSRecord:
    """Ask ``name``/``qtype`` and return the parsed reply."""
    q = dnslib.DNSRecord.question(name, qtype, qclass)
    q.header.rd = int(rd)
    if edns is not None or do:
        q.add_ar(dnslib.EDNS0(udp_len=edns or 1232, flags="do" if do else ""))
    return dnslib.DNSRecord.parse(raw_query(q.pack(), port, host, proto, timeout))


class DNSClient:
    """A blocking DNS client with defaults: the server's port (or a function that finds it), the
    host, the transport and the timeout. Every call may override any of them.

    The ``dns_client`` fixture gives one whose port is the last server the ``dns_server`` fixture
    started in the test.
    """

    def __init__(
        self,
        port: int | Callable[[], int] | None = None,
        host: str = "127.0.0.1",
        proto: str = "udp",
        timeout: float = 3.0,
    ) -> None:
        self._port = port
        self.host = host
        self.proto = proto
        self.timeout = timeout

    @property
    def port(self) -> int:
        """The default port (raises LookupError when there is none)."""
        port = self._port() if callable(self._port) else self._port
        if port is None:
            raise LookupError("no DNS port: start a server first (the dns_server fixture), or pass port=")
        return port

    @port.setter
    def port(self, port: int) -> None:
        self._port = port

    def query(
        self,
        name: str,
        qtype: str = "A",
        port: int | None = None,
        host: str | None = None,
        proto: str | None = None,
        timeout: float | None = None,
        *,
        qclass: str = "IN",
        edns: int | None = None,
        do: bool = False,
        rd: bool = True,
    ) -> dnslib.DNSRecord:
        """:func:`query` with this client's defaults."""
        return query(
            name, qtype, self.port if port is None else port, host or self.host, proto or self.proto,
            self.timeout if timeout is None else timeout, qclass=qclass, edns=edns, do=do, rd=rd,
        )

    def raw_query(
        self,
        data: bytes,
        port: int | None = None,
        host: str | None = None,
        proto: str | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """:func:`raw_query` with this client's defaults."""
        return raw_query(
            data, self.port if port is None else port, host or self.host, proto or self.proto,
            self.timeout if timeout is None else timeout,
        )
