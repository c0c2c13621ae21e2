"""Replies larger than the client accepts: TC over UDP, whole over TCP, EDNS size honoured."""

from __future__ import annotations

import asyncio

import dnslib
import pytest

from pycoredns.plugin import Controller, Directive, Handler, Plugin, Result
from pycoredns.request import Request
from pycoredns.results import Deferred
from pycoredns.testing import query, running_server


class Big(Plugin):
    """Answers every query with 60 A records (about 1 kB)."""

    name = "big"

    def serve(self, req: Request) -> Result:
        reply = req.make_reply()
        for i in range(60):
            reply.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.A, ttl=60, rdata=dnslib.A(f"192.0.2.{i}")))
        req.answered_by = self.name
        return req.pack(reply)


class BigLater(Big):
    """The same records, packed whole (not cut to the client's size, as a forwarded reply is
    not) and settled on a later turn of the loop (as forward's are): the server cuts them."""

    def serve(self, req: Request) -> Result:
        msg = req.make_reply()
        for i in range(60):
            msg.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.A, ttl=60, rdata=dnslib.A(f"192.0.2.{i}")))
        req.answered_by = self.name
        reply = bytes(msg.pack())
        later: Deferred[bytes] = Deferred()
        asyncio.get_running_loop().call_soon(later.set_result, reply)
        return later


def _setup(c: Controller) -> None:
    c.next()

    def factory(next: Handler | None) -> Handler:
        return Big(next)

    c.add_plugin(factory)


def _setup_later(c: Controller) -> None:
    c.next()

    def factory(next: Handler | None) -> Handler:
        return BigLater(next)

    c.add_plugin(factory)


BIG = Directive("big", _setup)
BIG_LATER = Directive("big", _setup_later)


@pytest.mark.parametrize(
    ("proto", "edns", "truncated", "answers"),
    [
        pytest.param("udp", None, True, range(0, 31), id="udp-512"),
        pytest.param("udp", 4096, False, [60], id="udp-edns-4096"),
        pytest.param("udp", 700, True, range(0, 44), id="udp-edns-700"),
        pytest.param("tcp", None, False, [60], id="tcp"),
    ],
)
@pytest.mark.parametrize("plugin", [BIG, BIG_LATER], ids=["at-once", "later"])
def test_reply_fits_the_client(
    proto: str, edns: int | None, truncated: bool, answers: range | list[int], plugin: Directive
) -> None:
    with running_server("example.org:0 {\n    big\n}\n", plugins=[plugin]) as rs:
        r = query("example.org", "A", rs.port, proto=proto, edns=edns)
        assert bool(r.header.tc) is truncated
        assert len(r.rr) in answers
        assert len(r.pack()) <= (edns or 512 if proto == "udp" else 65535)
