"""The Python floor: a bare uvloop UDP loop answering from precomputed replies.

It does the least a wire-keyed cache hit can do (slice the question, look it up, patch ID,
question case and TTL into a copy of the stored reply, count in a plain integer, send), so the
results table shows what any Python server pays before its own logic.

    python benchmarks/uvloop_floor.py PORT QUERY_FILE
"""

from __future__ import annotations

import asyncio
import signal
import struct
import sys
import time
from pathlib import Path
from typing import Any

import dnslib
import uvloop

_TTL = struct.Struct(">I")
TTL = 3600


class Stored:
    """A reply's wire, where its TTLs sit, and when it was stored."""

    __slots__ = ("offsets", "stored_at", "wire")

    def __init__(self, wire: bytes, offsets: list[int]) -> None:
        self.wire = wire
        self.offsets = offsets
        self.stored_at = time.monotonic()


def build_answers(names: list[str], address: str = "192.0.2.1") -> dict[bytes, Stored]:
    """Key (lower-cased question wire: name, type, class) -> stored reply, built once at start."""
    answers: dict[bytes, Stored] = {}
    for name in names:
        q = dnslib.DNSRecord.question(name, "A")
        reply = q.reply()
        reply.add_answer(dnslib.RR(name, dnslib.QTYPE.A, rdata=dnslib.A(address), ttl=TTL))
        wire = bytes(reply.pack())
        qwire = bytes(q.pack()[12:])
        owner_at = 12 + len(qwire)
        # The answer's owner is a pointer to the question (2 bytes) or the name in full.
        owner_len = 2 if wire[owner_at] & 0xC0 == 0xC0 else len(qwire) - 4
        ttl_at = owner_at + owner_len + 4  # after the owner: type and class
        answers[qwire.lower()] = Stored(wire, [ttl_at])
    return answers


class FloorProtocol(asyncio.DatagramProtocol):
    def __init__(self, answers: dict[bytes, Stored]) -> None:
        self.answers = answers
        self.transport: Any = None
        self.requests = 0
        self.misses = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.requests += 1
        end = 12
        n = len(data)
        while end < n:
            length = data[end]
            if length == 0:
                break
            end += length + 1
        qend = end + 5
        stored = self.answers.get(data[12:qend].lower())
        if stored is None:
            self.misses += 1
            return
        buf = bytearray(stored.wire)
        buf[0:2] = data[0:2]
        buf[12:qend] = data[12:qend]
        ttl = TTL - int(time.monotonic() - stored.stored_at)
        for off in stored.offsets:
            _TTL.pack_into(buf, off, ttl if ttl > 0 else 0)
        self.transport.sendto(buf, addr)


async def serve(port: int, names: list[str]) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    transport, proto = await loop.create_datagram_endpoint(
        lambda: FloorProtocol(build_answers(names)), local_addr=("127.0.0.1", port)
    )
    await stop
    print(f"requests={proto.requests} misses={proto.misses}", flush=True)
    transport.close()


def main(argv: list[str]) -> int:
    port = int(argv[1])
    names = [line.split()[0] for line in Path(argv[2]).read_text().splitlines() if line.strip()]
    uvloop.run(serve(port, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
