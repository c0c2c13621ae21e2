"""Databases for the tests: real SQLite files, written the way an operator's tools would.

Imported by the tests as ``databases`` (pytest puts this folder on the path: ``pythonpath`` in
pyproject.toml), and given to them by the ``database`` fixture of conftest.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

Rows = Iterable[tuple[str, str, int, str]]

RECORDS = [
    ("www.example.org", "A", 300, "192.0.2.10"),
    ("www.example.org", "A", 300, "192.0.2.11"),
    ("www.example.org", "AAAA", 300, "2001:db8::10"),
    ("example.org", "MX", 3600, "10 mail.example.org"),
    ("mail.example.org.", "A", 3600, "192.0.2.25"),
    ("blog.example.org", "CNAME", 120, "www.example.org"),
    ("old.example.org", "CNAME", 60, "blog.example.org"),
    ("example.org", "TXT", 60, "v=spf1 mx -all"),
    ("_sip._udp.example.org", "SRV", 60, "10 5 5060 sip.example.org"),
    ("10.2.0.192.in-addr.arpa", "PTR", 300, "www.example.org"),
]


def write(path: Path, rows: Rows, table: str = "records", *, wal: bool = False) -> Path:
    """Replace the table's rows in one transaction (creating the file and table if needed)."""
    with sqlite3.connect(path) as db:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (name TEXT, type TEXT, ttl INTEGER, value TEXT)")
        db.execute(f"DELETE FROM {table}")
        db.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", list(rows))
    db.close()
    return path


class Databases:
    """What the ``database`` fixture gives: ``database(rows=RECORDS, name="records.db",
    table="records")`` makes a database file in the test's folder; ``database.write(path, rows)``
    replaces the rows of one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, rows: Rows = RECORDS, name: str = "records.db", table: str = "records") -> Path:
        return write(self.folder / name, rows, table)

    write = staticmethod(write)
