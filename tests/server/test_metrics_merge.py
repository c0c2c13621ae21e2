"""The workers' metrics added up into one /metrics: snapshot, merge, render."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from pycoredns import metrics


def worker_registry(requests: int, entries: int, hosts: int, start: float) -> CollectorRegistry:
    reg = CollectorRegistry()
    c = Counter("coredns_dns_requests_total", "Requests.", ["server", "proto"], registry=reg)
    c.labels("dns://:53", "udp").inc(requests)
    c.labels("dns://:53", "tcp").inc(1)
    h = Histogram("coredns_dns_request_duration_seconds", "Duration.", buckets=(0.001, 0.01), registry=reg)
    for _ in range(requests):
        h.observe(0.0005)
    Gauge("coredns_cache_entries", "Entries.", registry=reg).set(entries)
    Gauge("coredns_test_hosts_entries", "Entries of a file every worker reads.", registry=reg).set(hosts)
    Gauge("coredns_build_info", "Build.", ["version"], registry=reg).labels("1.14.7").set(1)
    Gauge("process_start_time_seconds", "Start.", registry=reg).set(start)
    return reg


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_histograms_and_gauges_add_up_info_and_declared_ones_do_not() -> None:
    metrics.gauge_merge("coredns_test_hosts_entries", "max")
    a = metrics.snapshot(worker_registry(10, 4, 7, 100.0))
    b = metrics.snapshot(worker_registry(5, 3, 7, 50.0))
    body, content_type = metrics.render(metrics.merge([a, b]))
    assert content_type.startswith("text/plain")
    got = samples(body.decode())
    assert got[("coredns_dns_requests_total", (("proto", "udp"), ("server", "dns://:53")))] == 15
    assert got[("coredns_dns_requests_total", (("proto", "tcp"), ("server", "dns://:53")))] == 2
    assert got[("coredns_dns_request_duration_seconds_count", ())] == 15
    assert got[("coredns_dns_request_duration_seconds_bucket", (("le", "0.001"),))] == 15
    assert got[("coredns_cache_entries", ())] == 7  # one logical cache: the workers' entries add up
    assert got[("coredns_test_hosts_entries", ())] == 7  # declared alike in every worker: max
    assert got[("coredns_build_info", (("version", "1.14.7"),))] == 1  # *_info: max
    assert got[("process_start_time_seconds", ())] == 50.0  # the first start
    # The same families as one worker's, in the same order.
    assert [f.name for f in text_string_to_metric_families(body.decode())] == [
        f.name for f in text_string_to_metric_families(metrics.render(a)[0].decode())
    ]


def test_what_a_dead_worker_counted_keeps_counters_only() -> None:
    snap = metrics.snapshot(worker_registry(10, 4, 7, 100.0))
    kept = {f[0] for f in metrics.additive(snap)}
    assert kept == {"coredns_dns_requests", "coredns_dns_request_duration_seconds"}


def test_openmetrics_when_asked() -> None:
    snap = metrics.snapshot(worker_registry(1, 1, 1, 1.0))
    body, content_type = metrics.render(snap, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
