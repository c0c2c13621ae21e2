"""The node-cache program run with the canonical manifest's args inside a network namespace.

Each test creates its own namespace with a fake kube-dns-upstream Service IP, a fake node
resolver (the namespace's resolv.conf) and a fake stub-domain nameserver, mounts the manifest's
ConfigMap template as a file, and runs ``node-cache`` exactly as the DaemonSet does (paths moved
under a temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query
from tests.nodecache.netns_kit import (
    KUBE_DNS,
    LOCAL_DNS,
    NODE_CACHE,
    STUB_SERVER,
    UPSTREAM_SVC_IP,
    Netns,
    canonical_args,
    have_netns,
    manifest_template,
    mount_configmap,
    stop,
)
from tests.processes import wait_until

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not have_netns(), reason="needs root, ip and iptables"),
    pytest.mark.timeout(240),
]

ENV = {"KUBE_DNS_UPSTREAM_SERVICE_HOST": UPSTREAM_SVC_IP, "PYCOREDNS_NODECACHE_SYNC_PERIOD": "1"}
# node-cache's metrics port: its default. The namespace is the test's own, so nothing else can
# hold the port (no picking a free port on the host, where it could be taken before the bind).
METRICS_PORT = 9353


def _prepare(tmp: Path, kube_dns: dict[str, str] | None = None) -> None:
    mount_configmap(tmp / "coredns", {"Corefile.base": manifest_template()})
    mount_configmap(tmp / "kube-dns", kube_dns or {})


def _http(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def _start(ns: Netns, tmp: Path, metrics_port: int, *extra: str) -> subprocess.Popen[bytes]:
    p = ns.popen([NODE_CACHE, *canonical_args(tmp, metrics_port, *extra)], tmp / "node-cache.log", ENV)
    ok = wait_until(lambda: (tmp / "node-cache.pid").exists() or p.poll() is not None, 60)
    assert ok and p.poll() is None, (tmp / "node-cache.log").read_text()
    return p


def _upstream_log(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def test_canonical_manifest_run(tmp_path: Path) -> None:
    _prepare(tmp_path)
    with Netns() as ns:
        upstream_log = ns.start_upstreams(tmp_path)
        p = _start(ns, tmp_path, METRICS_PORT)
        try:
            # Every placeholder filled as node-cache fills it.
            corefile = (tmp_path / "Corefile").read_text()
            assert "__PILLAR__" not in corefile and "__PROMETHEUS__" not in corefile
            assert corefile.count(f"bind {LOCAL_DNS} {KUBE_DNS}\n") == 4
            assert corefile.count(f"forward . {UPSTREAM_SVC_IP} {{\n            force_tcp\n    }}") == 3
            assert "    forward . /etc/resolv.conf\n" in corefile
            assert f"health {LOCAL_DNS}:8080" in corefile and corefile.startswith("cluster.local:53 {")

            # Rules: 12 per local IP, installed once the server listens; the interface holds both IPs.
            assert wait_until(lambda: len(ns.rules()) == 24, 30), ns.rules()
            addrs = ns.interface_addresses()
            assert addrs is not None and f"{LOCAL_DNS}/32" in addrs and f"{KUBE_DNS}/32" in addrs

            # The cluster zone goes to kube-dns-upstream over TCP, on both listen IPs.
            for server in (LOCAL_DNS, KUBE_DNS):
                r = ns.call(lambda s=server: query("kubernetes.default.svc.cluster.local", "A", 53, host=s))
                assert [str(rr.rdata) for rr in r.rr] == ["10.1.2.3"]
            cluster = [q for q in _upstream_log(upstream_log) if q[2] == "kubernetes.default.svc.cluster.local."]
            assert cluster and all(q[0] == UPSTREAM_SVC_IP and q[1] == "tcp" for q in cluster)
            # "." goes to the node's resolv.conf nameserver.
            r = ns.call(lambda: query("www.example.com", "A", 53, host=LOCAL_DNS))
            assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.60"]
            # Reverse zones go to the cluster too.
            r = ns.call(lambda: query("10.0.0.10.in-addr.arpa", "PTR", 53, host=LOCAL_DNS))
            assert r.header.rcode == dnslib.RCODE.NOERROR

            # node-cache's own metrics endpoint, the Corefile's prometheus port, and health.
            status, text = ns.call(lambda: _http(f"http://127.0.0.1:{METRICS_PORT}/metrics"))
            assert status == 200
            for t in ("iptables", "iptables_lock", "interface_add", "interface_check", "configmap"):
                assert f'coredns_nodecache_setup_errors_total{{errortype="{t}"}} 0.0' in text
            status, text = ns.call(lambda: _http("http://127.0.0.1:9253/metrics"))
            assert status == 200 and "coredns_dns_requests_total" in text
            status, text = ns.call(lambda: _http(f"http://{LOCAL_DNS}:8080/health"))
            assert (status, text) == (200, "OK")
        finally:
            code = stop(p)
        log = (tmp_path / "node-cache.log").read_text()
        assert code == 0, log
        assert "[INFO] SIGTERM: Shutting down servers then terminating" in log
        assert "Tearing down" in log
        assert "[INFO] Using Corefile " in log and "[INFO] Using Pidfile " in log
        assert "Updated Corefile with 0 custom stubdomains and upstream servers /etc/resolv.conf" in log
        assert ns.rules() == []
        assert ns.interface_addresses() is None


def _dnsperf_queries(path: Path) -> None:
    names = [f"svc{i}.default.svc.cluster.local A" for i in range(50)] + [f"host{i}.example.com A" for i in range(50)]
    path.write_text("\n".join(names) + "\n")


@pytest.mark.skipif(shutil.which("dnsperf") is None, reason="needs dnsperf")
def test_stub_domain_added_under_load_loses_no_query(tmp_path: Path) -> None:
    _prepare(tmp_path)
    _dnsperf_queries(tmp_path / "queries.txt")
    with Netns() as ns:
        ns.start_upstreams(tmp_path)
        p = _start(ns, tmp_path, METRICS_PORT, "-reloadwithsignal")
        try:
            assert wait_until(lambda: len(ns.rules()) == 24, 30)
            perf = ns.popen(["dnsperf", "-s", LOCAL_DNS, "-d", str(tmp_path / "queries.txt"), "-l", "10",
                             "-Q", "500", "-t", "5"], tmp_path / "dnsperf.out")
            time.sleep(2)
            mount_configmap(tmp_path / "kube-dns", {"stubDomains": f'{{"acme.local": ["{STUB_SERVER}"]}}'})

            def stub_answers() -> bool:
                try:
                    r = ns.call(lambda: query("www.acme.local", "A", 53, host=LOCAL_DNS, timeout=2))
                except Exception:
                    return False
                return [str(rr.rdata) for rr in r.rr] == ["192.0.2.70"]

            # One 1 s poll plus the reload; generous for a loaded machine.
            assert wait_until(stub_answers, 15, 0.25), (tmp_path / "node-cache.log").read_text()
            assert perf.wait(60) == 0
        finally:
            code = stop(p)
        out = (tmp_path / "dnsperf.out").read_text()
        sent = re.search(r"Queries sent:\s+(\d+)", out)
        assert sent and int(sent.group(1)) > 1000, out
        assert re.search(r"Queries lost:\s+0 \(", out), out
        corefile = (tmp_path / "Corefile").read_text()
        assert f"\nacme.local:53 {{\n    errors\n    cache 30\n    bind {LOCAL_DNS} {KUBE_DNS}\n" in corefile
        log = (tmp_path / "node-cache.log").read_text()
        assert "Updated Corefile with 1 custom stubdomains" in log
        assert "Sending reload signal to PID" in log
        assert code == 0, log


def test_forwarding_loop_exits_with_coredns_message(tmp_path: Path) -> None:
    # The node's upstream is the cache itself: "." forwards to its own listen IP.
    _prepare(tmp_path, {"upstreamNameservers": f'["{LOCAL_DNS}"]'})
    with Netns() as ns:
        ns.start_upstreams(tmp_path)
        p = ns.popen([NODE_CACHE, *canonical_args(tmp_path, METRICS_PORT)], tmp_path / "node-cache.log", ENV)
        code = p.wait(90)
        log = (tmp_path / "node-cache.log").read_text()
        assert code == 1, log
        assert re.search(
            rf'\[FATAL\] plugin/loop: Loop \({re.escape(LOCAL_DNS)}:\d+ -> {re.escape(LOCAL_DNS)}:53\) detected '
            r'for zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO \d+\.\d+\."',
            log,
        ), log
        assert ns.rules() == [] and ns.interface_addresses() is None


def test_sigterm_during_reload_still_tears_down(tmp_path: Path) -> None:
    _prepare(tmp_path)
    with Netns() as ns:
        ns.start_upstreams(tmp_path)
        p = _start(ns, tmp_path, METRICS_PORT, "-reloadwithsignal")
        assert wait_until(lambda: len(ns.rules()) == 24, 30)
        pid = p.pid
        stop_spam = threading.Event()

        def spam_reloads() -> None:
            for _ in range(400):  # bounded: at most ~2 s of SIGUSR1s
                if stop_spam.is_set():
                    return
                try:
                    os.kill(pid, signal.SIGUSR1)
                except ProcessLookupError:
                    return
                time.sleep(0.005)

        t = threading.Thread(target=spam_reloads)
        t.start()
        time.sleep(0.5)
        stop_spam.set()
        t.join(10)
        os.kill(pid, signal.SIGTERM)  # right behind the last reload request
        code = p.wait(40)
        log = (tmp_path / "node-cache.log").read_text()
        assert code == 0, log
        assert "Tearing down" in log
        assert ns.rules() == []
        assert ns.interface_addresses() is None
