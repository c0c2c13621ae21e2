"""Call one handler directly, without sockets: CoreDNS's test.ResponseWriter + dnstest.Recorder."""

from __future__ import annotations

import asyncio
import inspect

import dnslib

from pycoredns import wire
from pycoredns.plugin import Handler, HandlerError
from pycoredns.request import Request

# The addresses CoreDNS's test writer reports: client 10.240.0.1:40212, server 127.0.0.1:53.
TEST_REMOTE = ("10.240.0.1", 40212)
TEST_LOCAL = ("127.0.0.1", 53)


def make_request(
    name: str,
    qtype: str = "A",
    *,
    proto: str = "udp",
    remote: tuple[str, int] = TEST_REMOTE,
    do: bool = False,
    edns: int | None = None,
    server: str = "dns://:53",
    zone: str = ".",
) -> Request:
    q = dnslib.DNSRecord.question(name, qtype)
    if edns is not None or do:
        q.add_ar(dnslib.EDNS0(udp_len=edns or 1232, flags="do" if do else ""))
    data = bytes(q.pack())
    # A local address object of its own, as a socket of its own has (Request.local): requests
    # made here for different servers, protocols or families never pass for one listener's.
    local = (TEST_LOCAL[0], TEST_LOCAL[1])
    req = Request(data, wire.read_question(data), proto, remote, local, server)
    req.zone = zone
    return req


async def serve_handler(handler: Handler, req: Request) -> tuple[int, dnslib.DNSRecord | None]:
    """Run ``handler.serve`` (awaiting it if needed): (rcode, reply) where reply is None when the
    handler left the writing to the server (it returned one of SERVFAIL/REFUSED/FORMERR/NOTIMP)."""
    try:
        result = handler.serve(req)
        if inspect.isawaitable(result):
            result = await result
    except HandlerError as e:
        return e.rcode, None
    if isinstance(result, bytes):
        msg = dnslib.DNSRecord.parse(result)
        return msg.header.rcode, msg
    return int(result), None


def run(handler: Handler, req: Request) -> tuple[int, dnslib.DNSRecord | None]:
    """:func:`serve_handler` for synchronous tests."""
    return asyncio.run(serve_handler(handler, req))
