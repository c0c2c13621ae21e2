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

from pycoredns.plugin import Controller, CorefileError, Key, PyCoreDNSError, Runtime, corefile_digest, plugin_log
from pycoredns.plugins.reload import metrics

log = plugin_log("reload")


class ReloadState:
    """Process-wide: the running watch task and the instance it belongs to."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.owner: int | None = None  # the generation of the configuration the task watches
        self._intervals: dict[int, float] = {}  # per configuration being set up

    def prepare(self, c: Controller, interval: float) -> None:
        key = c.generation
        first = key not in self._intervals
        self._intervals[key] = interval
        if not first:
            return  # one watcher per configuration, however many blocks use reload
        runtime = c.runtime
        text, filename = c.corefile

        async def started() -> None:
            self.start(runtime, key, text, filename, self._intervals.pop(key, interval))

        async def stopped() -> None:
            self._intervals.pop(key, None)
            self.cancel(key)

        c.on_listen(started)
        c.on_shutdown(stopped)

    def start(self, runtime: Runtime, owner: int, text: str, filename: str, interval: float) -> None:
        try:
            digest = corefile_digest(text, filename)
        except CorefileError as e:  # cannot happen for a loaded configuration, but never crash a start
            log.warning("Corefile parse failed: %s", e)
            return
        log.info("Running configuration SHA512 = %s", digest)
        self.cancel(None)
        self.owner = owner
        self.task = asyncio.get_running_loop().create_task(watch(runtime, digest, interval), name="reload-watcher")

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


STATE: Key[ReloadState] = Key("reload")


async def watch(runtime: Runtime, digest: str, interval: float) -> None:
    """Check the Corefile every ``interval`` seconds until a restart succeeds or the process stops."""
    while True:
        await asyncio.sleep(interval)
        if runtime.stopping:
            return
        try:
            text, filename = runtime.read_corefile()
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
        if runtime.stopping:
            return
        try:
            await runtime.restart()
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
