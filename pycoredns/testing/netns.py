"""Running a function inside a named network namespace (one ``ip netns add NAME`` made).

The function runs in a thread that joined the namespace with setns(2), so the sockets it makes
live there while the rest of the process stays where it was: a test or a benchmark on the host
talks to a server inside its namespace without a subprocess per query.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"  # where ``ip netns add`` mounts a namespace by name


def call_in(name: str, fn: Callable[[], T], timeout: float = 60) -> T:
    """``fn()`` run in namespace ``name``: its value, or what it raised raised here.

    Raises TimeoutError when it has not returned after ``timeout`` seconds (the thread is left to
    finish on its own: a thread cannot be stopped)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(f"{NETNS_DIR}/{name}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as e:  # handed back to the caller
            result["error"] = e

    t = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"{getattr(fn, '__name__', fn)!r} still running in {name} after {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["value"]
