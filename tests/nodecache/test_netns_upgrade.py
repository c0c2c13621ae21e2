"""Two node-cache instances on one node: the overlapped upgrade of a DaemonSet rolling update.

A "node" namespace (the fake cluster's upstreams on lo, kube-proxy's DNAT of the kube-dns
ClusterIP 10.96.0.10 to a stand-in kube-dns) and a "pod" namespace joined to it by a veth pair.
Instance A runs with the manifest's args and ``-instancedir``; instance B starts beside it with
the same flags (its own pidfile and Corefile, as a pod has its own filesystem). dnsperf in the pod
queries 10.96.0.10 (and 169.254.20.10) while A stops: B takes every query, nothing is lost, the
rules and the interface stay; B's SIGTERM then leaves iptables-save as it was before A started.
A plain stop-and-start of one instance is measured under the same load, for comparison.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pycoredns.testing import fixed_port
from tests.netns.saves import ruleset
from tests.nodecache.netns_kit import (
    NODE_CACHE,
    UPSTREAM_SVC_IP,
    Netns,
    manifest_docs,
    mount_configmap,
    stop,
)
from tests.processes import wait_until

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("dnsperf") is None, reason="needs dnsperf"),
    pytest.mark.timeout(300),
]

ROOT = Path(__file__).resolve().parents[2]
LINK_LOCAL = "169.254.20.10"
CLUSTER_IP = "10.96.0.10"  # the kube-dns Service, DNATed by kube-proxy to KUBE_DNS
KUBE_DNS = "10.244.1.53"
POD = "10.244.0.2"
ENV = {"KUBE_DNS_UPSTREAM_SERVICE_HOST": UPSTREAM_SVC_IP}
RATE = 500  # dnsperf queries per second, per target (two targets: 1000 a second in all)


def _sed(text: str) -> str:
    """The kubernetes.io task page's sed, iptables mode, with this test's addresses."""
    return (text.replace("__PILLAR__LOCAL__DNS__", LINK_LOCAL).replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
            .replace("__PILLAR__DNS__SERVER__", CLUSTER_IP))


def _manifest() -> tuple[str, list[str]]:
    """The ConfigMap's Corefile template and the container's args, after the deploy sed."""
    docs = manifest_docs()
    template = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["Corefile"]
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    args = ds["spec"]["template"]["spec"]["containers"][0]["args"]
    return _sed(template), [_sed(a) for a in args]


@dataclass
class Node:
    ns: Netns
    pod: str
    shared: Path  # the host folder the manifest mounts for -instancedir
    tmp: Path
    metrics_port: int = 0

    def pod_run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.pod, *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def pod_popen(self, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(["ip", "netns", "exec", self.pod, *cmd], stdout=out, stderr=subprocess.STDOUT)

    def start(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        """An instance with the manifest's args (its paths in its own folder) and -instancedir."""
        home = self.tmp / name
        home.mkdir()
        template, manifest_args = _manifest()
        mount_configmap(home / "coredns", {"Corefile.base": template})
        mount_configmap(home / "kube-dns", {})
        moved = {"/etc/Corefile": str(home / "Corefile"), "/tmp/node-cache.pid": str(home / "node-cache.pid")}
        args = [moved.get(a, a) for a in manifest_args]
        args += ["-basecorefile", str(home / "coredns" / "Corefile.base"), "-kubednscm", str(home / "kube-dns"),
                 "-metrics-listen-address", f"127.0.0.1:{self.metrics_port}", "-instancedir", str(self.shared),
                 *extra]
        p = self.ns.popen([NODE_CACHE, *args], home / "node-cache.log", ENV)
        assert wait_until(lambda: (home / "node-cache.pid").exists() or p.poll() is not None, 60)
        assert p.poll() is None, self.log(name)
        return p

    def log(self, name: str) -> str:
        return (self.tmp / name / "node-cache.log").read_text()

    def dig(self, server: str, name: str) -> str:
        done = self.pod_run("dig", f"@{server}", name, "A", "+tries=1", "+time=2", "+short", timeout=20)
        return done.stdout.strip()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with Netns() as ns:
        pod = f"pcdpod-{ns.name}"
        subprocess.run(["ip", "netns", "add", pod], check=True)
        try:
            ns.ip("link", "add", "vnode", "type", "veth", "peer", "name", "vpod", "netns", pod)
            ns.ip("addr", "add", "10.244.0.1/24", "dev", "vnode")
            ns.ip("addr", "add", f"{KUBE_DNS}/32", "dev", "vnode")
            ns.ip("link", "set", "vnode", "up")
            for cmd in (["addr", "add", f"{POD}/24", "dev", "vpod"], ["link", "set", "vpod", "up"],
                        ["link", "set", "lo", "up"], ["route", "add", "default", "via", "10.244.0.1"]):
                subprocess.run(["ip", "netns", "exec", pod, "ip", *cmd], check=True)
            # kube-proxy (iptables mode): the ClusterIP DNATed to the kube-dns endpoint.
            ns.run("iptables", "-w", "5", "-t", "nat", "-N", "KUBE-SERVICES")
            ns.run("iptables", "-w", "5", "-t", "nat", "-A", "PREROUTING", "-j", "KUBE-SERVICES")
            for proto in ("udp", "tcp"):
                ns.run("iptables", "-w", "5", "-t", "nat", "-A", "KUBE-SERVICES", "-d", f"{CLUSTER_IP}/32", "-p",
                       proto, "--dport", "53", "-j", "DNAT", "--to-destination", f"{KUBE_DNS}:53")
            ns.start_upstreams(tmp_path)
            kube_dns = ns.popen([sys.executable, str(ROOT / "tests/netns/kube_dns.py"), KUBE_DNS],
                                tmp_path / "kube-dns.log")
            assert wait_until(lambda: "ready" in (tmp_path / "kube-dns.log").read_text(), 30)
            assert kube_dns.poll() is None
            n = Node(ns, pod, tmp_path / "host-run-node-local-dns", tmp_path)
            n.metrics_port = fixed_port()
            yield n
        finally:
            pids = subprocess.run(["ip", "netns", "pids", pod], capture_output=True, text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], check=False)
            subprocess.run(["ip", "netns", "del", pod], check=False)


