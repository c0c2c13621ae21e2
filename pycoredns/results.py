"""What a handler returns, and how a plugin carries on from what the rest of the chain returned.

``serve`` returns a :data:`Result`: the reply's bytes, an rcode for the server to write, or an
awaitable of either when the handler waits for I/O. A plugin that works on what the next handler
answered (the cache storing it, rewrite reverting it, forward handing a query on) continues with
:func:`then`, which costs nothing extra when the answer is already there.

A handler that waits for I/O returns a :class:`Deferred` where it can (forward does): a result
that is settled later and runs its continuations at once, in the call that settles it. A miss
then costs no asyncio Future, no loop iteration between the upstream's reply and the client's,
and no event-loop lookup. Any other awaitable (a coroutine, a Future) still works: :func:`then`
and the server wait for it through the loop.

Continuing from a Deferred chains onto it: ``then(d, f)`` returns ``d`` itself,
whose value becomes what ``f`` makes of it. A plugin continues from what ``then`` returned and
never reads the Deferred it passed in again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar, cast

from pycoredns.errors import HandlerError

__all__ = ["Deferred", "Reply", "Result", "then"]

Reply = bytes | int
Result = bytes | int | Awaitable[bytes | int]

R = TypeVar("R")
T = TypeVar("T")

# _WAITING: settled by its producer, a step now waiting on an awaitable it returned.
_PENDING, _VALUE, _ERROR, _WAITING = 0, 1, 2, 3
log = logging.getLogger("pycoredns")


class Deferred(Generic[T]):
    """A value that is not there yet: settled once with :meth:`set_result` or :meth:`set_exception`.

    Steps added by :func:`then` run first, in order, each turning the value (or, through its
    ``on_error``, the error) into the next; then :meth:`when_done` callbacks run, each as
    ``fn(deferred, *args)``. All of it runs synchronously in the call that settles it (a callback
    added later runs at once); a callback that raises is logged and does not reach the code that
    settled it. A step that returns an awaitable (a second question asked once the first is
    answered) holds the rest of the chain until that ends, whose outcome then goes on. Awaiting a
    Deferred works too (from a coroutine or a Task), so a plugin written with ``await`` can wait
    for one like for any awaitable.
    """

    __slots__ = ("_state", "_value", "_steps", "_cb", "_args", "_more")

    # The state of a Deferred settled with a value: for a subclass that runs its steps itself
    # (forward's reply, which knows it is pending and its steps wait: set_result without a call).
    SETTLED = _VALUE

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        # The steps waiting for the outcome. A list only while they wait (pending, or a step's
        # awaitable running): appending to it is then what step() does, which the server does
        # itself on every miss (Dispatcher.handle).
        self._steps: list[tuple[Callable[..., Any], Callable[..., Any] | None, tuple[Any, ...]]] | None = None
        self._cb: Callable[..., Any] | None = None
        self._args: tuple[Any, ...] = ()
        self._more: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None

    def done(self) -> bool:
        return self._state == _VALUE or self._state == _ERROR

    def result(self) -> T:
        """The value; raises the error it was settled with, or InvalidStateError while pending."""
        if self._state == _VALUE:
            return self._value
        if self._state == _ERROR:
            raise self._value
        raise asyncio.InvalidStateError("result is not set")

    def exception(self) -> BaseException | None:
        if not self.done():
            raise asyncio.InvalidStateError("result is not set")
        return self._value if self._state == _ERROR else None

    def set_result(self, value: T) -> None:
        if self._steps is not None and not self._state:
            self._run_steps(_VALUE, value)  # _settle's first case, a call sooner: every miss
            return
        self._settle(_VALUE, value)

    def set_exception(self, error: BaseException) -> None:
        self._settle(_ERROR, error)

    def _settle(self, state: int, value: Any) -> None:
        if self._state:
            raise asyncio.InvalidStateError("already settled")
        if self._steps is not None:
            self._run_steps(state, value)
            return
        self._state = state
        self._value = value
        if self._cb is not None:
            self._fire()

    def step(self, on_reply: Callable[..., Any], on_error: Callable[..., Any] | None, args: tuple[Any, ...]) -> Any:
        """``then(self, on_reply, *args, on_error=on_error)`` as a method, for the callers on every
        miss (the server, the cache): while pending, one list append."""
        state = self._state
        if state == _PENDING or state == _WAITING:
            steps = self._steps
            if steps is None:
                self._steps = [(on_reply, on_error, args)]
            else:
                steps.append((on_reply, on_error, args))
            return self
        return then(cast(Any, self), on_reply, *args, on_error=on_error)

    def when_done(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(self, *args)`` once settled: now if it already is."""
        if self._state == _VALUE or self._state == _ERROR:
            _call(fn, self, args)
        elif self._cb is None:
            self._cb = fn
            self._args = args
        elif self._more is None:
            self._more = [(fn, args)]
        else:
            self._more.append((fn, args))

    def _run_steps(self, state: int, value: Any) -> None:
        steps = self._steps
        while steps:  # steps added while these run (by one of them) run too
            self._steps = None
            i = 0  # counted here rather than by enumerate(): the index is read only when a step waits
            for on_reply, on_error, args in steps:
                i += 1
                try:
                    if state == _VALUE:
                        # The arguments spelled out for the two steps of every miss (the server's
                        # takes three, the cache's four): a call with *args builds a tuple first.
                        n = len(args)
                        if n == 3:
                            value = on_reply(value, args[0], args[1], args[2])
                        elif n == 4:
                            value = on_reply(value, args[0], args[1], args[2], args[3])
                        else:
                            value = on_reply(value, *args)
                    elif on_error is not None and isinstance(value, Exception):
                        value = on_error(value, *args)
                        state = _VALUE
                    else:
                        continue
                except Exception as e:  # the continuation failed: that is the outcome now
                    state = _ERROR
                    value = _unlinked(e)  # as then() does: no cycle through its traceback
                    continue
                # None first: the server's own step ends every miss with it, and an ABC check
                # is dearer than the three identity tests.
                if (
                    value is not None
                    and type(value) is not bytes
                    and type(value) is not int
                    and isinstance(value, Awaitable)
                ):
                    # The step waits: the rest of the chain goes on with what that ends with.
                    self._state = _WAITING
                    self._steps = steps[i:] + (self._steps or [])
                    if isinstance(value, Deferred):
                        value.when_done(self._resume)
                    else:
                        asyncio.ensure_future(value).add_done_callback(self._resume_future)
                    return
            steps = self._steps
        self._state = state
        self._value = value
        if self._cb is not None:
            self._fire()

    def _resume(self, done: Deferred[Any]) -> None:
        self._run_steps(done._state, done._value)

    def _resume_future(self, done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            self._run_steps(_ERROR, asyncio.CancelledError())
        elif done.exception() is not None:
            self._run_steps(_ERROR, done.exception())
        else:
            self._run_steps(_VALUE, done.result())

    def _fire(self) -> None:
        fn = self._cb
        args = self._args
        self._cb = None
        self._args = ()
        try:
            fn(self, *args)  # type: ignore[misc]
        except Exception as e:
            log.error("[ERROR] a continuation failed: %r", e, exc_info=e)
        more = self._more
        if more is not None:
            self._more = None
            for fn, args in more:
                _call(fn, self, args)

    def __await__(self) -> Generator[Any, None, T]:
        if not self.done():
            fut = asyncio.get_running_loop().create_future()
            self.when_done(_wake, fut)
            yield from fut
        return self.result()


def _call(fn: Callable[..., Any], d: Deferred[Any], args: tuple[Any, ...]) -> None:
    try:
        fn(d, *args)
    except Exception as e:
        log.error("[ERROR] a continuation failed: %r", e, exc_info=e)


def _wake(_d: Deferred[Any], fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def then(
    result: Result,
    on_reply: Callable[..., R],
    *args: Any,
    on_error: Callable[..., R] | None = None,
) -> R | Deferred[R] | asyncio.Future[R]:
    """``on_reply(reply, *args)`` once ``result`` is a reply: at once, or when the awaitable ends.

    A synchronous reply (bytes or an rcode) gives ``on_reply``'s value, with nothing made. A
    pending :class:`Deferred` gets ``on_reply`` as its next step and is returned (its value is
    ``on_reply``'s once settled); a settled one continues at once. Any other awaitable gives a
    future of that value, settled from its done callback. When the awaitable fails,
    ``on_error(exception, *args)`` gives the value instead (it may raise to pass the error on);
    without ``on_error`` the exception is passed on. Extra ``args`` spare the caller a closure
    per query.

    A continuation may itself wait (dns64 asks a second question once the first is answered): when
    ``on_reply`` or ``on_error`` returns an awaitable once the result came later, what ``then``
    returned settles with that awaitable's outcome, not with the awaitable, so two stages read as
    one result. (At once, the awaitable is simply the value returned.)
    """
    if type(result) is bytes or type(result) is int:
        return on_reply(result, *args)
    if isinstance(result, Deferred):
        state = result._state
        if state == _PENDING or state == _WAITING:
            step = (on_reply, on_error, args)
            if result._steps is None:
                result._steps = [step]
            else:
                result._steps.append(step)
            return result
        if state == _VALUE:
            return on_reply(result._value, *args)
        if on_error is not None and isinstance(result._value, Exception):
            return on_error(result._value, *args)
        raise result._value
    if not isinstance(result, Awaitable):
        return on_reply(result, *args)
    pending = asyncio.ensure_future(result)
    fut: asyncio.Future[R] = pending.get_loop().create_future()

    def settle(done: asyncio.Future[Reply]) -> None:
        if fut.done():
            return
        if done.cancelled():
            fut.cancel()
            return
        error = done.exception()
        try:
            if error is None:
                value = on_reply(done.result(), *args)
            elif on_error is not None and isinstance(error, Exception):
                value = on_error(error, *args)
            else:
                fut.set_exception(error)
                return
        except Exception as e:  # the continuation failed: that is the query's outcome
            fut.set_exception(_unlinked(e))
            return
        if type(value) is not bytes and type(value) is not int and isinstance(value, Awaitable):
            asyncio.ensure_future(value).add_done_callback(lambda d: _pass_on(d, fut))
            return
        fut.set_result(value)

    pending.add_done_callback(settle)
    return fut


def _unlinked(e: Exception) -> Exception:
    """``e`` without its traceback when it is a handler's expected failure (a HandlerError: an
    rcode and a message, never printed with a traceback). The traceback's frames hold, through
    their locals and the frames that called them, the futures that hold ``e``: a reference cycle
    per failed query (a SERVFAIL in an upstream outage, for one), garbage that only a full
    collection frees, and under a flood of failures those collections took the event loop away
    for hundreds of milliseconds. Other exceptions are bugs: their tracebacks are logged."""
    if isinstance(e, HandlerError):
        e.__traceback__ = None
    return e


def _pass_on(done: asyncio.Future[Any], out: asyncio.Future[Any]) -> None:
    """Settle ``out`` as ``done`` ended."""
    if out.done():
        return
    if done.cancelled():
        out.cancel()
    elif done.exception() is not None:
        out.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        out.set_result(done.result())

