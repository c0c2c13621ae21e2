"""hosts through a real server: answers from a temporary hosts file, then from its new content."""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import generate_latest

from pycoredns.metrics import REGISTRY
from pycoredns.plugins.hosts import metrics
from pycoredns.testing import query, running_server


def _a(name: str, port: int, proto: str = "udp") -> list[str]:
    return [str(rr.rdata) for rr in query(name, "A", port, proto=proto).rr]


def test_answers_and_reloads_after_change(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 web.example.org\n")
    corefile = (
        f"example.org:0 {{\n hosts {path} {{\n  10.0.0.99 inline.example.org\n"
        "  reload 100ms\n }\n}\n"
    )
    with running_server(corefile) as srv:
        assert _a("web.example.org.", srv.port) == ["10.0.0.1"]
        assert _a("inline.example.org.", srv.port, "tcp") == ["10.0.0.99"]
        assert query("nope.example.org.", "A", srv.port).header.rcode == 2
        ptr = query("1.0.0.10.in-addr.arpa.", "PTR", srv.port)
        assert ptr.header.rcode == 5  # reverse zone not served by this block: refused
        assert metrics.entries(str(path)) == 4.0  # two names (A + PTR each)

        path.write_text("10.0.0.2 web.example.org\n10.0.0.3 new.example.org\n")
        # Make sure the change is visible even on a filesystem with coarse timestamps.
        later = time.time() + 2
        os.utime(path, (later, later))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _a("web.example.org.", srv.port) != ["10.0.0.2"]:
            time.sleep(0.05)
        assert _a("web.example.org.", srv.port) == ["10.0.0.2"]
        assert _a("new.example.org.", srv.port) == ["10.0.0.3"]
        assert metrics.reload_timestamp() == os.stat(path).st_mtime_ns / 1e9
        assert metrics.entries(str(path)) == 6.0
        text = generate_latest(REGISTRY).decode()
        assert f'coredns_hosts_entries{{hostsfile="{path}"}} 6.0' in text
        assert "coredns_hosts_reload_timestamp_seconds " in text


def test_fallthrough_to_next_plugin(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.0.0.1 web.example.org\n")
    corefile = f".:0 {{\n hosts {path} {{\n  fallthrough\n }}\n whoami\n}}\n"
    with running_server(corefile) as srv:
        assert _a("web.example.org.", srv.port) == ["10.0.0.1"]
        other = query("other.example.org.", "A", srv.port)
        assert other.header.rcode == 0 and other.rr == [] and other.ar  # whoami's reply
