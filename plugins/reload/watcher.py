"""The reload watcher: one per process, re-armed by every instance whose Corefile uses ``reload``.

When an instance that uses ``reload`` starts listening, the watcher logs the SHA-512 of its
parsed Corefile and checks the Corefile source every period. On a change of the parsed form
(keys, tokens, their lines and files: whitespace and comments inside a line do not count) it asks
the app to restart: the new instance is set up completely and swapped in by the server, and only
then does the old one retire, so no query is lost. A Corefile that does not parse is logged and
retried next period; one that fails to set up is logged, counted, and not retried until it
changes again, while the running configuration keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pycoredns.corefile import parse, tokens_digest
from pycoredns.errors import CorefileError, PyCoreDNSError
from pycoredns.log import plugin_log
from pycoredns.plugins.reload import metrics

if TYPE_CHECKING:
    from pycoredns.server.config import Instance

log = plugin_log("reload")
Hook = Callable[[], Awaitable[None]]


def corefile_digest(text: str, filename: str) -> str:
    """SHA-512 hex of the parsed Corefile (imports expanded, env substituted, directives unchecked)."""
    return tokens_digest(parse(text, filename, directives=None))


class ReloadState:
    """Process-wide: the running watch task and the instance it belongs to."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.owner: int | None = None  # id() of the instance the task watches
        self._intervals: dict[int, float] = {}  # per instance being set up

    def prepare(
        self,
        instance: Instance,
        interval: float,
        on_listen: Callable[[Hook], None],
        on_shutdown: Callable[[Hook], None],
    ) -> None:
        key = id(instance)
        first = key not in self._intervals
        self._intervals[key] = interval
        if not first:
            return  # one watcher per instance, however many blocks use reload

        async def started() -> None:
            self.start(instance, self._intervals.pop(key, interval))

        async def stopped() -> None:
            self._intervals.pop(key, None)
            self.cancel(key)

        on_listen(started)
        on_shutdown(stopped)

    def start(self, instance: Instance, interval: float) -> None:
        app = instance.process.get("app")
        try:
            digest = corefile_digest(instance.text, instance.filename)
        except CorefileError as e:  # cannot happen for a loaded instance, but never crash a start
            log.warning("Corefile parse failed: %s", e)
            return
        log.info("Running configuration SHA512 = %s", digest)
        self.cancel(None)
        if app is None:
            return
        self.owner = id(instance)
        self.task = asyncio.get_running_loop().create_task(watch(app, digest, interval), name="reload-watcher")

    def cancel(self, owner: int | None) -> None:
        """Stop the running watcher (only the one of ``owner`` if given), unless it is the caller:
        a watcher that triggered the restart ends by itself once the restart is done."""
        task = self.task
        if task is None or (owner is not None and owner != self.owner):
            return
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        if task is not current:
            task.cancel()
        self.task = None
        self.owner = None


async def watch(app: Any, digest: str, interval: float) -> None:
    """Check the Corefile every ``interval`` seconds until a restart succeeds or the app stops."""
    while True:
        await asyncio.sleep(interval)
        if app.stopped.is_set():
            return
        try:
            text, filename = app.read_corefile()
        except (PyCoreDNSError, OSError, UnicodeDecodeError):
            continue
        try:
            new = corefile_digest(text, filename)
        except CorefileError as e:
            log.warning("Corefile parse failed: %s", e)
            continue
        if new == digest:
            continue
        metrics.drop_version(digest)
        # Not retried with the same content, even if it fails to load.
        digest = new
        if app.stopped.is_set():
            return
        try:
            await app.restart()
        except PyCoreDNSError as e:
            metrics.set_version(digest)
            log.error("Corefile changed but reload failed: %s", e)
            metrics.FAILED.inc()
            continue
        except Exception as e:  # a reload must never take the running server down
            metrics.set_version(digest)
            log.error("Corefile changed but reload failed: %s", e)
            metrics.FAILED.inc()
            continue
        metrics.set_version(digest)
        return
