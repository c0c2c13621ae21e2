"""Parse ``sqlite DATABASE [ZONES...] { table NAME; reload DURATION; fallthrough [ZONES...] }``
and wire the plugin in: the first reading at startup, polling for changes, the handler."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

from pycoredns.plugin import Controller, Fall, Handler, PyCoreDNSError, Token
from pycoredns_sqlite import metrics
from pycoredns_sqlite.database import Database, DatabaseError, check
from pycoredns_sqlite.handler import SQLite

DEFAULT_TABLE = "records"
DEFAULT_RELOAD = 5.0  # seconds between checks of the file; 0 turns reloading off
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Config:
    path: str
    zones: list[str]
    table: str = DEFAULT_TABLE
    reload: float = DEFAULT_RELOAD
    fall: Fall = field(default_factory=Fall)


def parse(c: Controller) -> Config:
    """Read the directive's arguments and block; check that the table can be read."""
    c.next()  # the directive itself; "once per block" is enforced by the engine
    at: Token | None = c.token()  # where a database error points: the directive, or `table`
    args = c.remaining_args(at_least=1)
    config = Config(c.root_path(args[0]), c.zones_or_block(args[1:]))
    while c.next_block():
        option = c.val()
        if option == "table":
            config.table, at = _table(c), c.token()
        elif option == "reload":
            config.reload = _interval(c)
        elif option == "fallthrough":
            config.fall = Fall.from_args(c.remaining_args())
        else:
            raise c.unknown_property()
    try:
        check(config.path, config.table)  # now, so that -validate and a reload catch it
    except DatabaseError as e:
        raise c.err(str(e), at=at) from None
    return config


def setup(c: Controller) -> None:
    config = parse(c)
    database = Database(config.path, config.table, config.zones)
    metrics.register(c)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        try:
            await database.reload()  # the first reading, before any listener opens
        except DatabaseError as e:
            raise PyCoreDNSError(f"plugin/sqlite: {e}") from None  # the server does not start
        if config.reload > 0:
            tasks.append(asyncio.get_running_loop().create_task(database.poll(config.reload)))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()

    def handler(next: Handler | None) -> Handler:
        return SQLite(next, database, config.zones, config.fall)

    c.on_startup(start)
    c.on_shutdown(stop)
    c.add_plugin(handler)


def _table(c: Controller) -> str:
    name = c.only_arg()
    if not _IDENTIFIER.fullmatch(name):
        raise c.errf("table name '%s' is not a plain SQL identifier", name)
    return name


def _interval(c: Controller) -> float:
    seconds = c.duration(c.only_arg())
    if seconds < 0:
        raise c.errf("reload interval can not be negative: %s", c.val())
    return seconds
