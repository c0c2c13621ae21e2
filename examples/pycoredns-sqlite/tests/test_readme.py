"""The README is a manual that runs: its sections, its SQL and its Corefiles."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import DNSClient, validate_corefile
from pycoredns.testing.fixtures import ServerFactory

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"^~~~ {kind}\n(.*?)^~~~", TEXT, re.S | re.M)


def test_sections_in_order() -> None:
    assert re.findall(r"^## (\w+)", TEXT, re.M) == ["Name", "Description", "Syntax", "Metrics", "Examples"]


def test_the_metrics_listed_are_the_metrics_exported() -> None:
    from pycoredns_sqlite import metrics

    listed = set(re.findall(r"^- `(coredns_sqlite_\w+)\{", TEXT, re.M))
    assert listed == {metrics.ENTRIES, metrics.RELOAD_TIMESTAMP, metrics.RELOAD_FAILURES, metrics.LOOKUPS}


def test_the_table_serves(tmp_path: Path, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    (sql,) = _blocks("sql")
    with sqlite3.connect(tmp_path / "records.db") as db:
        db.executescript(sql)
    db.close()
    dns_server(f"example.org:0 {{\n    sqlite {tmp_path / 'records.db'}\n}}\n")
    mx = dns_client.query("example.org", "MX")
    assert [str(rr.rdata) for rr in mx.rr] == ["10 mail.example.org."]
    blog = dns_client.query("blog.example.org", "AAAA")
    assert [(dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in blog.rr] == [
        ("CNAME", "www.example.org."), ("AAAA", "2001:db8::10")
    ]


@pytest.mark.parametrize("corefile", _blocks("corefile"))
def test_examples_load(corefile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, table in (("records.db", "records"), ("site.db", "hosts")):
        with sqlite3.connect(tmp_path / name) as db:
            db.execute(f"CREATE TABLE {table} (name TEXT, type TEXT, ttl INTEGER, value TEXT)")
        db.close()
    monkeypatch.chdir(tmp_path)
    validate_corefile(corefile, "README.md")


def test_there_are_examples() -> None:
    assert len(_blocks("corefile")) == 2 and len(_blocks("sql")) == 1
