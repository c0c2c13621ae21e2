"""Calling blocking code that must not run on a thread with a running event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def off_loop(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` in a worker thread when called on a thread with a running event loop.

    pyroute2's synchronous IPRoute drives its own event loop and refuses to start inside a
    running one (setup and exit hooks run on the server's loop); elsewhere it is called directly.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="netlink") as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return wrapper
