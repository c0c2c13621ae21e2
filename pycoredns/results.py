"""What a handler returns, and how a plugin carries on from what the rest of the chain returned.

``serve`` returns a :data:`Result`: the reply's bytes, an rcode for the server to write, or an
awaitable of either when the handler waits for I/O. A plugin that works on what the next handler
answered (the cache storing it, rewrite reverting it, forward handing a query on) continues with
:func:`then`, which costs nothing extra when the answer is already there and neither a coroutine
nor a Task when it is a future (forward's): the continuation runs in the future's callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pycoredns.errors import HandlerError

__all__ = ["Reply", "Result", "then"]

Reply = bytes | int
Result = bytes | int | Awaitable[bytes | int]

R = TypeVar("R")


def then(
    result: Result,
    on_reply: Callable[..., R],
    *args: Any,
    on_error: Callable[..., R] | None = None,
) -> R | asyncio.Future[R]:
    """``on_reply(reply, *args)`` once ``result`` is a reply: at once, or when the awaitable ends.

    A synchronous reply (bytes or an rcode) gives ``on_reply``'s value, with no future made. An
    awaitable gives a future of that value, settled from the awaitable's done callback. When the
    awaitable raises, ``on_error(exception, *args)`` gives the value instead (it may raise to pass
    the error on); without ``on_error`` the exception is passed on. Extra ``args`` spare the caller
    a closure per query.

    A continuation may itself wait (dns64 asks a second question once the first is answered): when
    ``on_reply`` or ``on_error`` returns an awaitable from the done callback, the returned future
    settles with that awaitable's outcome, not with the awaitable, so two stages read as one
    result. (At once, the awaitable is simply the value returned.)
    """
    if type(result) is bytes or type(result) is int or not isinstance(result, Awaitable):
        return on_reply(result, *args)
    pending = asyncio.ensure_future(result)
    out: asyncio.Future[R] = pending.get_loop().create_future()

    def settle(done: asyncio.Future[Reply]) -> None:
        if out.done():
            return
        if done.cancelled():
            out.cancel()
            return
        error = done.exception()
        try:
            if error is None:
                value = on_reply(done.result(), *args)
            elif on_error is not None and isinstance(error, Exception):
                value = on_error(error, *args)
            else:
                out.set_exception(error)
                return
        except Exception as e:  # the continuation failed: that is the query's outcome
            out.set_exception(_unlinked(e))
            return
        if type(value) is not bytes and type(value) is not int and isinstance(value, Awaitable):
            asyncio.ensure_future(value).add_done_callback(lambda d: _pass_on(d, out))
            return
        out.set_result(value)

    pending.add_done_callback(settle)
    return out


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
