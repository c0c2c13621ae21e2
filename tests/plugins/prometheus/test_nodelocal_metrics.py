"""The node-local-dns Corefile (corefiles/node-local-dns.Corefile, as nodecache.md 5.1) loads and its
shared metrics endpoint serves the families a node-local-dns dashboard reads.

Placeholders are filled with loopback addresses (127.0.0.1 for the link-local address, 127.0.0.2 as
the kube-dns Service IP stand-in) and free ports; ``prometheus :9253`` keeps its all-interfaces form
on a free port, scraped over 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.http import http_get, scrape

COREFILE = Path(__file__).resolve().parents[3] / "corefiles" / "node-local-dns.Corefile"

# What the node-local-dns dashboards (and the kube-prometheus mixin) chart.
DASHBOARD_FAMILIES = {
    "coredns_build_info": "gauge",
    "coredns_plugin_enabled": "gauge",
    "coredns_panics": "counter",
    "coredns_dns_requests": "counter",
    "coredns_dns_responses": "counter",
    "coredns_dns_request_duration_seconds": "histogram",
    "coredns_dns_request_size_bytes": "histogram",
    "coredns_dns_response_size_bytes": "histogram",
    "coredns_cache_entries": "gauge",
    "coredns_cache_hits": "counter",
    "coredns_cache_misses": "counter",
    "coredns_cache_requests": "counter",
    "coredns_forward_healthcheck_broken": "counter",
    "coredns_proxy_request_duration_seconds": "histogram",
    "coredns_health_request_duration_seconds": "histogram",
    "coredns_health_request_failures": "counter",
    "coredns_reload_failed": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
}


def test_node_local_dns_corefile_metrics(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    cluster, upstream = fake_upstream(), fake_upstream()
    text = (
        COREFILE.read_text()
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace("__PILLAR__LOCAL__DNS__:8080", "127.0.0.1:0")
        .replace("__PILLAR__LOCAL__DNS__", "127.0.0.1")
        .replace("__PILLAR__DNS__SERVER__", "127.0.0.2")
        .replace("__PILLAR__CLUSTER__DNS__", cluster.address)
        .replace("__PILLAR__UPSTREAM__SERVERS__", upstream.address)
        .replace(":53 {", ":0 {")
        .replace("prometheus :9253", "prometheus :0")
    )
    assert "__PILLAR__" not in text
    rs = dns_server(text)
    dns, dns2 = rs.port_of("127.0.0.1"), rs.port_of("127.0.0.2")
    for name in ("kubernetes.default.svc.cluster.local", "kubernetes.default.svc.cluster.local",
                 "example.org", "1.0.0.10.in-addr.arpa"):
        dns_client.query(name, "PTR" if name.endswith("arpa") else "A", dns)
    dns_client.query("example.org", "A", dns2, host="127.0.0.2")
    assert http_get(f"http://127.0.0.1:{rs.http_port('127.0.0.1:0')}/health") == (200, "OK")
    fams = scrape(rs.http_port(":0"))

    for name, kind in DASHBOARD_FAMILIES.items():
        assert name in fams, name
        assert fams[name].type == kind, name
    servers = {s.labels["server"] for s in fams["coredns_dns_requests"].samples}
    assert {"dns://127.0.0.1:0", "dns://127.0.0.2:0"} <= servers  # the Corefile's addresses
    zones = {s.labels["zone"] for s in fams["coredns_dns_requests"].samples}
    assert {"cluster.local.", ".", "in-addr.arpa."} <= zones
    plugins = {s.labels["plugin"] for s in fams["coredns_dns_responses"].samples}
    assert {"cache", "forward"} <= plugins
    enabled = {(s.labels["zone"], s.labels["name"]) for s in fams["coredns_plugin_enabled"].samples}
    for zone in ("cluster.local.", "in-addr.arpa.", "ip6.arpa.", "."):
        for plugin in ("errors", "cache", "loop", "forward", "prometheus"):
            assert (zone, plugin) in enabled, (zone, plugin)
