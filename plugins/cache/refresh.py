"""Background refreshes: prefetch of popular entries, and serve_stale's refresh and verify.

Each refresh asks the next plugin with a copy of the query (AD set, TCP-sized as CoreDNS's
prefetch writer), at most one in flight per entry (``Entry.begin_refresh``), and at most
:data:`MAX_IN_FLIGHT` in all. Tasks are kept in a set and cancelled when the config shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import TYPE_CHECKING, Any, Protocol

from pycoredns.plugin import HandlerError, Reply, Result, plugin_log
from pycoredns.plugins.cache.entry import Entry
from pycoredns.plugins.cache.metrics import Stats
from pycoredns.plugins.cache.upstream import with_ad
from pycoredns.plugins.cache.writer import Context, Stores, verify_write, write

if TYPE_CHECKING:
    from pycoredns.plugin import Request

MAX_IN_FLIGHT = 1024
log = plugin_log("cache")


class Refreshable(Stores, Protocol):
    """What a refresh needs of the cache besides what the writer does (the handler is one)."""

    def next_or_failure(self, req: Request) -> Result: ...

    def exists(self, key: bytes) -> Entry | None: ...

    def stale_reply(self, req: Request, entry: Entry, stats: Stats) -> bytes: ...

    def fresh_reply(self, req: Request, entry: Entry) -> bytes: ...


class Refresher:
    def __init__(self, cache: Refreshable) -> None:
        self.cache = cache
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- prefetch, and serve_stale's immediate refresh ----------------------------------------------
    def prefetch(self, req: Request, key: bytes, entry: Entry, stats: Stats, now: float, *, stale: bool) -> None:
        cache = self.cache
        recheck = cache.settings.stale_recheck if stale else 0.0
        if len(self.tasks) >= MAX_IN_FLIGHT or not entry.begin_refresh(cache.clock(), recheck):
            return
        up = with_ad(req, proto="tcp")
        ctx = Context(key, req, req.q.do, True, stats, prefetch=True)
        if self._spawn(self._prefetch(up, ctx, entry, now, stale, recheck)) is None:
            entry.end_refresh(cache.clock(), recheck, False)

    async def _prefetch(self, up: Request, ctx: Context, entry: Entry, now: float, stale: bool, recheck: float) -> None:
        cache = self.cache
        refreshed = False
        try:
            ctx.stats.prefetch += 1
            result = await self._ask(up)
            if stale:
                refreshed = isinstance(result, bytes) and verify_write(cache, ctx, result)[0]
            else:
                if isinstance(result, bytes):
                    write(cache, ctx, result)
                refreshed = True  # CoreDNS counts a plain prefetch as done whatever came back
            if refreshed:
                # Keep the popularity gathered so far on the entry that replaced this one.
                fresh = cache.exists(ctx.key)
                if fresh is not None and fresh is not entry:
                    fresh.hits = entry.hits
                    fresh.last = now
        finally:
            entry.end_refresh(cache.clock(), recheck, refreshed)

    # -- serve_stale verify: ask first, serve the stale entry only if that fails ------------------
    async def verify(self, req: Request, key: bytes, entry: Entry, stats: Stats, now: float) -> Reply:
        cache = self.cache
        s = cache.settings
        up = with_ad(req)
        recheck = s.stale_recheck
        if s.verify_timeout <= 0:
            ctx = Context(key, req, req.q.do, bool(req.wire[3] & 0x20), stats)
            refreshed, out = False, None
            try:
                result = await self._ask(up)
                if isinstance(result, bytes):
                    refreshed, out, _ = verify_write(cache, ctx, result)
            finally:
                if recheck > 0:
                    entry.end_refresh(cache.clock(), recheck, refreshed)
            if refreshed and out is not None:
                req.take_outcome(up)
                return out
            return cache.stale_reply(req, entry, stats)
        # With a timeout the refresh goes on in the background; it only stores what it gets.
        ctx = Context(key, req, req.q.do, True, stats, prefetch=True)
        task = self._spawn(self._verify_background(up, ctx, entry, recheck))
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=s.verify_timeout)
            if task in done and not task.cancelled() and task.exception() is None:
                refreshed, out, fresh = task.result()
                if refreshed:
                    if fresh is not None:
                        return cache.fresh_reply(req, fresh)
                    if out is not None:
                        req.take_outcome(up)
                        return out
        return cache.stale_reply(req, entry, stats)

    async def _verify_background(
        self, up: Request, ctx: Context, entry: Entry, recheck: float
    ) -> tuple[bool, bytes | None, Entry | None]:
        outcome: tuple[bool, bytes | None, Entry | None] = (False, None, None)
        try:
            result = await self._ask(up)
            if isinstance(result, bytes):
                outcome = verify_write(self.cache, ctx, result)
        finally:
            if recheck > 0:
                entry.end_refresh(self.cache.clock(), recheck, outcome[0])
        return outcome

    # -- plumbing ---------------------------------------------------------------------------------
    async def _ask(self, up: Request) -> Reply | None:
        """The next plugin's answer, or None when it failed (an error is not a refresh)."""
        try:
            result = self.cache.next_or_failure(up)
            if inspect.isawaitable(result):
                result = await result
        except HandlerError:
            return None
        return result

    def _spawn(self, coro: Any) -> asyncio.Task[Any] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a direct unit call): nothing can run in the background
            coro.close()
            return None
        task = loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        err = task.exception()
        if err is not None:
            log.error("background refresh failed: %s", err)

    async def close(self) -> None:
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self.tasks.clear()
