"""The dispatcher reads each question once: a repeated query (any ID) reuses the parse."""

from __future__ import annotations

from typing import Any

import dnslib

from pycoredns import wire
from pycoredns.server.config import load
from pycoredns.server.dispatch import Dispatcher


def _dispatcher() -> Dispatcher:
    inst = load(".:53 {\n bind 127.0.0.1\n whoami\n}\n")
    [(key, sites)] = inst.listeners.items()
    return Dispatcher(key, sites, inst.dropped)


def test_a_repeated_question_is_read_once_and_answered_each_time(monkeypatch: Any) -> None:
    monkeypatch.setattr(wire, "QUESTIONS_MAX", 3)  # read at each store: the bound is the module's
    d = _dispatcher()
    answered: list[bytes] = []

    def send(reply: bytes, addr: Any) -> None:
        answered.append(reply)

    first = dnslib.DNSRecord.question("Repeat.example.org", "A")
    first.header.id = 1
    again = dnslib.DNSRecord.question("Repeat.example.org", "A")
    again.header.id = 2
    for rec in (first, again):
        d.handle(("127.0.0.1", 53), "udp", send, bytes(rec.pack()), ("127.0.0.1", 40000))
    q = wire.QUESTIONS[bytes(first.pack())[2:]]
    assert wire.QUESTIONS[bytes(again.pack())[2:]] is q and q.lname == b"\x06repeat\x07example\x03org\x00"
    replies = [dnslib.DNSRecord.parse(r) for r in answered]
    assert [r.header.id for r in replies] == [1, 2]
    assert all(str(r.q.qname) == "Repeat.example.org." for r in replies)

    # A query that does not read is answered FORMERR and never remembered.
    bad = bytes(first.pack())[:12] + b"\x40" + b"x" * 64 + b"\x00\x00\x01\x00\x01"
    d.handle(("127.0.0.1", 53), "udp", send, bad, ("127.0.0.1", 40000))
    assert answered[-1][3] & 0xF == wire.FORMERR and bad[2:] not in wire.QUESTIONS

    # Bounded: at the bound the questions held are dropped, then the new one is kept.
    for i in range(4):
        d.handle(("127.0.0.1", 53), "udp", send,
                 bytes(dnslib.DNSRecord.question(f"n{i}.example.org", "A").pack()), ("127.0.0.1", 40000))
    assert 1 <= len(wire.QUESTIONS) <= 3 and len(answered) == 7


def test_the_request_a_query_gets_is_the_one_request_makes(monkeypatch: Any) -> None:
    """The dispatcher sets a Request's fields itself (no __init__ call): every field, as
    Request() sets it, and nothing left unset (a field added to Request must be set there too)."""
    from pycoredns import request as request_module
    from pycoredns.request import Request
    from pycoredns.server import dispatch

    monkeypatch.setattr(dispatch, "perf_counter", lambda: 12.5)
    monkeypatch.setattr(request_module, "perf_counter", lambda: 12.5)
    d = _dispatcher()
    seen: list[Request] = []

    class Chain:
        def serve(self, req: Request) -> bytes:
            seen.append(req)
            return req.error_reply(wire.NOERROR)

    route = d.root
    assert route is not None
    monkeypatch.setattr(route, "pick", lambda: Chain().serve)
    data = bytes(dnslib.DNSRecord.question("fields.example.org", "AAAA").pack())
    remote, local = ("127.0.0.1", 40000), ("127.0.0.1", 53)
    d.handle(local, "tcp", lambda reply, addr: None, data, remote)
    [got] = seen
    want = Request(data, wire.read_question(data), "tcp", remote, local, d.server)
    for name in Request.__slots__:
        if name == "_msg_wire":  # set only with _msg
            continue
        assert hasattr(got, name), name
        if name == "q":
            assert got.q.key == want.q.key
        else:
            assert getattr(got, name) == getattr(want, name), name
