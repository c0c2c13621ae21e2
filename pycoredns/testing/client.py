"""Blocking DNS clients for tests (UDP and TCP), and a free loopback port finder."""

from __future__ import annotations

import socket
import struct

import dnslib


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (as far as one can tell without holding it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = int(u.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError("no free port found")


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
