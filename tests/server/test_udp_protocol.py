"""A UDP listener's socket hands each datagram to the current dispatcher with its own arguments:
its address, "udp" and the writer of its replies (the transport's sendto, or a drop while the
kernel's send buffer is full)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

import uvloop

from pycoredns.server.dispatch import Dispatcher
from pycoredns.server.listener import DispatcherHolder, UDPProtocol, _drop


class Recorder:
    """Stands in for a Dispatcher: keeps what its handle was called with, answers "ok"."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, Any, bytes, Any]] = []

    def handle(self, local: Any, proto: str, send: Any, data: bytes, remote: Any) -> None:
        self.calls.append((local, proto, send, data, remote))
        send(b"ok:" + data, remote)


def test_datagrams_reach_the_current_dispatcher_with_the_sockets_arguments() -> None:
    first, second = Recorder(), Recorder()
    holder = DispatcherHolder(cast(Dispatcher, first))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: UDPProtocol(holder), local_addr=("127.0.0.1", 0))
        local = transport.get_extra_info("sockname")
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)

        async def ask(data: bytes) -> bytes | None:
            client.sendto(data, local)
            for _ in range(200):
                await asyncio.sleep(0.005)
                try:
                    return client.recv(512)
                except BlockingIOError:
                    pass
            return None

        try:
            assert await ask(b"one") == b"ok:one"
            ((got_local, proto, send, data, remote),) = first.calls
            assert (got_local, proto, data, remote) == (local, "udp", b"one", client.getsockname())
            assert send == transport.sendto

            holder.dispatcher = cast(Dispatcher, second)  # a reload
            assert await ask(b"two") == b"ok:two"
            assert len(first.calls) == 1 and [c[3] for c in second.calls] == [b"two"]

            protocol.pause_writing()  # the kernel's send buffer is full: replies are dropped
            assert await ask(b"three") is None
            assert second.calls[-1][2] is _drop
            protocol.resume_writing()
            assert await ask(b"four") == b"ok:four"
            assert second.calls[-1][2] == transport.sendto
        finally:
            client.close()
            transport.close()

    uvloop.run(main())
