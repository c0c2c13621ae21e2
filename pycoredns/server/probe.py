"""Queries a server sends to its own DNS listeners, as a client would: does DNS get answered?

What the health plugin's ``liveness`` option asks once in a while (kubernetes/dns #586: a cache
whose UDP receive queue is full answers no query while its /health stays green). Each probe is a
real datagram to a listener's bound address and port, so it waits in the same receive queue as
the clients' queries and is read by the same event loop. It carries an EDNS record of version 1,
which the server answers BADVERS before any plugin runs (CoreDNS's server does the same, and
neither counts nor logs it): no upstream, cache, log line or metric is involved, and an upstream
outage never makes a probe fail.

With workers, the listeners' UDP groups hash the question name to a socket (see
:mod:`pycoredns.server.steering`): a round sends one probe per worker, with names that hash to
every index, so each worker's socket gets one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import struct
from typing import Any

from pycoredns.server.steering import worker_of

PROBE_VERSION = 1  # any EDNS version but 0 is answered BADVERS at once


def probe_names(workers: int) -> list[bytes]:
    """Wire names, one for each socket index of a group of ``workers`` (steering by name)."""
    found: dict[int, bytes] = {}
    for k in itertools.count():
        label = f"probe{k}".encode()
        name = bytes([len(label)]) + label + b"\x00"
        found.setdefault(worker_of(name, workers) if workers > 1 else 0, name)
        if len(found) == workers:
            return [found[i] for i in range(workers)]
    raise AssertionError("unreachable")


def probe_query(qid: int, name: bytes) -> bytes:
    """A query for ``name`` (A, IN) with an OPT record of EDNS version :data:`PROBE_VERSION`."""
    opt = b"\x00\x00\x29" + struct.pack(">HBBHH", 1232, 0, PROBE_VERSION, 0, 0)
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1) + name + b"\x00\x01\x00\x01" + opt


def target(sockname: tuple[Any, ...]) -> tuple[Any, ...]:
    """Where to send a probe for a listener bound to ``sockname`` (the wildcard: loopback)."""
    if len(sockname) == 4:
        host, port, flow, scope = sockname
        return ("::1" if host == "::" else host, port, flow, scope)
    host, port = sockname[:2]
    return ("127.0.0.1" if host == "0.0.0.0" else host, port)


class _Replies(asyncio.DatagramProtocol):
    def __init__(self, waiting: dict[int, tuple[Any, ...]], done: asyncio.Future[None]) -> None:
        self.waiting = waiting
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) < 12 or not data[2] & 0x80:
            return
        (qid,) = struct.unpack_from(">H", data)
        sent_to = self.waiting.get(qid)
        if sent_to is not None and sent_to[:2] == addr[:2]:
            del self.waiting[qid]
            if not self.waiting and not self.done.done():
                self.done.set_result(None)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable: the probe stays unanswered


async def probe(listeners: list[tuple[Any, ...]], workers: int, timeout: float) -> list[tuple[Any, ...]]:
    """Send one round of probes to each listener (by bound sockname); the ones that did not
    answer every probe of the round within ``timeout`` seconds, as their target addresses."""
    if not listeners:
        return []
    loop = asyncio.get_running_loop()
    names = probe_names(workers)
    targets = list(dict.fromkeys(target(s) for s in listeners))
    ids = random.sample(range(1 << 16), len(targets) * len(names))
    waiting: dict[int, tuple[Any, ...]] = {}
    done: asyncio.Future[None] = loop.create_future()
    transports: dict[int, Any] = {}
    try:
        for addr in targets:
            family = socket.AF_INET6 if len(addr) == 4 else socket.AF_INET
            transport = transports.get(family)
            if transport is None:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Replies(waiting, done), family=family, proto=socket.IPPROTO_UDP
                )
                transports[family] = transport
            for name in names:
                qid = ids.pop()
                waiting[qid] = addr
                try:
                    transport.sendto(probe_query(qid, name), addr)
                except OSError:
                    pass  # stays waiting: unanswered
        if waiting:
            await asyncio.wait([done], timeout=timeout)
    finally:
        for t in transports.values():
            t.close()
    return list(dict.fromkeys(waiting.values()))
