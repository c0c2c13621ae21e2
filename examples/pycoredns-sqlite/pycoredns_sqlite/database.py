"""The database file: read in a worker thread, polled for changes, swapped in whole.

A reading builds a new :class:`Records` and replaces the old one in one assignment, so the
handler, on the event loop, sees either reading and never half of one. SQLite may hold recent
writes in its write-ahead log (``FILE-wal``) before they reach the file: both are watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path

from pycoredns.plugin import PyCoreDNSError, plugin_log
from pycoredns_sqlite import metrics
from pycoredns_sqlite.records import Records, Row, RowError, build, parse_row

log = plugin_log("sqlite")

Signature = tuple[tuple[int, int, int] | None, ...]


class DatabaseError(PyCoreDNSError):
    """The database cannot be read."""


def connect(path: str) -> sqlite3.Connection:
    """A read-only connection: the plugin never creates or changes the file."""
    try:
        return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as e:
        raise DatabaseError(f"cannot open {path}: {e}") from None


def _select(table: str) -> str:
    return f'SELECT name, type, ttl, value FROM "{table}"'


def check(path: str, table: str) -> None:
    """Raise :class:`DatabaseError` unless ``table`` of ``path`` has the columns the plugin reads."""
    with contextlib.closing(connect(path)) as db:
        try:
            db.execute(_select(table) + " LIMIT 0").fetchall()
        except sqlite3.Error as e:
            raise DatabaseError(f"cannot read table {table!r} of {path}: {e}") from None


class Database:
    """The table's records as last read, and the file's state at that reading."""

    def __init__(self, path: str, table: str, zones: list[str]) -> None:
        self.path = path
        self.table = table
        self.zones = zones
        self.records = Records()
        self._seen: Signature | None = None  # the signature of the file last read

    def signature(self) -> Signature:
        """Inode, size and modification time of the file and of its write-ahead log."""
        out: list[tuple[int, int, int] | None] = []
        for name in (self.path, self.path + "-wal"):
            try:
                st = os.stat(name)
            except OSError:
                out.append(None)
                continue
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def read(self) -> tuple[Records, list[str]]:
        """Read and check every row (blocking: run it in a worker thread). Rows that cannot be
        served are left out, each with a warning; raises :class:`DatabaseError`."""
        rows: list[Row] = []
        warnings: list[str] = []
        with contextlib.closing(connect(self.path)) as db:
            try:
                for n, (name, rtype, ttl, value) in enumerate(db.execute(_select(self.table)), 1):
                    try:
                        rows.append(parse_row(name, rtype, ttl, value))
                    except RowError as e:
                        warnings.append(f"row {n}: {e}: left out")
            except sqlite3.Error as e:
                raise DatabaseError(f"cannot read table {self.table!r} of {self.path}: {e}") from None
        records, more = build(rows, self.zones)
        return records, warnings + more

    async def reload(self) -> bool:
        """Read the file again if it changed since the last reading; True when new records were
        installed. A failure keeps the records already served, is logged and counted, and is
        retried at the next poll; raises it when there is nothing served yet (at startup)."""
        signature = self.signature()
        if signature == self._seen:
            return False
        try:
            records, warnings = await asyncio.to_thread(self.read)
        except DatabaseError as e:
            metrics.failures[self.path] = metrics.failures.get(self.path, 0) + 1
            if self._seen is None:
                raise
            log.error("%s; still serving the last %d records read", e, self.records.rows)
            return False
        for warning in warnings:
            log.warning("%s: %s", self.path, warning)
        first = self._seen is None
        self.records, self._seen = records, signature
        metrics.entries[self.path] = records.rows
        metrics.reloaded[self.path] = time.time()
        if not first:
            log.info("Reloaded %s: %d records", self.path, records.rows)
        return True

    async def poll(self, interval: float) -> None:
        """Check the file every ``interval`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.reload()
