"""/metrics over real HTTP after real queries: families, labels, counts, exposition format."""

from __future__ import annotations

import socket

from prometheus_client.metrics_core import Metric

from pycoredns import COREDNS_VERSION
from pycoredns.testing import DNSClient, loopback_address
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.http import http_get, scrape


def _value(families: dict[str, Metric], name: str, sample: str, **labels: str) -> float:
    total = 0.0
    for s in families[name].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


METRICS = "127.0.0.1:0"


def _hosts_of_a_test() -> tuple[str, str]:
    """Two listeners on loopback addresses of this test's own: their ports are the kernel's picks
    (port 0), so the ``server`` label (``dns://HOST:0``) tells this test's counts apart by address."""
    return loopback_address(), loopback_address()


def _corefile(host: str, other: str, upstream: str, cache: bool = True) -> str:
    return (
        f"example.org:0 {{\n    bind {host}\n    whoami\n    prometheus {METRICS}\n}}\n"
        f".:0 {{\n    bind {host}\n    forward . {upstream}\n" + ("    cache\n" if cache else "")
        + f"    prometheus {METRICS}\n}}\n"
        f"example.com:0 {{\n    bind {other}\n    whoami\n    prometheus {METRICS}\n}}\n"
    )


def test_scrape_after_queries(fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    host, other_host = _hosts_of_a_test()
    up = fake_upstream()
    s = dns_server(_corefile(host, other_host, up.address))
    dns, other, metrics = s.port_of(host), s.port_of(other_host), s.http_port(METRICS)
    for _ in range(2):
        dns_client.query("www.example.org", "A", dns, host=host)
    dns_client.query("www.example.org", "AAAA", dns, proto="tcp", host=host)
    dns_client.query("a.example.net", "A", dns, host=host)  # forwarded
    dns_client.query("a.example.net", "A", dns, host=host)  # the cache's fast answer
    dns_client.query("a.example.net", "MX", dns, do=True, host=host)  # forwarded, DO bit
    dns_client.query("nothere.net", "A", other, host=other_host)  # no zone on that listener: REFUSED, zone "dropped"
    fams = scrape(metrics)

    server, other_server = f"dns://{host}:0", f"dns://{other_host}:0"
    assert _value(fams, "coredns_dns_requests", "coredns_dns_requests_total", server=server,
                  zone="example.org.", proto="udp", family="1", type="A") == 2
    assert _value(fams, "coredns_dns_requests", "coredns_dns_requests_total", server=server,
                  zone="example.org.", proto="tcp", type="AAAA") == 1
    assert _value(fams, "coredns_dns_requests", "coredns_dns_requests_total", server=server, zone=".",
                  type="A") == 2
    assert _value(fams, "coredns_dns_requests", "coredns_dns_requests_total", server=server, zone=".",
                  type="MX") == 1
    assert _value(fams, "coredns_dns_do_requests", "coredns_dns_do_requests_total", server=server, zone=".") == 1
    assert _value(fams, "coredns_dns_responses", "coredns_dns_responses_total", server=server,
                  zone="example.org.", rcode="NOERROR", plugin="whoami") == 3
    assert _value(fams, "coredns_dns_responses", "coredns_dns_responses_total", server=server, zone=".",
                  plugin="forward") == 2
    assert _value(fams, "coredns_dns_responses", "coredns_dns_responses_total", server=server, zone=".",
                  plugin="cache") == 1
    assert _value(fams, "coredns_dns_requests", "coredns_dns_requests_total", server=other_server,
                  zone="dropped") == 1
    assert _value(fams, "coredns_dns_responses", "coredns_dns_responses_total", server=other_server,
                  zone="dropped", rcode="REFUSED", plugin="") == 1
    # Histograms: every observation lands in +Inf; the count matches the requests.
    assert _value(fams, "coredns_dns_request_duration_seconds", "coredns_dns_request_duration_seconds_count",
                  server=server, zone=".") == 3
    assert _value(fams, "coredns_dns_request_duration_seconds", "coredns_dns_request_duration_seconds_bucket",
                  server=server, zone=".", le="+Inf") == 3
    for family in ("coredns_dns_request_size_bytes", "coredns_dns_response_size_bytes"):
        assert _value(fams, family, family + "_count", server=server, zone="example.org.", proto="udp") == 2
        assert fams[family].type == "histogram"
    assert fams["coredns_dns_request_duration_seconds"].type == "histogram"

    info = fams["coredns_build_info"].samples[0]
    assert info.labels["version"] == COREDNS_VERSION and info.labels["revision"] == ""
    assert info.labels["goversion"].startswith("python3.")
    assert fams["coredns_panics"].type == "counter"
    enabled = {(s.labels["server"], s.labels["zone"], s.labels["name"]) for s in fams["coredns_plugin_enabled"].samples}
    assert {(server, "example.org.", "whoami"), (server, "example.org.", "prometheus"), (server, ".", "forward"),
            (server, ".", "cache"), (server, ".", "prometheus")} <= enabled
    assert "process_resident_memory_bytes" in fams


def test_reload_keeps_endpoint_and_counts_and_resets_plugin_enabled(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    host, other_host = _hosts_of_a_test()
    up = fake_upstream()
    s = dns_server(_corefile(host, other_host, up.address))
    dns, metrics = s.port_of(host), s.http_port(METRICS)
    dns_client.query("www.example.org", "A", dns, host=host)
    before = scrape(metrics)
    assert ("cache" in {x.labels["name"] for x in before["coredns_plugin_enabled"].samples})
    assert s.reload(_corefile(host, other_host, up.address, cache=False))
    assert (s.port_of(host), s.http_port(METRICS)) == (dns, metrics)  # both kept across the reload
    dns_client.query("www.example.org", "A", dns, host=host)
    after = scrape(metrics)
    names = {x.labels["name"] for x in after["coredns_plugin_enabled"].samples
             if x.labels["server"] == f"dns://{host}:0"}
    assert "cache" not in names and "forward" in names
    assert _value(after, "coredns_dns_requests", "coredns_dns_requests_total", server=f"dns://{host}:0",
                  zone="example.org.") == 2


def test_reload_failing_after_startup_restores_plugin_enabled(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    host, other_host = _hosts_of_a_test()
    blocked = loopback_address()
    up = fake_upstream()
    s = dns_server(_corefile(host, other_host, up.address))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((blocked, 0))  # no SO_REUSEPORT: the reloaded server cannot bind this port
        metrics = s.http_port(METRICS)
        before = {tuple(x.labels.items()) for x in scrape(metrics)["coredns_plugin_enabled"].samples}
        # Every plugin sets up and starts (the gauge is reset and filled), then a listener fails.
        broken = _corefile(host, other_host, up.address, cache=False) + (
            f"example.net:{holder.getsockname()[1]} {{\n    bind {blocked}\n    whoami\n"
            f"    prometheus {METRICS}\n}}\n"
        )
        assert not s.reload(broken)
        after = {tuple(x.labels.items()) for x in scrape(metrics)["coredns_plugin_enabled"].samples}
    assert ("cache" in {dict(x)["name"] for x in before}) and after == before
    assert dns_client.query("www.example.org", "A", s.port_of(host), host=host).header.rcode == 0


def test_endpoint_answers_404_elsewhere_and_closes_with_the_server(
    dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    s = dns_server(f".:0 {{\n    whoami\n    prometheus {METRICS}\n}}\n")
    dns, metrics = s.port, s.http_port(METRICS)
    assert http_get(f"http://127.0.0.1:{metrics}/nope")[0] == 404
    raw = dns_client.raw_query(b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", dns)  # no question: FORMERR
    assert raw[3] & 0xF == 1
    fams = scrape(metrics)
    assert _value(fams, "coredns_dns_responses", "coredns_dns_responses_total", zone="dropped",
                  rcode="FORMERR") >= 1
    dns_server.close()  # the endpoint goes with the server
    try:
        status = http_get(f"http://127.0.0.1:{metrics}/metrics", timeout=2)[0]
    except OSError:
        status = 0
    assert status == 0