def _queries(path: Path) -> Path:
    names = [f"svc{i}.default.svc.cluster.local A" for i in range(200)]
    path.write_text("\n".join(names) + "\n")
    return path


@dataclass
class Perf:
    sent: int
    completed: int
    lost: int
    noerror: int
    codes: str = ""  # dnsperf's "Response codes" line, for the failure message

    @classmethod
    def parse(cls, text: str) -> Perf:
        def num(rx: str) -> int:
            m = re.search(rx, text)
            assert m, text
            return int(m.group(1))

        noerror = re.search(r"NOERROR (\d+)", text)
        codes = re.search(r"Response codes:\s*(.*)", text)
        return cls(num(r"Queries sent:\s+(\d+)"), num(r"Queries completed:\s+(\d+)"),
                   num(r"Queries lost:\s+(\d+)"), int(noerror.group(1)) if noerror else 0,
                   codes.group(1).strip() if codes else "")


def _load(node: Node, target: str, seconds: int, tag: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = node.tmp / f"dnsperf-{tag}-{target}.out"
    # -q: enough queries in flight that dnsperf keeps sending at RATE through an outage; -c: eight
    # clients (source ports), as several pods; -t: glibc's timeout. The new instance's cache is
    # empty: its misses go to the upstream over TCP, a Python stand-in on a loaded machine.
    p = node.pod_popen(["dnsperf", "-s", target, "-d", str(_queries(node.tmp / "queries.txt")), "-l", str(seconds),
                        "-Q", str(RATE), "-q", "10000", "-c", "8", "-t", "5"], out)
    return p, out


def _finish(p: subprocess.Popen[bytes], out: Path) -> Perf:
    assert p.wait(60) == 0, out.read_text()
    return Perf.parse(out.read_text())


def _answered(node: Node, target: str) -> bool:
    return node.dig(target, "svc1.default.svc.cluster.local") == "10.1.2.3"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_overlapped_upgrade_loses_no_query(node: Node, workers: str) -> None:
    ns = node.ns
    before = ruleset(ns.run("iptables-save").stdout)
    a = node.start("a", "-workers", workers)
    assert wait_until(lambda: len(ns.rules()) == 24, 30), ns.rules()
    b = node.start("b", "-workers", workers)
    assert len(ns.rules()) == 24  # B found them in place: no duplicates
    assert "Joining 1 instance(s) serving on this node" in node.log("b")
    for target in (CLUSTER_IP, LINK_LOCAL):
        assert _answered(node, target)

    loads = [_load(node, target, 8, "upgrade") for target in (CLUSTER_IP, LINK_LOCAL)]
    time.sleep(2.5)
    assert stop(a) == 0, node.log("a")
    results = [_finish(*load) for load in loads]

    for perf in results:
        assert perf.sent >= 6 * RATE, perf
        assert perf.lost == 0, perf
        assert perf.noerror == perf.completed, perf  # every answer from the cache, none from kube-dns
    log_a = node.log("a")
    assert "Not tearing down: 1 other instance(s) on this node still use the interface and rules" in log_a
    assert "Tearing down" not in log_a
    assert len(ns.rules()) == 24
    assert ns.interface_addresses() is not None
    for target in (CLUSTER_IP, LINK_LOCAL):
        assert _answered(node, target)
    print(f"\noverlapped upgrade, {workers} worker(s): lost {results[0].lost} of {results[0].sent} via {CLUSTER_IP}, "
          f"{results[1].lost} of {results[1].sent} via {LINK_LOCAL}")

    # B, now alone, is the last one out: it removes everything.
    assert stop(b) == 0, node.log("b")
    assert "Tearing down" in node.log("b")
    assert ns.rules() == [] and ns.interface_addresses() is None
    assert ruleset(ns.run("iptables-save").stdout) == before
    assert not list((node.shared / "instances").iterdir())


def test_an_instance_killed_does_not_count(node: Node) -> None:
    ns = node.ns
    before = ruleset(ns.run("iptables-save").stdout)
    a = node.start("a", "-workers", "2")
    assert wait_until(lambda: len(ns.rules()) == 24, 30)
    b = node.start("b")
    load, out = _load(node, CLUSTER_IP, 6, "kill")
    time.sleep(2)
    a.kill()  # SIGKILL: no teardown, no goodbye; its workers die with it
    a.wait(10)
    perf = _finish(load, out)
    # B kept serving: the queries A held when it died may be lost, the rest are answered by B.
    assert perf.completed > 4 * RATE and perf.noerror == perf.completed, perf
    assert len(ns.rules()) == 24 and ns.interface_addresses() is not None
    assert _answered(node, CLUSTER_IP) and _answered(node, LINK_LOCAL)

    assert stop(b) == 0, node.log("b")
    log_b = node.log("b")
    assert re.search(r"Instance [0-9a-f]+ on this node is gone: its entry is removed", log_b), log_b
    assert "Tearing down" in log_b
    assert ns.rules() == [] and ns.interface_addresses() is None
    assert ruleset(ns.run("iptables-save").stdout) == before


def test_stop_and_start_loses_queries_the_overlap_does_not(node: Node) -> None:
    """The measurement the README quotes: a plain stop-and-start of one instance under load."""
    ns = node.ns
    a = node.start("a")
    assert wait_until(lambda: len(ns.rules()) == 24, 30)
    loads = [_load(node, target, 10, "restart") for target in (CLUSTER_IP, LINK_LOCAL)]
    time.sleep(2.5)
    assert stop(a) == 0
    b = node.start("b")  # the new pod starts once the old one is gone
    assert wait_until(lambda: len(ns.rules()) == 24, 30)
    results = [_finish(*load) for load in loads]
    via_cluster_ip, via_link_local = results
    print(f"\nstop and start: lost {via_cluster_ip.lost} of {via_cluster_ip.sent} via {CLUSTER_IP} "
          f"({via_cluster_ip.completed - via_cluster_ip.noerror} answered by kube-dns meanwhile), "
          f"{via_link_local.lost} of {via_link_local.sent} via {LINK_LOCAL}")
    # Between A's teardown and B's rules nothing answers the link-local address.
    assert via_link_local.lost > 0
    assert stop(b) == 0
