"""The Python floor of a cache miss: a bare uvloop forwarder.

It does the least a forwarded miss can do with the anti-spoofing checks kept: take a connected
UDP socket from a pool (or a shared TCP connection with ``--tcp``), send the query under a new
random ID, match the reply by ID and question, put the client's ID back, send. No cache, no
metrics, no timeouts beyond dropping what never comes back, so the results table shows what any
Python forwarder pays before its own logic.

    python benchmarks/uvloop_forward_floor.py PORT UPSTREAM_PORT [--tcp]
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
from collections import deque
from typing import Any

import uvloop

_LEN = struct.Struct(">H")


class Ids:
    """Random query IDs, drawn from the kernel a few thousand at a time."""

    def __init__(self) -> None:
        self.ids: list[bytes] = []

    def next(self) -> bytes:
        if not self.ids:
            raw = os.urandom(8192)
            self.ids = [raw[i : i + 2] for i in range(0, 8192, 2)]
        return self.ids.pop()


def question_end(data: bytes) -> int:
    pos = 12
    n = len(data)
    while pos < n and data[pos]:
        pos += data[pos] + 1
    return pos + 5


class UpstreamSocket:
    """A connected UDP socket with one query in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fwd: Forwarder) -> None:
        self.fwd = fwd
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(("127.0.0.1", fwd.upstream_port))
        self.qid = b""
        self.question = b""
        self.client_id = b""
        self.addr: Any = None
        loop.add_reader(self.sock.fileno(), self.readable)

    def readable(self) -> None:
        try:
            data = self.sock.recv(4097)
        except OSError:
            return
        if data[:2] != self.qid or data[12 : 12 + len(self.question)].lower() != self.question:
            return
        self.fwd.send(self.client_id + data[2:], self.addr)
        self.fwd.pool.append(self)


class Forwarder(asyncio.DatagramProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, upstream_port: int, tcp: bool) -> None:
        self.loop = loop
        self.upstream_port = upstream_port
        self.pool: deque[UpstreamSocket] = deque()
        self.ids = Ids()
        self.send: Any = None
        self.tcp = tcp
        self.stream: TCPUpstream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.send = transport.sendto  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        qid = self.ids.next()
        question = data[12 : question_end(data)].lower()
        if self.tcp:
            if self.stream is not None:
                self.stream.query(qid, question, data, addr)
            return
        up = self.pool.popleft() if self.pool else UpstreamSocket(self.loop, self)
        up.qid = qid
        up.question = question
        up.client_id = data[:2]
        up.addr = addr
        up.sock.send(qid + data[2:])


class TCPUpstream(asyncio.Protocol):
    """One TCP connection carrying every query, replies matched by ID and question."""

    def __init__(self, fwd: Forwarder) -> None:
        self.fwd = fwd
        self.transport: Any = None
        self.pending: dict[bytes, tuple[bytes, bytes, Any]] = {}
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def query(self, qid: bytes, question: bytes, data: bytes, addr: Any) -> None:
        while qid in self.pending:
            qid = self.fwd.ids.next()
        self.pending[qid] = (question, data[:2], addr)
        self.transport.write(_LEN.pack(len(data)) + qid + data[2:])

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while len(buf) >= 2:
            n = (buf[0] << 8) | buf[1]
            if len(buf) < 2 + n:
                break
            frame = buf[2 : 2 + n]
            buf = buf[2 + n :]
            p = self.pending.pop(frame[:2], None)
            if p is None or frame[12 : 12 + len(p[0])].lower() != p[0]:
                continue
            self.fwd.send(p[1] + frame[2:], p[2])
        self.buf = buf


async def serve(port: int, upstream_port: int, tcp: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    fwd = Forwarder(loop, upstream_port, tcp)
    transport, _ = await loop.create_datagram_endpoint(lambda: fwd, local_addr=("127.0.0.1", port))
    if tcp:
        _t, fwd.stream = await loop.create_connection(lambda: TCPUpstream(fwd), "127.0.0.1", upstream_port)
    await stop
    transport.close()


def main(argv: list[str]) -> int:
    uvloop.run(serve(int(argv[1]), int(argv[2]), "--tcp" in argv[3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
