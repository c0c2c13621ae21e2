"""The observers a reply without an error goes to: one call for the usual one, every one of many,
none for an errors-only observer; a reply with an error goes to every observer."""

from __future__ import annotations

from typing import Any

import dnslib
import pytest

from pycoredns.server.config import load
from pycoredns.server.dispatch import Dispatcher, Route


class Seen:
    def __init__(self, name: str, calls: list[tuple[str, int, object]], only_errors: bool = False) -> None:
        self.name = name
        self.calls = calls
        self.only_errors = only_errors

    def observe(self, req: Any, reply: bytes, rcode: int, error: BaseException | None) -> None:
        self.calls.append((self.name, rcode, error))


def _route(observers: list[Seen]) -> tuple[Dispatcher, Route]:
    inst = load(".:53 {\n bind 127.0.0.1\n whoami\n}\n")
    [(key, sites)] = inst.listeners.items()
    [site] = sites.values()
    site.config.observers[:] = observers
    d = Dispatcher(key, sites, inst.dropped)
    [route] = d.routes.values()
    return d, route


def _ask(d: Dispatcher) -> None:
    d.handle(("127.0.0.1", 53), "udp", lambda reply, addr: None,
             bytes(dnslib.DNSRecord.question("example.org", "A").pack()), ("127.0.0.1", 40000))


@pytest.mark.parametrize("names", [[], ["prometheus"], ["log", "prometheus"], ["a", "b", "c"]])
def test_a_reply_goes_to_every_reply_observer_once(names: list[str]) -> None:
    calls: list[tuple[str, int, object]] = []
    errors = Seen("errors", calls, only_errors=True)
    d, route = _route([errors, *(Seen(n, calls) for n in names)])
    assert (route.on_reply is None) == (not names)
    _ask(d)
    _ask(d)
    assert calls == [(n, 0, None) for n in names] * 2


def test_a_reply_with_an_error_goes_to_every_observer() -> None:
    calls: list[tuple[str, int, object]] = []
    d, route = _route([Seen("errors", calls, only_errors=True), Seen("prometheus", calls)])
    failure = RuntimeError("logged, answered all the same")

    def serve(req: Any) -> bytes:
        req.error = failure
        return req.error_reply(0)

    route.pick = lambda: serve
    _ask(d)
    assert calls == [("errors", 0, failure), ("prometheus", 0, failure)]


@pytest.mark.parametrize("with_error", [False, True])
def test_a_reply_settled_later_is_observed_alike(with_error: bool) -> None:
    from pycoredns.results import Deferred

    calls: list[tuple[str, int, object]] = []
    d, route = _route([Seen("errors", calls, only_errors=True), Seen("log", calls), Seen("prometheus", calls)])
    pending: list[tuple[Deferred[bytes], Any]] = []
    failure = RuntimeError("logged")

    def serve(req: Any) -> Deferred[bytes]:
        later: Deferred[bytes] = Deferred()
        pending.append((later, req))
        return later

    route.pick = lambda: serve
    _ask(d)
    assert calls == []
    later, req = pending[0]
    if with_error:
        req.error = failure
    later.set_result(req.error_reply(0))
    expected = [("log", 0, None), ("prometheus", 0, None)]
    if with_error:
        expected = [("errors", 0, failure), ("log", 0, failure), ("prometheus", 0, failure)]
    assert calls == expected
