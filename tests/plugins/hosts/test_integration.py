"""hosts through a real server: answers from a temporary hosts file, then from its new content."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import generate_latest

from pycoredns.metrics import REGISTRY
from pycoredns.plugins.hosts import metrics
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory


def _a(client: DNSClient, name: str, proto: str = "udp") -> list[str]:
    return [str(rr.rdata) for rr in client.query(name, "A", proto=proto).rr]


def test_answers_and_reloads_after_change(tmp_path: Path, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 web.example.org\n")
    corefile = (
        f"example.org:0 {{\n hosts {path} {{\n  10.0.0.99 inline.example.org\n"
        "  reload 100ms\n }\n}\n"
    )
    dns_server(corefile)
    assert _a(dns_client, "web.example.org.") == ["10.0.0.1"]
    assert _a(dns_client, "inline.example.org.", "tcp") == ["10.0.0.99"]
    assert dns_client.query("nope.example.org.", "A").header.rcode == 2
    ptr = dns_client.query("1.0.0.10.in-addr.arpa.", "PTR")
    assert ptr.header.rcode == 5  # reverse zone not served by this block: refused
    assert metrics.entries(str(path)) == 4.0  # two names (A + PTR each)

    path.write_text("10.0.0.2 web.example.org\n10.0.0.3 new.example.org\n")
    # Make sure the change is visible even on a filesystem with coarse timestamps.
    later = time.time() + 2
    os.utime(path, (later, later))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _a(dns_client, "web.example.org.") != ["10.0.0.2"]:
        time.sleep(0.05)
    assert _a(dns_client, "web.example.org.") == ["10.0.0.2"]
    assert _a(dns_client, "new.example.org.") == ["10.0.0.3"]
    assert metrics.reload_timestamp() == os.stat(path).st_mtime_ns / 1e9
    assert metrics.entries(str(path)) == 6.0
    text = generate_latest(REGISTRY).decode()
    assert f'coredns_hosts_entries{{hostsfile="{path}"}} 6.0' in text
    assert "coredns_hosts_reload_timestamp_seconds " in text


def test_fallthrough_to_next_plugin(tmp_path: Path, dns_server: ServerFactory, dns_client: DNSClient) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 web.example.org\n")
    dns_server(f".:0 {{\n hosts {path} {{\n  fallthrough\n }}\n whoami\n}}\n")
    assert _a(dns_client, "web.example.org.") == ["10.0.0.1"]
    other = dns_client.query("other.example.org.", "A")
    assert other.header.rcode == 0 and other.rr == [] and other.ar  # whoami's reply
