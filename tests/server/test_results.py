"""then / Plugin.next_then / Deferred.step: continuing from what the rest of the chain answered;
Request.take_outcome and swap_wire."""

from __future__ import annotations

import asyncio

import pytest

from pycoredns import wire
from pycoredns.plugin import Deferred, HandlerError, Plugin, Reply, Request, Result, then
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


def test_a_deferred_continues_in_the_call_that_settles_it() -> None:
    d: Deferred[Reply] = Deferred()
    out = then(d, _tag, "later")
    assert out is d and not d.done()  # chained onto: the same Deferred
    seen: list[object] = []
    d.when_done(lambda done, extra: seen.append((done.result(), extra)), "x")
    d.set_result(b"answer")
    assert seen == [(("later", b"answer"), "x")]  # at once: no loop, no Future
    assert then(d, _tag, "again") == ("again", ("later", b"answer"))  # settled: continues now


def test_a_deferred_error_goes_to_on_error_and_a_failing_step_fails_it() -> None:
    d: Deferred[Reply] = Deferred()
    then(d, _tag, "x", on_error=_caught)
    d.set_exception(HandlerError(wire.SERVFAIL, "down"))
    assert d.result() == ("x", wire.SERVFAIL)

    def broken(reply: Reply) -> Reply:
        raise ValueError("broken continuation")

    d2: Deferred[Reply] = Deferred()
    then(then(d2, broken), _tag, "never")
    d2.set_result(b"answer")
    with pytest.raises(ValueError, match="broken continuation"):
        d2.result()
    with pytest.raises(asyncio.InvalidStateError):
        d2.set_result(b"twice")


def test_a_failing_callback_does_not_reach_the_code_that_settles(caplog: pytest.LogCaptureFixture) -> None:
    d: Deferred[Reply] = Deferred()
    d.when_done(lambda done: 1 / 0)
    later: list[object] = []
    d.when_done(lambda done: later.append(done.result()))
    d.set_result(wire.NXDOMAIN)  # no exception here
    assert later == [wire.NXDOMAIN]
    assert "continuation failed" in caplog.text


def test_a_deferred_can_be_awaited() -> None:
    async def go() -> None:
        d: Deferred[Reply] = Deferred()
        asyncio.get_running_loop().call_later(0.01, d.set_result, b"late")
        assert await d == b"late"
        assert await d == b"late"  # settled: no waiting
        failed: Deferred[Reply] = Deferred()
        failed.set_exception(HandlerError(wire.REFUSED, "no"))
        with pytest.raises(HandlerError, match="no"):
            await failed

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


def test_a_deferred_step_that_waits_holds_the_rest_of_the_chain() -> None:
    # The same for a Deferred (forward's result): the step after the waiting one, and the
    # server's, see what the second stage ended with.
    async def go() -> None:
        loop = asyncio.get_running_loop()
        first: Deferred[Reply] = Deferred()
        second: asyncio.Future[Reply] = loop.create_future()
        then(then(first, lambda reply: second), _tag, "after")
        seen: list[object] = []
        first.when_done(lambda d: seen.append(d.result()))
        first.set_result(b"aaaa")
        assert not first.done() and seen == []
        with pytest.raises(asyncio.InvalidStateError):
            first.set_result(b"twice")  # settled by its producer already
        second.set_result(b"synthesised")
        assert await first == ("after", b"synthesised")
        assert seen == [("after", b"synthesised")]

        failing: Deferred[Reply] = Deferred()
        inner: Deferred[Reply] = Deferred()
        then(then(failing, lambda reply: inner), _tag, "never", on_error=_caught)
        failing.set_result(b"aaaa")
        inner.set_exception(HandlerError(wire.SERVFAIL, "lookup failed"))
        assert failing.result() == ("never", wire.SERVFAIL)

    asyncio.run(go())


def _failed_queries_leave_in_cycles(options: str, rcode: int) -> list[object]:
    """Errors and futures left in reference cycles after 20 queries that fail with ``rcode``
    behind cache, forward (``options``) asking an upstream that never answers."""
    import gc
    import socket

    import dnslib

    from pycoredns.testing import FakeUpstream, answer_a, running_server

    up = FakeUpstream(answer_a("192.0.2.7")).start()
    try:
        up.always("timeout")
        text = (f".:0 {{\n errors\n cache 30 {{\n  serve_stale\n }}\n forward . {up.address} {{\n"
                f"  read_timeout 100ms\n  max_fails 0\n{options} }}\n}}\n")
        with running_server(text) as s, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            gc.collect()
            gc.disable()
            try:
                for i in range(20):
                    sock.sendto(bytes(dnslib.DNSRecord.question(f"m{i}.example.org").pack()), ("127.0.0.1", s.port))
                rcodes = [dnslib.DNSRecord.parse(sock.recv(512)).header.rcode for _ in range(20)]
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                left = [o for o in gc.garbage if isinstance(o, (HandlerError, asyncio.Future))]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    finally:
        up.stop()
    assert rcode in rcodes
    return left


