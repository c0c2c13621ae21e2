"""CoreDNS's signals, for the one process that owns them (a server alone, or the supervisor of
its workers): SIGTERM and SIGINT stop gracefully, SIGQUIT runs the exit hooks and quits at once,
SIGUSR1 reloads the Corefile, SIGHUP is ignored (as in CoreDNS's fork of Caddy)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from pycoredns import log as clog

log = logging.getLogger("pycoredns")


def trap(stopped: asyncio.Event, quit_now: Callable[[], None], reload: Callable[[], Awaitable[object]]) -> None:
    """Install the handlers on the running loop. ``stopped`` is set on SIGTERM or SIGINT;
    ``quit_now`` is the quick synchronous cleanup SIGQUIT runs before the process exits 0."""
    loop = asyncio.get_running_loop()

    def stop(name: str) -> None:
        if stopped.is_set():
            return
        log.info("[INFO] %s: Shutting down servers then terminating", name)
        stopped.set()

    def sigquit() -> None:
        # Caddy: log, run the process-exit hooks (node-cache's teardown), exit 0 at once.
        log.info("[INFO] SIGQUIT: Quitting process immediately")
        quit_now()
        clog.flush(1.0)  # os._exit skips the exit handlers that write the lines still queued
        os._exit(0)

    loop.add_signal_handler(signal.SIGTERM, stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, stop, "SIGINT")
    loop.add_signal_handler(signal.SIGQUIT, sigquit)
    loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(reload()))
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
