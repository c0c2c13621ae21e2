"""The benchmark's upstream: answers every name under the bench domain over UDP and TCP.

    python benchmarks/upstream.py PORT [TTL]

Each query gets its question back with one A record (``BENCH_ADDRESS``, the given TTL, the owner
a pointer to the question); any other name gets REFUSED. Over TCP it answers every query of a
connection as it reads it, so clients may send several queries on one connection before the
first answer (as CoreDNS and unbound do). Replies are built on the wire from the query, with
nothing cached, so the upstream costs the same for every name: it runs on the client's core and
must never be what limits a run.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import sys
from typing import Any

import uvloop

BENCH_SUFFIX = b"\x05bench\x04test\x00"
ADDRESS = bytes((192, 0, 2, 1))
_LEN = struct.Struct(">H")


def answer(query: bytes, ttl: int) -> bytes | None:
    """The reply to ``query``, or None when it is not a one-question query."""
    if len(query) < 17 or query[2] & 0x80 or query[4:6] != b"\x00\x01":
        return None
    pos = 12
    n = len(query)
    while pos < n and query[pos]:
        pos += query[pos] + 1
    end = pos + 5
    if end > n:
        return None
    question = query[12:end]
    flags = bytes((0x84 | (query[2] & 0x01), 0x80))  # QR, AA, RD copied; RA
    if not question[:-4].lower().endswith(BENCH_SUFFIX):
        return query[:2] + bytes((0x80 | (query[2] & 0x01), 0x85)) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
    if question[-4:] != b"\x00\x01\x00\x01":  # not IN A: NODATA
        return query[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question
    record = b"\xc0\x0c\x00\x01\x00\x01" + struct.pack(">IH", ttl, 4) + ADDRESS
    return query[:2] + flags + b"\x00\x01\x00\x01\x00\x00\x00\x00" + question + record


class UDP(asyncio.DatagramProtocol):
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = answer(data, self.ttl)
        if reply is not None:
            self.transport.sendto(reply, addr)


class TCP(asyncio.Protocol):
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        while len(buf) >= 2:
            n = _LEN.unpack_from(buf)[0]
            if len(buf) < 2 + n:
                break
            reply = answer(buf[2 : 2 + n], self.ttl)
            buf = buf[2 + n :]
            if reply is not None:
                out.append(_LEN.pack(len(reply)) + reply)
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))


async def serve(port: int, ttl: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    udp, _ = await loop.create_datagram_endpoint(lambda: UDP(ttl), local_addr=("127.0.0.1", port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    tcp = await loop.create_server(lambda: TCP(ttl), sock=sock, backlog=1024)
    await stop
    tcp.close()
    udp.close()


def main(argv: list[str]) -> int:
    port = int(argv[1])
    ttl = int(argv[2]) if len(argv) > 2 else 3600
    uvloop.run(serve(port, ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
