"""Fixtures for the cache tests: a minimal forwarding plugin so the cache has a real upstream.

``upstream HOST:PORT`` sends the query as is over UDP to a FakeUpstream and returns its reply, or
SERVFAIL (nothing written) after a short timeout, as forward does when every upstream failed. It
keeps these tests independent of the forward plugin's own options.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pycoredns import wire
from pycoredns.corefile.values import split_host_port
from pycoredns.plugin import Controller, Directive, Plugin, Reply
from pycoredns.request import Request
from pycoredns.testing import RunningServer
from pycoredns.testing.fixtures import ServerFactory

TIMEOUT = 1.0


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.reply.done():
            self.reply.set_result(data)


class Upstream(Plugin):
    name = "upstream"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(None)
        self.addr = (host, port)

    def serve(self, req: Request) -> asyncio.Future[Reply]:
        return asyncio.ensure_future(self._ask(req))

    async def _ask(self, req: Request) -> Reply:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Client, remote_addr=self.addr)
        try:
            transport.sendto(req.wire)
            try:
                data = await asyncio.wait_for(proto.reply, TIMEOUT)
            except TimeoutError:
                return wire.SERVFAIL
        finally:
            transport.close()
        req.answered_by = self.name
        return data


def _setup(c: Controller) -> None:
    c.next()
    if not c.next_arg():
        raise c.arg_err()
    host, port = split_host_port(c.val())
    c.add_plugin(lambda next: Upstream(host, int(port)))


UPSTREAM = Directive("upstream", _setup, after="cache")


@pytest.fixture
def cache_server(dns_server: ServerFactory) -> Callable[[str], RunningServer]:
    """``cache_server(corefile)``: the kit's dns_server, with the ``upstream`` plugin added."""
    return lambda corefile: dns_server(corefile, plugins=[UPSTREAM])
