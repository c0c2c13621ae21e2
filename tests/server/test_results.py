"""then / Plugin.next_then: continuing from what the rest of the chain answered; Request.take_outcome."""

from __future__ import annotations

import asyncio

import pytest

from pycoredns import wire
from pycoredns.plugin import HandlerError, Plugin, Reply, Request, Result, then
from pycoredns.testing import make_request


def _tag(reply: Reply, tag: str) -> tuple[str, Reply]:
    return tag, reply


def _caught(error: Exception, tag: str) -> tuple[str, Reply]:
    if not isinstance(error, HandlerError):
        raise error
    return tag, error.rcode


@pytest.mark.parametrize("reply", [b"\x00\x01reply", wire.REFUSED], ids=["bytes", "rcode"])
def test_a_synchronous_reply_continues_at_once(reply: Reply) -> None:
    assert then(reply, _tag, "now") == ("now", reply)


def test_a_future_continues_in_its_callback() -> None:
    async def go() -> None:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        out = then(fut, _tag, "later")
        assert isinstance(out, asyncio.Future) and not out.done()
        fut.set_result(b"answer")
        assert await out == ("later", b"answer")

    asyncio.run(go())


def test_a_coroutine_continues_when_it_returns() -> None:
    async def answer() -> Reply:
        await asyncio.sleep(0)
        return wire.NXDOMAIN

    async def go() -> None:
        assert await then(answer(), _tag, "coro") == ("coro", wire.NXDOMAIN)

    asyncio.run(go())


def test_errors_go_to_on_error_or_are_passed_on() -> None:
    async def fail(error: Exception) -> Reply:
        raise error

    async def go() -> None:
        handled = then(fail(HandlerError(wire.SERVFAIL, "down")), _tag, "x", on_error=_caught)
        assert await handled == ("x", wire.SERVFAIL)
        with pytest.raises(HandlerError, match="down"):
            await then(fail(HandlerError(wire.SERVFAIL, "down")), _tag, "x")
        with pytest.raises(KeyError):  # on_error passes on what it does not handle
            await then(fail(KeyError("bug")), _tag, "x", on_error=_caught)

    asyncio.run(go())


def test_a_failing_continuation_fails_the_result() -> None:
    def broken(reply: Reply) -> Reply:
        raise ValueError("broken continuation")

    async def go() -> None:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        out = then(fut, broken)
        fut.set_result(b"answer")
        with pytest.raises(ValueError, match="broken continuation"):
            await out

    asyncio.run(go())


def test_cancellation_is_passed_on() -> None:
    async def go() -> None:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        out = then(fut, _tag, "x")
        fut.cancel()
        await asyncio.sleep(0)
        assert isinstance(out, asyncio.Future) and out.cancelled()

    asyncio.run(go())


class Answer(Plugin):
    """Answers every query with ``reply`` (or raises it), at once or through a future."""

    name = "answer"

    def __init__(self, reply: Reply | Exception, *, later: bool = False) -> None:
        super().__init__(None)
        self.reply = reply
        self.later = later

    def serve(self, req: Request) -> Result:
        req.answered_by = self.name
        if isinstance(self.reply, Exception) and not self.later:
            raise self.reply
        if not self.later:
            assert not isinstance(self.reply, Exception)
            return self.reply
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if isinstance(self.reply, Exception):
            fut.set_exception(self.reply)
        else:
            fut.set_result(self.reply)
        return fut


def test_next_then_takes_an_immediate_error_to_on_error() -> None:
    front = Plugin(Answer(HandlerError(wire.REFUSED, "no")))
    req = make_request("example.org.")
    assert front.next_then(req, _tag, "x", on_error=_caught) == ("x", wire.REFUSED)
    with pytest.raises(HandlerError, match="no"):
        front.next_then(req, _tag, "x")


def test_next_then_without_a_next_plugin_fails_as_coredns_does() -> None:
    front = Plugin(None)
    front.name = "front"
    with pytest.raises(HandlerError, match="plugin/front: no next plugin found"):
        front.next_then(make_request("example.org."), _tag, "x")


def test_next_then_waits_for_a_later_answer() -> None:
    async def go() -> None:
        front = Plugin(Answer(b"late", later=True))
        assert await front.next_then(make_request("example.org."), _tag, "x") == ("x", b"late")

    asyncio.run(go())


def test_take_outcome_brings_back_who_answered_and_the_error() -> None:
    req = make_request("example.org.")
    copy = req.with_wire(req.wire)
    req.take_outcome(copy)
    assert (req.answered_by, req.error) == ("", None)  # nothing recorded: nothing taken
    copy.answered_by = "forward"
    copy.error = HandlerError(wire.SERVFAIL, "upstream down")
    req.take_outcome(copy)
    assert req.answered_by == "forward" and req.error is copy.error
    req.take_outcome(req)  # the request itself: nothing to take
    assert req.answered_by == "forward"


def test_a_continuation_that_waits_settles_with_what_it_waited_for() -> None:
    # A second stage that is itself awaited (dns64's A lookup after the AAAA answer) gives one
    # future of the final reply, not a future of a future; its error is the outcome too.
    async def go() -> None:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[Reply] = loop.create_future()
        second: asyncio.Future[Reply] = loop.create_future()
        out = then(first, lambda reply: second)
        first.set_result(b"aaaa")
        await asyncio.sleep(0)
        assert not out.done()  # type: ignore[union-attr]
        second.set_result(b"synthesised")
        assert await out == b"synthesised"  # type: ignore[misc]

        first2: asyncio.Future[Reply] = loop.create_future()
        failing: asyncio.Future[Reply] = loop.create_future()
        out2 = then(first2, lambda reply: failing)
        first2.set_result(b"aaaa")
        failing.set_exception(HandlerError(wire.SERVFAIL, "lookup failed"))
        with pytest.raises(HandlerError, match="lookup failed"):
            await out2  # type: ignore[misc]

    asyncio.run(go())


def test_queries_failing_through_a_continuation_leave_no_cyclic_garbage() -> None:
    # An upstream that never answers, behind cache (whose continuation passes forward's
    # SERVFAIL on): each failed query used to leave ~30 objects in reference cycles (the error's
    # traceback holding the frames holding the futures holding the error), freed only by full
    # collections that stalled the server for hundreds of milliseconds in an upstream outage.
    import gc
    import socket

    import dnslib

    from pycoredns.testing import FakeUpstream, answer_a, running_server

    up = FakeUpstream(answer_a("192.0.2.7")).start()
    try:
        up.always("timeout")
        text = (f".:0 {{\n errors\n cache 30 {{\n  serve_stale\n }}\n forward . {up.address} {{\n"
                "  read_timeout 100ms\n  max_fails 0\n }\n}\n")
        with running_server(text) as s, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            gc.collect()
            gc.disable()
            try:
                for i in range(20):
                    sock.sendto(bytes(dnslib.DNSRecord.question(f"m{i}.example.org").pack()), ("127.0.0.1", s.port))
                for _ in range(20):
                    assert dnslib.DNSRecord.parse(sock.recv(512)).header.rcode == dnslib.RCODE.SERVFAIL
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                left = [o for o in gc.garbage if isinstance(o, (HandlerError, asyncio.Future))]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    finally:
        up.stop()
    assert left == []
