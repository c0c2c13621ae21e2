"""The server counts the queries waiting on an upstream (what draining waits for)."""

from __future__ import annotations

import asyncio
from typing import Any

import dnslib

from pycoredns.server import dispatch
from pycoredns.server.config import load
from pycoredns.server.dispatch import Dispatcher
from pycoredns.testing import FakeUpstream


def test_a_miss_is_counted_in_flight_until_it_is_answered() -> None:
    with FakeUpstream() as up:
        inst = load(f".:53 {{\n bind 127.0.0.1\n cache 30\n forward . {up.address}\n}}\n")

        async def main() -> None:
            # No startup hooks: forward finds the running loop itself, nothing else needs one.
            [(key, sites)] = inst.listeners.items()
            d = Dispatcher(key, sites, inst.dropped)
            answered: list[bytes] = []

            def send(reply: bytes, addr: Any) -> None:
                answered.append(reply)

            before = dispatch.INFLIGHT[0]
            query = bytes(dnslib.DNSRecord.question("inflight.example.org", "A").pack())
            d.handle(("127.0.0.1", 53), "udp", send, query, ("127.0.0.1", 40000))
            # The upstream's reply is read by the event loop, which has not run since.
            assert dispatch.INFLIGHT[0] == before + 1 and not answered
            for _ in range(500):
                if answered:
                    break
                await asyncio.sleep(0.01)
            assert answered and dispatch.INFLIGHT[0] == before
            d.handle(("127.0.0.1", 53), "udp", send, query, ("127.0.0.1", 40000))  # a hit: never in flight
            assert len(answered) == 2 and dispatch.INFLIGHT[0] == before
            for hook in inst.lifecycle.shutdown:
                await hook()

        asyncio.run(main())
