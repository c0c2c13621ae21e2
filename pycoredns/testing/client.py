"""Blocking DNS clients for tests (UDP and TCP)."""

from __future__ import annotations

import itertools
import socket
import struct

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
