"""A handler's result that is a coroutine, at once or as what a Deferred settles with, or a
Deferred with steps of its own or none, pending or settled: the server answers with what it
gives, and counts the query in flight until then."""

from __future__ import annotations

import asyncio

import pytest

from pycoredns.plugin import Controller, Directive, Handler, Plugin, Result
from pycoredns.request import Request
from pycoredns.results import Deferred, then
from pycoredns.server import dispatch
from pycoredns.testing import query, running_server


async def _refused_later() -> int:
    await asyncio.sleep(0)
    return 5  # REFUSED: an rcode no other path of these tests gives


class Coroutine(Plugin):
    name = "awaited"

    def serve(self, req: Request) -> Result:
        return _refused_later()  # type: ignore[return-value]


class DeferredCoroutine(Plugin):
    name = "awaited"

    def serve(self, req: Request) -> Result:
        later: Deferred[object] = Deferred()
        asyncio.get_running_loop().call_soon(later.set_result, _refused_later())
        return later


def _refused(value: int) -> int:
    return value + 5  # the step's work: 0 -> REFUSED


class DeferredWithStep(Plugin):
    """A pending Deferred with a step of the plugin's own already waiting (as the cache's waits
    on forward's exchange): the server's step comes after it."""

    name = "awaited"

    def serve(self, req: Request) -> Result:
        later: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_soon(later.set_result, 0)
        return then(later, _refused)


class DeferredWaiting(Plugin):
    """Its step waits on a coroutine when the server adds its own: then added to what waits."""

    name = "awaited"

    def serve(self, req: Request) -> Result:
        first: Deferred[int] = Deferred()
        first.set_result(0)
        return then(first, lambda _value: _refused_later())


class DeferredSettled(Plugin):
    name = "awaited"

    def serve(self, req: Request) -> Result:
        done: Deferred[int] = Deferred()
        done.set_result(5)
        return done


def _directive(cls: type[Plugin]) -> Directive:
    def setup(c: Controller) -> None:
        c.next()

        def factory(next: Handler | None) -> Handler:
            return cls(next)

        c.add_plugin(factory)

    return Directive("awaited", setup)


@pytest.mark.parametrize(
    "cls",
    [Coroutine, DeferredCoroutine, DeferredWithStep, DeferredWaiting, DeferredSettled],
    ids=["at-once", "deferred", "deferred-with-a-step", "deferred-step-waiting", "deferred-settled"],
)
@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_an_awaitable_result_is_awaited_and_answered(cls: type[Plugin], proto: str) -> None:
    before = dispatch.INFLIGHT[0]
    with running_server("example.org:0 {\n    awaited\n}\n", plugins=[_directive(cls)]) as rs:
        for _ in range(3):
            r = query("example.org", "A", rs.port, proto=proto)
            assert r.header.rcode == 5
    assert dispatch.INFLIGHT[0] == before
