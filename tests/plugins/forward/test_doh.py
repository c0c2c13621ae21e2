"""forward to DNS-over-HTTPS upstreams: a hypercorn server with the test's own CA, over HTTP/2
and HTTP/1.1, POST and GET, with health checks and failover."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query, running_server

from .doh_server import doh_server, make_pki

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command-line tool")
pytest.importorskip("hypercorn")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("doh-pki"))


def _a(port: int, name: str = "doh.example.org", proto: str = "udp") -> list[str]:
    r = query(name, "A", port, proto=proto, timeout=5)
    return [str(rr.rdata) for rr in r.rr]


@pytest.mark.parametrize(("alpn", "version"), [(["h2", "http/1.1"], "2"), (["http/1.1"], "1.1")],
                         ids=["http2", "http1.1"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_doh_upstream_answers(pki: Path, alpn: list[str], version: str, method: str) -> None:
    with doh_server(pki, alpn) as up:
        block = f" {{\n  tls {pki / 'ca.pem'}\n  doh_method {method}\n }}"
        text = f".:0 {{\n forward . https://127.0.0.1:{up.port}{block}\n}}\n"
        with running_server(text) as s:
            assert _a(s.port) == ["192.0.2.53"]
            assert _a(s.port, "two.example.org", "tcp") == ["192.0.2.53"]  # on the kept connection
            r = query("doh.example.org", "AAAA", s.port)
            assert r.header.rcode == 0 and not r.rr
    queries = [x for x in up.seen if x.query.q.qtype != dnslib.QTYPE.NS]
    assert [x.http_version for x in queries] == [version] * 3
    assert {(x.method, x.path) for x in queries} == {(method, "/dns-query")}
    for x in queries:
        assert x.query.header.id == 0  # RFC 8484
        assert x.headers["accept"] == "application/dns-message"
        assert x.headers["content-type"] == "application/dns-message"
        assert x.headers.get("host", x.headers.get(":authority")) == f"127.0.0.1:{up.port}"


def test_http2_carries_concurrent_queries_on_one_connection(pki: Path) -> None:
    import concurrent.futures

    with doh_server(pki, ["h2", "http/1.1"]) as up:
        text = f".:0 {{\n forward . https://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n }}\n}}\n"
        with running_server(text) as s:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                got = list(pool.map(lambda i: _a(s.port, f"c{i}.example.org"), range(40)))
            assert got == [["192.0.2.53"]] * 40
            proxy = s.app.server.instance.configs[0].handlers[0].proxies[0]  # type: ignore[attr-defined]
            assert len([c for c in proxy._conns if not c.closed]) == 1


def test_a_connection_that_leaves_a_query_unanswered_is_replaced(pki: Path) -> None:
    # This hypercorn answers two requests per connection and leaves later ones hanging.
    with doh_server(pki, ["h2"], max_requests=2) as up:
        text = f".:0 {{\n forward . https://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n }}\n}}\n"
        with running_server(text) as s:
            assert _a(s.port, "one.example.org") == ["192.0.2.53"]
            assert _a(s.port, "two.example.org") == ["192.0.2.53"]
            started = time.monotonic()
            assert _a(s.port, "three.example.org") == ["192.0.2.53"]  # after the 2 s request timeout
            assert 1.9 < time.monotonic() - started < 4.5
            assert _a(s.port, "four.example.org") == ["192.0.2.53"]  # on the new connection at once
            proxy = s.app.server.instance.configs[0].handlers[0].proxies[0]  # type: ignore[attr-defined]
            assert len([c for c in proxy._conns if not c.closed]) == 1


def test_tls_servername_is_sent_and_verified(pki: Path) -> None:
    with doh_server(pki, ["h2"]) as up:
        good = (f".:0 {{\n forward . https://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n"
                f"  tls_servername doh.test\n }}\n}}\n")
        with running_server(good) as s:
            assert _a(s.port) == ["192.0.2.53"]
        bad = (f".:0 {{\n forward . https://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n"
               f"  tls_servername other.test\n  max_fails 0\n }}\n}}\n")
        with running_server(bad) as s:
            assert query("doh.example.org", "A", s.port, timeout=10).header.rcode == dnslib.RCODE.SERVFAIL


def test_an_untrusted_certificate_fails(pki: Path) -> None:
    with doh_server(pki, ["h2"]) as up:
        text = f".:0 {{\n forward . https://127.0.0.1:{up.port} {{\n  max_fails 0\n }}\n}}\n"
        with running_server(text) as s:  # the system's roots do not know the test CA
            assert query("doh.example.org", "A", s.port, timeout=10).header.rcode == dnslib.RCODE.SERVFAIL


def test_health_check_fails_over_and_recovers(pki: Path) -> None:
    with doh_server(pki, ["h2"], "192.0.2.1") as first, doh_server(pki, ["http/1.1"], "192.0.2.2") as second:
        text = (f".:0 {{\n forward . https://127.0.0.1:{first.port} https://127.0.0.1:{second.port} {{\n"
                f"  tls {pki / 'ca.pem'}\n  policy sequential\n  max_fails 1\n  health_check 100ms\n }}\n}}\n")
        with running_server(text) as s:
            assert _a(s.port, "a.example.org") == ["192.0.2.1"]
            first.status = 503  # the first upstream breaks: its answers and its health checks fail
            assert _a(s.port, "b.example.org") == ["192.0.2.2"]  # the same query went on to the second
            proxy = s.app.server.instance.configs[0].handlers[0].proxies[0]  # type: ignore[attr-defined]
            end = time.monotonic() + 5
            while not proxy.down(1) and time.monotonic() < end:
                time.sleep(0.05)
            assert proxy.down(1)  # two failed checks (max_fails 1): down, and no longer asked
            checks = [x for x in first.seen if x.query.q.qtype == dnslib.QTYPE.NS]
            assert checks and all(x.method == "POST" and str(x.query.q.qname) == "." for x in checks)
            asked = len([x for x in first.seen if x.query.q.qtype == dnslib.QTYPE.A])
            assert [_a(s.port, f"d{i}.example.org") for i in range(3)] == [["192.0.2.2"]] * 3
            assert len([x for x in first.seen if x.query.q.qtype == dnslib.QTYPE.A]) == asked
            first.status = 200  # healthy again: the next check clears it, sequential goes back to it
            end = time.monotonic() + 5
            while proxy.down(1) and time.monotonic() < end:
                time.sleep(0.05)
            assert not proxy.down(1)
            assert _a(s.port, "c.example.org") == ["192.0.2.1"]


def test_metrics_are_the_other_transports(pki: Path) -> None:
    import re

    from pycoredns.plugin import exposition

    with doh_server(pki, ["h2"]) as up:
        to = f"127.0.0.1:{up.port}"
        text = f".:0 {{\n forward . https://{to} {{\n  tls {pki / 'ca.pem'}\n }}\n}}\n"
        with running_server(text) as s:
            _a(s.port)
            up.status = 500
            query("m.example.org", "A", s.port, timeout=10)
            end = time.monotonic() + 5
            while True:  # the health check runs after the failed exchange
                body = s.call(exposition())[0].decode()
                failures = [ln for ln in body.splitlines() if "healthcheck_failures_total" in ln and to in ln]
                if failures or time.monotonic() > end:
                    break
                time.sleep(0.05)
    count = re.search(r'coredns_proxy_request_duration_seconds_count\{proxy_name="forward",rcode="NOERROR",'
                      rf'to="{re.escape(to)}"\}} (\S+)', body)
    assert count is not None and float(count.group(1)) >= 1
    assert re.search(rf'coredns_proxy_healthcheck_failures_total\{{proxy_name="forward",to="{re.escape(to)}"\}} '
                     r'[1-9]', body)
    assert f'to="{to}"' not in "".join(line for line in body.splitlines() if "conn_cache" in line)


@pytest.mark.parametrize(("fault", "rcode"), [("wrong_question", dnslib.RCODE.FORMERR),
                                              ("garbage", dnslib.RCODE.SERVFAIL)])
def test_a_bad_reply_body_gets_the_outcome_of_the_other_transports(pki: Path, fault: str, rcode: int) -> None:
    # As over UDP and TCP (tests/plugins/forward/test_upstream_faults.py): a reply for another
    # question is FORMERR, one that does not unpack fails the attempt (both attempts: SERVFAIL),
    # and neither reaches the cache.
    with doh_server(pki, ["h2"]) as up:
        up.fault = fault
        text = (f".:0 {{\n cache\n forward . https://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n"
                f"  max_fails 0\n }}\n}}\n")
        with running_server(text) as s:
            r = query("bad.example.org", "A", s.port, timeout=10)
            assert r.header.rcode == rcode and not r.rr
            asked = [x for x in up.seen if x.query.q.qtype == dnslib.QTYPE.A]
            assert len(asked) == (1 if fault == "wrong_question" else 2)
            up.fault = None
            assert _a(s.port, "bad.example.org") == ["192.0.2.53"]  # asked again: nothing was cached
            assert len([x for x in up.seen if x.query.q.qtype == dnslib.QTYPE.A]) == len(asked) + 1
