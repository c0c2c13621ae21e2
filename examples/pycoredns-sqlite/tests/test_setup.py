"""sqlite's Corefile syntax: what it accepts, and the errors that name the line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from databases import Databases
from pycoredns_sqlite import DIRECTIVE
from pycoredns_sqlite.setup import DEFAULT_RELOAD, Config, parse

from pycoredns.plugin import Fall
from pycoredns.testing import registry_with, validate_corefile
from pycoredns.testing.fixtures import ControllerFactory


def test_the_directive_comes_from_the_entry_point() -> None:
    # pyproject.toml's entry point is how pycoredns finds the plugin: nothing here registers it.
    registry = registry_with()
    assert registry.get("sqlite") is DIRECTIVE
    names = registry.names()
    assert names.index("cache") < names.index("hosts") < names.index("sqlite") < names.index("forward")


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param("sqlite records.db", Config("records.db", ["example.org."]), id="defaults"),
        pytest.param("sqlite records.db a.example.org b.example.org",
                     Config("records.db", ["a.example.org.", "b.example.org."]), id="zones"),
        pytest.param("sqlite records.db {\n table hosts\n}", Config("records.db", ["example.org."], "hosts"),
                     id="table"),
        pytest.param("sqlite records.db {\n reload 250ms\n}", Config("records.db", ["example.org."], reload=0.25),
                     id="reload"),
        pytest.param("sqlite records.db {\n reload 0\n}", Config("records.db", ["example.org."], reload=0),
                     id="no-reload"),
        pytest.param("sqlite records.db {\n fallthrough\n}",
                     Config("records.db", ["example.org."], fall=Fall(["."])), id="fallthrough"),
        pytest.param("sqlite records.db {\n fallthrough a.example.org\n}",
                     Config("records.db", ["example.org."], fall=Fall(["a.example.org."])), id="fallthrough-zones"),
    ],
)
def test_valid(
    setup_controller: ControllerFactory, database: Databases, monkeypatch: pytest.MonkeyPatch, body: str, want: Config
) -> None:
    path = database(name="records.db")
    database(name="records.db", table="hosts")
    monkeypatch.chdir(path.parent)
    got = parse(setup_controller(f"example.org {{\n{body}\n}}\n"))
    assert got == want
    assert want.reload == DEFAULT_RELOAD or "reload" in body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("sqlite", "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending "
                     "after 'sqlite'", id="no-database"),
        pytest.param("sqlite records.db {\n    ttl 30\n}", "Corefile:3 - Error during parsing: unknown property 'ttl'",
                     id="unknown-property"),
        pytest.param("sqlite records.db {\n    table\n}", "Corefile:3 - Error during parsing: Wrong argument count "
                     "or unexpected line ending after 'table'", id="table-without-name"),
        pytest.param("sqlite records.db {\n    table \"x; DROP TABLE records\"\n}",
                     "Corefile:3 - Error during parsing: table name 'x; DROP TABLE records' is not a plain SQL "
                     "identifier", id="table-not-an-identifier"),
        pytest.param("sqlite records.db {\n    reload soon\n}",
                     'Corefile:3 - Error during parsing: time: invalid duration "soon"', id="bad-duration"),
        pytest.param("sqlite records.db {\n    reload -5s\n}",
                     "Corefile:3 - Error during parsing: reload interval can not be negative: -5s", id="negative"),
        pytest.param("sqlite records.db {\n    reload 1s 2s\n}", "Corefile:3 - Error during parsing: Wrong argument "
                     "count or unexpected line ending after '2s'", id="two-intervals"),
        pytest.param("sqlite missing.db", "Corefile:2 - Error during parsing: cannot open missing.db: unable to open "
                     "database file", id="missing-file"),
        pytest.param("sqlite records.db {\n    reload 1s\n    table nosuch\n}",
                     "Corefile:4 - Error during parsing: cannot read table 'nosuch' of records.db: no such table: "
                     "nosuch", id="missing-table"),
        pytest.param("sqlite notadb.db", "Corefile:2 - Error during parsing: cannot read table 'records' of "
                     "notadb.db: file is not a database", id="not-a-database"),
        pytest.param("sqlite narrow.db", "Corefile:2 - Error during parsing: cannot read table 'records' of "
                     "narrow.db: no such column: ttl", id="missing-column"),
    ],
)
def test_errors_name_the_line(
    setup_controller: ControllerFactory, database: Databases, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    path = database()
    (path.parent / "notadb.db").write_text("these are not the records you are looking for\n" * 20)
    with sqlite3.connect(path.parent / "narrow.db") as db:
        db.execute("CREATE TABLE records (name TEXT, type TEXT, value TEXT)")
    monkeypatch.chdir(path.parent)
    with pytest.raises(Exception) as e:
        parse(setup_controller(f"example.org {{\n{body}\n}}\n"))
    assert str(e.value) == message


def test_once_per_block(database: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(database().parent)
    with pytest.raises(Exception, match="^plugin/sqlite: this plugin can only be used once per Server Block$"):
        validate_corefile("example.org {\n    sqlite records.db\n    sqlite records.db\n}\n")


def test_the_error_the_operator_sees(database: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(database().parent)
    with pytest.raises(Exception) as e:
        validate_corefile("example.org {\n    whoami\n    sqlite records.db {\n        table other\n    }\n}\n")
    assert str(e.value) == ("plugin/sqlite: Corefile:4 - Error during parsing: cannot read table 'other' of "
                            "records.db: no such table: other")


def test_the_path_follows_root(database: Databases, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    database(name="data/records.db")
    validate_corefile(f"example.org {{\n    root {folder}\n    sqlite records.db\n}}\n")
    missing = "^plugin/sqlite: Corefile:3 - Error during parsing: cannot open /nonexistent-folder/records.db"
    with pytest.raises(Exception, match=missing):
        validate_corefile("example.org {\n    root /nonexistent-folder\n    sqlite records.db\n}\n")
