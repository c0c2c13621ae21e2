"""Which ports a server process listens on, and the connections it holds, read back from the
kernel (Linux /proc and sock_diag).

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



def tcp_connections(pid: int, port: int) -> int:
    """How many TCP connections process ``pid`` holds on local ``port``: its accepted sockets in
    any state (closing ones too, until it closes their descriptors). Connections the kernel has
    completed but the server has not accepted are not its sockets.

    The process's descriptors are read at one moment (a directory listing and a readlink each,
    about a millisecond); a descriptor counts if its socket is a connection on ``port``, which
    the kernel's socket table tells (read through netlink, as ``ss`` does), once before and once
    after that moment: a socket's local port never changes, so a connection seen in either read
    is one for its whole life. A count is therefore never above what the process held at that
    moment; it misses a connection that came and went between the two table reads (tens of
    milliseconds under a flood). /proc/net/tcp is no substitute: after a connection flood it holds
    tens of thousands of TIME_WAIT lines and takes up to a second to read, and the connections
    held then are not those of the descriptors read before.
    """
    known = _connection_inodes(port)
    held = _socket_inodes(pid)
    if not held:
        return 0
    known |= _connection_inodes(port)
    return len(held & known)


def _socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process ``pid`` has descriptors for."""
    out: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed since the listing
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def _connection_inodes(port: int) -> set[int]:
    """The inodes of the TCP sockets on local ``port`` that are not listening and have a file (a
    descriptor: one closed already has none)."""
    return {inode for family in (socket.AF_INET, socket.AF_INET6) for sport, state, inode in _tcp_sockets(family)
            if sport == port and state != _DIAG_LISTEN and inode}


_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_DIAG_LISTEN = 10  # TCP_LISTEN, as sock_diag reports states
_NLMSG = struct.Struct("=IHHII")
_DIAG_REQ = struct.Struct("=BBBBI48x")  # inet_diag_req_v2: family, protocol, ext, pad, states, sockid


def _tcp_sockets(family: int) -> list[tuple[int, int, int]]:
    """(local port, state, inode) of every TCP socket of ``family`` in this network namespace,
    but those in TIME_WAIT (no process holds them) and SYN_RECV (not accepted yet)."""
    states = 0xFFF & ~((1 << 6) | (1 << 3))  # TCP_TIME_WAIT, TCP_SYN_RECV
    body = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, states)
    request = _NLMSG.pack(_NLMSG.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0) + body
    out: list[tuple[int, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4) as nl:  # NETLINK_SOCK_DIAG
        nl.settimeout(5.0)
        nl.sendall(request)
        while True:
            data = nl.recv(1 << 16)
            off = 0
            while off + _NLMSG.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, off + _NLMSG.size)[0]
                    raise OSError(code, f"sock_diag: {os.strerror(code)}")
                # inet_diag_msg: family, state, timer, retrans, then the socket id (local port
                # first, big-endian), expires, rqueue, wqueue, uid, inode.
                msg = off + _NLMSG.size
                state = data[msg + 1]
                (sport,) = struct.unpack_from("!H", data, msg + 4)
                (inode,) = struct.unpack_from("=I", data, msg + 68)
                out.append((sport, state, inode))
                off += (length + 3) & ~3
            if not data:
                return out


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
