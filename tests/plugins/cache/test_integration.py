"""The cache in a running server, in front of a real DNS server on loopback started by the test."""

from __future__ import annotations

import time
from collections.abc import Callable

import dnslib
import pytest
from prometheus_client import generate_latest

from pycoredns.metrics import REGISTRY
from pycoredns.testing import DNSClient, FakeUpstream, RunningServer, answer_a, loopback_address
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory

CacheServer = Callable[[str], RunningServer]


@pytest.fixture
def upstream(fake_upstream: UpstreamFactory) -> FakeUpstream:
    return fake_upstream(answer_a("192.0.2.7", ttl=30))


def corefile(up: FakeUpstream, options: str = "", host: str = "") -> str:
    """A block with the cache in front of ``up``, on a port the kernel picks; a ``host`` of the
    test's own (``loopback_address()``) gives the metrics a ``server`` label of its own."""
    block = f" {{\n{options}\n    }}" if options else ""
    bind = f"    bind {host}\n" if host else ""
    return f".:0 {{\n{bind}    cache{block}\n    upstream {up.address}\n}}\n"


def wait_until(cond: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_second_query_is_a_hit_with_ttl_counted_down(
    upstream: FakeUpstream, cache_server: CacheServer, dns_client: DNSClient
) -> None:
    cache_server(corefile(upstream))
    t0 = time.monotonic()
    first = dns_client.query("example.org", "A")
    t1 = time.monotonic()
    assert first.rr[0].ttl == 30 and upstream.count() == 1
    time.sleep(1.1)  # a correctness wait: the TTL must drop by the whole seconds elapsed
    t2 = time.monotonic()
    second = dns_client.query("example.org", "A")
    t3 = time.monotonic()
    assert upstream.count() == 1
    assert str(second.rr[0].rdata) == "192.0.2.7"
    elapsed = 30 - second.rr[0].ttl
    assert int(t2 - t1) <= elapsed <= int(t3 - t0)
    assert elapsed >= 1
    assert second.header.aa == 1


def test_answer_keeps_the_question_case(
    upstream: FakeUpstream, cache_server: CacheServer, dns_client: DNSClient
) -> None:
    cache_server(corefile(upstream))
    dns_client.query("example.org", "A")
    hit = dns_client.query("ExAmPlE.org", "A", proto="tcp")
    assert upstream.count() == 1
    assert str(hit.q.qname) == "ExAmPlE.org."
    assert str(hit.rr[0].rname).lower() == "example.org."


def _nxdomain(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
    r = q.reply()
    r.header.rcode = dnslib.RCODE.NXDOMAIN
    rdata = dnslib.SOA("ns.example.org.", "root.example.org.", (1, 7200, 3600, 86400, 2))
    r.add_auth(dnslib.RR("example.org.", dnslib.QTYPE.SOA, rdata=rdata, ttl=2))
    return r


def test_negative_answer_expires_with_the_soa(
    fake_upstream: UpstreamFactory, cache_server: CacheServer, dns_client: DNSClient
) -> None:
    up = fake_upstream(_nxdomain)
    cache_server(corefile(up, "denial 1000 3600 0"))
    t0 = time.monotonic()
    first = dns_client.query("nope.example.org", "A")
    assert first.header.rcode == dnslib.RCODE.NXDOMAIN and first.auth[0].ttl == 2
    again = dns_client.query("nope.example.org", "A")
    if time.monotonic() - t0 < 1.9:  # only meaningful while the entry is surely fresh
        assert up.count() == 1
        assert again.header.rcode == dnslib.RCODE.NXDOMAIN
    time.sleep(max(0.0, 2.2 - (time.monotonic() - t0)))
    dns_client.query("nope.example.org", "A")
    assert up.count() == 2


@pytest.mark.parametrize("mode", [pytest.param("", id="immediate"), pytest.param(" verify", id="verify")])
def test_serve_stale_answers_when_upstream_is_down(
    fake_upstream: UpstreamFactory, cache_server: CacheServer, dns_client: DNSClient, mode: str
) -> None:
    up = fake_upstream(answer_a("192.0.2.8", ttl=1))
    options = f"        success 1000 3600 0\n        serve_stale 1h{mode}"
    dns_client.host = host = loopback_address()
    cache_server(corefile(up, options, host))
    assert dns_client.query("stale.example.org", "A").rr[0].ttl == 1
    up.stop()
    time.sleep(1.1)  # the entry is now expired
    stale = dns_client.query("stale.example.org", "A", timeout=5)
    assert stale.header.rcode == dnslib.RCODE.NOERROR
    assert str(stale.rr[0].rdata) == "192.0.2.8" and stale.rr[0].ttl == 0
    text = generate_latest(REGISTRY).decode()
    assert f'coredns_cache_served_stale_total{{server="dns://{host}:0",view="",zones="."}} 1.0' in text


def test_prefetch_refreshes_a_hot_entry_before_it_expires(
    fake_upstream: UpstreamFactory, cache_server: CacheServer, dns_client: DNSClient
) -> None:
    up = fake_upstream(answer_a("192.0.2.9", ttl=10))
    cache_server(corefile(up, "        prefetch 1 1m 90%"))
    dns_client.query("hot.example.org", "A")
    stored = time.monotonic()
    time.sleep(1.1)  # remaining TTL 9 <= ceil(90% of 10): the next hit prefetches
    hit = dns_client.query("hot.example.org", "A")
    assert hit.rr[0].ttl <= 9
    assert wait_until(lambda: up.count() == 2)
    assert time.monotonic() - stored < 10  # refreshed before it expired
    assert up.queries[1][0] == "udp"
    assert wait_until(lambda: dns_client.query("hot.example.org", "A").rr[0].ttl == 10, timeout=3)
    assert up.count() == 2


def test_metrics_families_and_labels(upstream: FakeUpstream, cache_server: CacheServer, dns_client: DNSClient) -> None:
    dns_client.host = host = loopback_address()
    cache_server(corefile(upstream, host=host))
    dns_client.query("m.example.org", "A")
    dns_client.query("m.example.org", "A")
    text = generate_latest(REGISTRY).decode()
    server = f"dns://{host}:0"
    plain = f'{{server="{server}",view="",zones="."}}'
    for line in (
        f'coredns_cache_entries{{server="{server}",type="success",view="",zones="."}} 1.0',
        f'coredns_cache_entries{{server="{server}",type="denial",view="",zones="."}} 0.0',
        f"coredns_cache_requests_total{plain} 2.0",
        f'coredns_cache_hits_total{{server="{server}",type="success",view="",zones="."}} 1.0',
        f"coredns_cache_misses_total{plain} 1.0",
    ):
        assert line in text
    for family in ("prefetch_total", "drops_total", "evictions_total", "served_stale_total"):
        assert f"# TYPE coredns_cache_{family} counter" in text


def test_with_the_forward_plugin(upstream: FakeUpstream, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    dns_server(f".:0 {{\n    cache {{\n        serve_stale\n    }}\n    forward . {upstream.address}\n}}\n")
    dns_client.query("fwd.example.org", "A")
    hit = dns_client.query("FWD.example.org", "A")
    assert upstream.count() == 1 and str(hit.q.qname) == "FWD.example.org."
