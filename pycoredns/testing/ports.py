"""Which ports a server process listens on, read back from the kernel (Linux /proc).

Tests never pick a port and hand it to a server: a port that was free when picked can be taken
by anything before the server binds it. A server started with port 0 (``.:0`` in a Corefile,
``-dns.port 0``) gets a free port from the kernel at bind time; for a server in a thread the
test reads it from the server (:class:`~pycoredns.testing.RunningServer`), for a server in another
process it reads it here, from the sockets that process holds. The rare test that must know a
port before the server starts (a server that forwards to itself) takes one from outside the
kernel's ephemeral range and tries another if it is in use: :func:`on_fixed_port`.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

_TCP_LISTEN = "0A"
T = TypeVar("T")


@dataclass(frozen=True)
class Bound:
    """One socket of the process: protocol ("udp" or "tcp"), local address and port."""

    proto: str
    host: str
    port: int


def listening_ports(pid: int) -> set[Bound]:
    """The unconnected UDP sockets and listening TCP sockets that process ``pid`` holds
    (client sockets, such as an upstream connection, are left out)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for proto, v6 in (("udp", False), ("udp", True), ("tcp", False), ("tcp", True)):
        path = f"/proc/{pid}/net/{proto}{'6' if v6 else ''}"
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode not in inodes:
                continue
            if proto == "tcp" and state != _TCP_LISTEN:
                continue
            if proto == "udp" and int(remote.split(":")[1], 16) != 0:
                continue  # a connected (client) socket
            host_hex, port_hex = local.split(":")
            found.add(Bound(proto, _address(host_hex, v6), int(port_hex, 16)))
    return found


def _address(hex_addr: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_addr)
    # /proc prints each 32-bit word in host order.
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    packed = struct.pack(f"!{len(words)}I", *words)
    return socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, packed)


def wait_dns_port(pid: int, host: str = "127.0.0.1", timeout: float = 30.0) -> int:
    """Wait until process ``pid`` listens for DNS on ``host`` (one port for UDP and TCP) and
    return that port. Raises TimeoutError (with what it saw) if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    seen: set[Bound] = set()
    while True:
        seen = listening_ports(pid)
        udp = {b.port for b in seen if b.proto == "udp" and b.host in (host, "0.0.0.0", "::")}
        tcp = {b.port for b in seen if b.proto == "tcp" and b.host in (host, "0.0.0.0", "::")}
        both = udp & tcp
        if len(both) == 1:
            return both.pop()
        if len(both) > 1:
            raise ValueError(f"process {pid} listens for DNS on several ports: {sorted(both)}")
        if not _alive(pid):
            raise ChildProcessError(f"process {pid} exited before it listened for DNS on {host}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} does not listen for DNS on {host}: {sorted(seen, key=str)}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Running (an exited child that was not waited for yet is a zombie: not alive)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"



class PortTaken(Exception):
    """Raised by a :func:`on_fixed_port` attempt whose server found its port in use."""


def fixed_port_candidates() -> list[int]:
    """Unprivileged ports outside ``ip_local_port_range``, shuffled.

    The kernel hands out ports from that range for port 0 binds and outgoing connections, so
    none of those can take a port outside it between a test's choice and the server's bind.
    Only something else that chose a fixed port can, and the bind then fails (a listener
    without SO_REUSEADDR/SO_REUSEPORT on UDP, a TCP listener, cannot share).
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    ports = [p for p in range(10000, 65536) if not low <= p <= high]
    random.shuffle(ports)
    return ports


def fixed_port(host: str = "127.0.0.1") -> int:
    """A port outside the ephemeral range, free for UDP and TCP on ``host`` when chosen, for a
    server that must be told its port (another process, several processes on one port, a
    program that takes no port 0). No outgoing connection or port 0 bind can take it before the
    server binds it; only another fixed choice of the same port could, and the ports are drawn
    at random from tens of thousands."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in fixed_port_candidates():
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as u, socket.socket(family, socket.SOCK_STREAM) as t:
                u.bind((host, port))
                t.bind((host, port))
        except OSError:
            continue
        return port
    raise OSError("no free port outside the ephemeral range")


def on_fixed_port(attempt: Callable[[int], T], tries: int = 20) -> T:
    """``attempt(port)`` with a port chosen before anything binds it, for the few tests that must
    know it first (a server that forwards to itself). The port is one of
    :func:`fixed_port_candidates`; when it is in use (``attempt`` raises PortTaken, or an error
    caused by EADDRINUSE, as a concurrent test run would cause), the next one is tried."""
    last: BaseException | None = None
    for port in fixed_port_candidates()[:tries]:
        try:
            return attempt(port)
        except Exception as e:
            if not _in_use(e):
                raise
            last = e
    raise RuntimeError(f"{tries} fixed ports were all in use") from last


def _in_use(e: BaseException | None) -> bool:
    while e is not None:
        if isinstance(e, PortTaken) or (isinstance(e, OSError) and e.errno == errno.EADDRINUSE):
            return True
        e = e.__cause__
    return False
