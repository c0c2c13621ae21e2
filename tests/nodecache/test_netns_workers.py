"""node-cache with ``-workers 2``, run with the canonical manifest's args inside a namespace.

The network setup (interface, 24 rules) and the teardown belong to the supervisor: each happens
once. A worker killed with SIGKILL leaves the other one answering every name until it is back,
and a Corefile reload under dnsperf load loses no query.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pycoredns.testing import fixed_port, query
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


def _start(ns: Netns, tmp: Path, metrics_port: int, *extra: str) -> subprocess.Popen[bytes]:
    mount_configmap(tmp / "coredns", {"Corefile.base": manifest_template()})
    mount_configmap(tmp / "kube-dns", {})
    p = ns.popen([NODE_CACHE, *canonical_args(tmp, metrics_port, "-workers", "2", *extra)],
                 tmp / "node-cache.log", ENV)
    ok = wait_until(lambda: (tmp / "node-cache.pid").exists() or p.poll() is not None, 60)
    assert ok and p.poll() is None, (tmp / "node-cache.log").read_text()
    return p


def _workers(pid: int) -> list[int]:
    return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _answers(ns: Netns, names: list[str], server: str = LOCAL_DNS) -> list[str]:
    def ask() -> list[str]:
        return [str(rr.rdata) for n in names for rr in query(n, "A", 53, host=server, timeout=3).rr]

    return ns.call(ask)


def _http(ns: Netns, url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as r:
            return str(r.read().decode())

    return ns.call(get)


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def test_canonical_args_with_two_workers(tmp_path: Path) -> None:
    metrics_port = fixed_port()
    with Netns() as ns:
        ns.start_upstreams(tmp_path)
        p = _start(ns, tmp_path, metrics_port)
        log_path = tmp_path / "node-cache.log"
        try:
            assert wait_until(lambda: len(ns.rules()) == 24, 30), ns.rules()
            kids = _workers(p.pid)
            assert len(kids) == 2
            names = [f"svc{i}.default.svc.cluster.local" for i in range(20)]
            for server in (LOCAL_DNS, KUBE_DNS):
                assert _answers(ns, names, server) == ["10.1.2.3"] * len(names)

            # One process to the outside: both endpoints count every query of both workers.
            for url in ("http://127.0.0.1:9253/metrics", f"http://127.0.0.1:{metrics_port}/metrics"):
                text = _http(ns, url)
                assert _metric(text, "coredns_dns_requests_total") >= 2 * len(names)
                assert 'coredns_nodecache_setup_errors_total{errortype="iptables"} 0.0' in text
                assert _metric(text, "coredns_workers") == 2

            # A worker killed: the other answers every name, and it comes back.
            victim = kids[1]
            os.kill(victim, signal.SIGKILL)
            # Reaped: every thread gone, its sockets closed (a query queued there would be lost).
            assert wait_until(lambda: f"(PID {victim}) died" in log_path.read_text(), 10)
            assert _answers(ns, names) == ["10.1.2.3"] * len(names)
            assert wait_until(lambda: "Worker 1 started again" in log_path.read_text(), 30)
            assert len(_workers(p.pid)) == 2 and victim not in _workers(p.pid)
            assert _answers(ns, names) == ["10.1.2.3"] * len(names)
            assert len(ns.rules()) == 24
        finally:
            code = stop(p)
        log = log_path.read_text()
        assert code == 0, log
        # Set up once, torn down once, by the supervisor.
        assert log.count("Added back nodelocaldns rule") == 24, log
        assert log.count("Added interface - nodelocaldns") == 1, log
        assert log.count("Tearing down") == 1, log
        assert log.count("SIGTERM: Shutting down servers then terminating") == 1
        assert ns.rules() == []
        assert ns.interface_addresses() is None
        for pid in _workers(p.pid) if not _gone(p.pid) else []:
            assert _gone(pid)


@pytest.mark.skipif(shutil.which("dnsperf") is None, reason="needs dnsperf")
def test_reload_under_dnsperf_with_two_workers_loses_no_query(tmp_path: Path) -> None:
    names = [f"svc{i}.default.svc.cluster.local A" for i in range(50)] + [f"h{i}.example.com A" for i in range(50)]
    (tmp_path / "queries.txt").write_text("\n".join(names) + "\n")
    with Netns() as ns:
        ns.start_upstreams(tmp_path)
        p = _start(ns, tmp_path, fixed_port(), "-reloadwithsignal")
        try:
            assert wait_until(lambda: len(ns.rules()) == 24, 30)
            perf = ns.popen(["dnsperf", "-s", LOCAL_DNS, "-d", str(tmp_path / "queries.txt"), "-l", "8",
                             "-Q", "500", "-t", "5"], tmp_path / "dnsperf.out")
            time.sleep(1.5)
            # A ConfigMap change: the Corefile is written again and every worker reloads.
            mount_configmap(tmp_path / "kube-dns", {"stubDomains": f'{{"acme.local": ["{STUB_SERVER}"]}}'})

            def stub_answers() -> bool:
                try:
                    return _answers(ns, [f"w{i}.acme.local" for i in range(8)]) == ["192.0.2.70"] * 8
                except Exception:
                    return False

            assert wait_until(stub_answers, 15, 0.25), (tmp_path / "node-cache.log").read_text()
            os.kill(p.pid, signal.SIGUSR1)  # and once more by hand, still under load
            assert perf.wait(60) == 0
        finally:
            code = stop(p)
        out = (tmp_path / "dnsperf.out").read_text()
        sent = re.search(r"Queries sent:\s+(\d+)", out)
        assert sent and int(sent.group(1)) > 2000, out
        assert re.search(r"Queries lost:\s+0 \(", out), out
        log = (tmp_path / "node-cache.log").read_text()
        assert "Sending reload signal to PID" in log
        assert code == 0, log
