"""sqlite in a running server: real queries over UDP and TCP, fallthrough, reloads and metrics."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import dnslib
import pytest
from databases import Databases
from prometheus_client.parser import text_string_to_metric_families

from pycoredns.plugin import PyCoreDNSError, exposition
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog


def _answers(r: dnslib.DNSRecord) -> list[tuple[str, str, int, str]]:
    return [(str(rr.rname), dnslib.QTYPE[rr.rtype], rr.ttl, str(rr.rdata)) for rr in r.rr]


@pytest.fixture
def served(database: Databases, dns_server: ServerFactory) -> Path:
    """A server answering for example.org and its reverse zone from the default records."""
    path = database()
    dns_server(f".:0 {{\n    sqlite {path} example.org 2.0.192.in-addr.arpa {{\n        reload 0\n    }}\n}}\n")
    return path


@pytest.mark.parametrize(
    ("name", "qtype", "answers"),
    [
        pytest.param("www.example.org", "A", [("www.example.org.", "A", 300, "192.0.2.10"),
                                              ("www.example.org.", "A", 300, "192.0.2.11")], id="A"),
        pytest.param("www.example.org", "AAAA", [("www.example.org.", "AAAA", 300, "2001:db8::10")], id="AAAA"),
        pytest.param("example.org", "MX", [("example.org.", "MX", 3600, "10 mail.example.org.")], id="MX"),
        pytest.param("example.org", "TXT", [("example.org.", "TXT", 60, '"v=spf1 mx -all"')], id="TXT"),
        pytest.param("_sip._udp.example.org", "SRV",
                     [("_sip._udp.example.org.", "SRV", 60, "10 5 5060 sip.example.org.")], id="SRV"),
        pytest.param("blog.example.org", "A", [("blog.example.org.", "CNAME", 120, "www.example.org."),
                                               ("www.example.org.", "A", 300, "192.0.2.10"),
                                               ("www.example.org.", "A", 300, "192.0.2.11")], id="CNAME-then-A"),
        pytest.param("old.example.org", "AAAA", [("old.example.org.", "CNAME", 60, "blog.example.org."),
                                                 ("blog.example.org.", "CNAME", 120, "www.example.org."),
                                                 ("www.example.org.", "AAAA", 300, "2001:db8::10")],
                     id="two-CNAMEs"),
        pytest.param("blog.example.org", "MX", [("blog.example.org.", "CNAME", 120, "www.example.org.")],
                     id="CNAME-to-nothing-of-the-type"),
        pytest.param("blog.example.org", "CNAME", [("blog.example.org.", "CNAME", 120, "www.example.org.")],
                     id="the-CNAME-itself"),
        pytest.param("10.2.0.192.in-addr.arpa", "PTR",
                     [("10.2.0.192.in-addr.arpa.", "PTR", 300, "www.example.org.")], id="PTR"),
    ],
)
@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_answers(served: Path, dns_client: DNSClient, name: str, qtype: str, answers: list[object], proto: str) -> None:
    r = dns_client.query(name, qtype, proto=proto)
    assert r.header.rcode == dnslib.RCODE.NOERROR and r.header.aa == 1
    assert _answers(r) == answers
    assert r.auth == [] and r.ar == []


def test_the_name_is_answered_as_asked(served: Path, dns_client: DNSClient) -> None:
    r = dns_client.query("WwW.ExAmPlE.oRg", "A", edns=1232, do=True)
    assert str(r.q.qname) == "WwW.ExAmPlE.oRg." and {str(rr.rname) for rr in r.rr} == {"WwW.ExAmPlE.oRg."}
    (opt,) = r.ar
    assert opt.rtype == dnslib.QTYPE.OPT and opt.rclass == 1232


@pytest.mark.parametrize(
    ("name", "qtype", "rcode"),
    [
        pytest.param("www.example.org", "MX", dnslib.RCODE.NOERROR, id="nodata"),
        pytest.param("_udp.example.org", "SRV", dnslib.RCODE.NOERROR, id="empty-non-terminal"),
        pytest.param("nope.example.org", "A", dnslib.RCODE.NXDOMAIN, id="nxdomain"),
        pytest.param("sub.www.example.org", "A", dnslib.RCODE.NXDOMAIN, id="below-a-name"),
    ],
)
def test_denials_carry_no_soa(served: Path, dns_client: DNSClient, name: str, qtype: str, rcode: int) -> None:
    r = dns_client.query(name, qtype)
    assert (r.header.rcode, r.header.aa, r.rr, r.auth) == (rcode, 1, [], [])


def test_other_zones_and_classes_go_on(served: Path, dns_client: DNSClient) -> None:
    # Nothing after sqlite in this block: what it hands on fails as CoreDNS does, with SERVFAIL.
    assert dns_client.query("www.example.net", "A").header.rcode == dnslib.RCODE.SERVFAIL
    assert dns_client.query("www.example.org", "A", qclass="CH").header.rcode in (dnslib.RCODE.SERVFAIL,
                                                                                 dnslib.RCODE.REFUSED)


def test_fallthrough_only_for_missing_names(
    database: Databases, dns_server: ServerFactory, fake_upstream: UpstreamFactory, dns_client: DNSClient
) -> None:
    def upstream_answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("198.51.100.1"), ttl=30))
        return r

    up = fake_upstream(upstream_answer)
    path = database()
    dns_server(f".:0 {{\n    forward . {up.address}\n    sqlite {path} example.org {{\n"
               f"        fallthrough a.example.org\n    }}\n}}\n")
    assert _answers(dns_client.query("x.a.example.org", "A")) == [("x.a.example.org.", "A", 30, "198.51.100.1")]
    assert dns_client.query("x.b.example.org", "A").header.rcode == dnslib.RCODE.NXDOMAIN  # not a fallthrough zone
    assert dns_client.query("www.example.org", "MX").header.rcode == dnslib.RCODE.NOERROR  # exists: NODATA
    assert _answers(dns_client.query("www.example.net", "A")) == [("www.example.net.", "A", 30, "198.51.100.1")]
    assert [str(q.q.qname) for _, q in up.queries] == ["x.a.example.org.", "www.example.net."]


def _wait(what: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _a(dns_client: DNSClient, name: str) -> list[str]:
    return [str(rr.rdata) for rr in dns_client.query(name, "A").rr]


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "write-ahead-log"])
def test_reloaded_when_the_file_changes(
    database: Databases, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog, wal: bool
) -> None:
    path = database.write(database.folder / "live.db", [("a.example.org", "A", 60, "192.0.2.1")], wal=wal)
    dns_server(f"example.org:0 {{\n    sqlite {path} {{\n        reload 100ms\n    }}\n}}\n")
    assert _a(dns_client, "a.example.org") == ["192.0.2.1"]
    writer = sqlite3.connect(path)  # held open, as a long-running tool would: WAL writes stay in -wal
    try:
        with writer:
            writer.execute("UPDATE records SET value = '192.0.2.2'")
            writer.execute("INSERT INTO records VALUES ('b.example.org', 'A', 60, '192.0.2.3')")
        if wal:
            assert os.path.getsize(f"{path}-wal") > 0
        _wait(lambda: _a(dns_client, "b.example.org") == ["192.0.2.3"])
        assert _a(dns_client, "a.example.org") == ["192.0.2.2"]
        assert coredns_log.wait_for("Reloaded") == f"[INFO] plugin/sqlite: Reloaded {path}: 2 records"
        with writer:
            writer.execute("DELETE FROM records WHERE name = 'a.example.org'")
        _wait(lambda: dns_client.query("a.example.org", "A").header.rcode == dnslib.RCODE.NXDOMAIN)
    finally:
        writer.close()


def test_a_bad_row_is_left_out_and_named(
    database: Databases, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    path = database([("a.example.org", "A", 60, "192.0.2.1"), ("b.example.org", "A", 60, "not an address"),
                     ("c.example.net", "A", 60, "192.0.2.3")])
    dns_server(f"example.org:0 {{\n    sqlite {path}\n}}\n")
    assert _a(dns_client, "a.example.org") == ["192.0.2.1"]
    assert dns_client.query("b.example.org", "A").header.rcode == dnslib.RCODE.NXDOMAIN
    assert [line for line in coredns_log.lines if "plugin/sqlite" in line] == [
        f"[WARNING] plugin/sqlite: {path}: row 2: bad A value 'not an address': left out",
        f"[WARNING] plugin/sqlite: {path}: c.example.net. is not in the zones example.org.: left out",
    ]


def test_a_database_that_cannot_be_read_at_startup(database: Databases, dns_server: ServerFactory) -> None:
    # A view that passes setup's check (no row is computed) but fails when its rows are read.
    path = database.folder / "view.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE VIEW records AS SELECT 'a.example.org' AS name, 'A' AS type,"
                   " abs(-9223372036854775808) AS ttl, '192.0.2.1' AS value")
    db.close()
    with pytest.raises(PyCoreDNSError) as e:
        dns_server(f"example.org:0 {{\n    sqlite {path}\n}}\n")
    assert str(e.value) == f"plugin/sqlite: cannot read table 'records' of {path}: integer overflow"


def _samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    body, _ = asyncio.run(exposition())  # what /metrics serves
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_a_broken_file_keeps_the_records_served(
    database: Databases, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    path = database([("a.example.org", "A", 60, "192.0.2.1")], name="breaks.db")
    dns_server(f"example.org:0 {{\n    sqlite {path} {{\n        reload 100ms\n    }}\n}}\n")
    before = _samples("coredns_sqlite_reload_failures_total").get((("database", str(path)),), 0.0)
    path.write_bytes(b"not a database any more\n" * 100)
    line = coredns_log.wait_for("[ERROR] plugin/sqlite")
    assert line.startswith(f"[ERROR] plugin/sqlite: cannot read table 'records' of {path}: ")
    assert line.endswith("; still serving the last 1 records read")
    assert _a(dns_client, "a.example.org") == ["192.0.2.1"]
    assert _samples("coredns_sqlite_reload_failures_total")[(("database", str(path)),)] >= before + 1


def test_metrics(database: Databases, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    path = database(name="metrics.db")
    dns_server(f"example.org:0 in-addr.arpa:0 {{\n    sqlite {path} {{\n        fallthrough\n    }}\n    whoami\n}}\n")
    # The registry is the process's, and every test's server is labelled dns://:0: count the change.
    before = _samples("coredns_sqlite_lookups_total")
    for name, qtype in [("www.example.org", "A"), ("www.example.org", "A"), ("www.example.org", "MX"),
                        ("nope.example.org", "A"), ("10.2.0.192.in-addr.arpa", "PTR")]:
        dns_client.query(name, qtype)
    after = _samples("coredns_sqlite_lookups_total")
    changed = {(dict(k)["result"], dict(k)["zone"], dict(k)["server"]): v - before.get(k, 0)
               for k, v in after.items() if v != before.get(k, 0)}
    assert changed == {
        ("answer", "example.org.", "dns://:0"): 2,
        ("nodata", "example.org.", "dns://:0"): 1,
        ("fallthrough", "example.org.", "dns://:0"): 1,
        ("answer", "in-addr.arpa.", "dns://:0"): 1,
    }
    assert _samples("coredns_sqlite_entries")[(("database", str(path)),)] == 10
    assert _samples("coredns_sqlite_reload_timestamp_seconds")[(("database", str(path)),)] > time.time() - 60