def test_queries_failing_through_a_continuation_leave_no_cyclic_garbage() -> None:
    # An upstream that never answers, behind cache (whose continuation passes forward's
    # SERVFAIL on): each failed query used to leave ~30 objects in reference cycles (the error's
    # traceback holding the frames holding the futures holding the error), freed only by full
    # collections that stalled the server for hundreds of milliseconds in an upstream outage.
    assert _failed_queries_leave_in_cycles("", wire.SERVFAIL) == []


def test_queries_refused_at_once_leave_no_cyclic_garbage() -> None:
    # max_concurrent's REFUSED is raised by forward at once, and cache raises it again from its
    # error continuation: that frame held the error whose traceback held the frame, ~20 objects
    # per refusal, 50,000 freed a second by 30-100 ms collections in an outage with the cap on.
    assert _failed_queries_leave_in_cycles("  max_concurrent 1\n", wire.REFUSED) == []


def test_a_deferred_step_that_fails_with_a_handler_error_drops_its_traceback() -> None:
    # As then() does for a future: the traceback's frames would hold the Deferred that holds
    # the error, a reference cycle per failed query.
    def fail(reply: Reply) -> Reply:
        raise HandlerError(wire.SERVFAIL, "no")

    d: Deferred[Reply] = Deferred()
    then(d, fail)
    d.set_result(b"aaaa")
    error = d.exception()
    assert isinstance(error, HandlerError) and error.__traceback__ is None


def test_step_is_then_as_a_method() -> None:
    d: Deferred[Reply] = Deferred()
    assert d.step(_tag, None, ("a",)) is d  # pending: chained onto, as then() does
    d.step(_tag, None, ("b",))
    d.set_result(b"answer")
    assert d.result() == ("b", ("a", b"answer"))
    assert d.step(_tag, None, ("c",)) == ("c", ("b", ("a", b"answer")))  # settled: continues now
    failed: Deferred[Reply] = Deferred()
    failed.set_exception(HandlerError(wire.SERVFAIL, "down"))
    assert failed.step(_tag, _caught, ("x",)) == ("x", wire.SERVFAIL)


def test_steps_get_their_own_arguments_however_many() -> None:
    # Steps of three and four arguments (the server's and the cache's) are called with them
    # spelled out, the others with *args: each step sees exactly what it was given.
    d: Deferred[object] = Deferred()
    for n in range(6):
        d.step(lambda value, *args: (*args, value), None, tuple(f"{n}.{i}" for i in range(n)))
    d.set_result("v")
    value: object = "v"
    for n in range(6):
        value = (*(f"{n}.{i}" for i in range(n)), value)
    assert d.result() == value


def test_swap_wire_carries_other_flags_and_gives_the_old_bytes_back() -> None:
    req = make_request("Example.org.")
    own = req.wire
    assert req.msg.header.ad == 0  # a parse of the client's bytes
    with_ad = own[:3] + bytes((own[3] | 0x20,)) + own[4:]
    assert req.swap_wire(with_ad) is own
    assert req.wire is with_ad and req.msg.header.ad == 1  # the old parse is not reused
    assert req.key == make_request("example.org.").key  # the question is the same
    assert req.swap_wire(own) is with_ad and req.msg.header.ad == 0


def test_changed_flags_read_the_question_again() -> None:
    """The question stands for the bytes after the ID (the cache keys on its DO and CD bits and
    keeps replies by it): a copy or swap with other flags gets the question of its bytes."""
    req = make_request("Example.org.")
    own = req.wire
    q = req.q
    assert q.dkey[-1] == 0
    with_cd = own[:3] + bytes((own[3] | 0x10,)) + own[4:]
    req.swap_wire(with_cd)
    assert req.q is wire.read_question(with_cd) and req.q.dkey == q.key + b"\x01"
    with_ad = own[:3] + bytes((own[3] | 0x20,)) + own[4:]
    req.swap_wire(with_ad)
    assert req.q is wire.read_question(with_ad) and req.q.dkey == q.dkey
    req.swap_wire(own)
    assert req.q is wire.read_question(own)
    same = own[:2][::-1] + own[2:]  # another ID, the same flags: the question held stays
    req.swap_wire(same)
    assert req.q is wire.read_question(own)
    copy = req.with_flags((own[2] << 8) | own[3] | 0x10)
    assert copy.q.dkey == q.key + b"\x01" and req.q.dkey == q.dkey
    assert req.with_flags((own[2] << 8) | own[3]).q is req.q


def test_a_parse_follows_the_wire_assigned() -> None:
    """What the cache does on a miss: ``wire`` assigned, then back; ``msg`` reads the bytes held."""
    req = make_request("Example.org.")
    own = req.wire
    assert req.msg.header.ad == 0
    assert req.msg is req.msg  # parsed once for the same bytes
    req.wire = own[:3] + bytes((own[3] | 0x20,)) + own[4:]
    assert req.msg.header.ad == 1
    req.wire = own
    assert req.msg.header.ad == 0
