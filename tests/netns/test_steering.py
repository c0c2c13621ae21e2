"""The whole NodeLocal DNSCache trick, end to end: a pod's queries to the kube-dns ClusterIP.

A "pod" namespace joined by a veth pair to a "node" namespace; on the node a "kube-dns" server at
10.244.1.53 behind a kube-proxy-style DNAT for 10.96.0.10:53. With pycoredns bound to
169.254.20.10 and 10.96.0.10 (interface + NOTRACK rules), the pod's queries to 10.96.0.10 are
answered by pycoredns (a hosts entry only it knows; other names forwarded to kube-dns); after
SIGTERM everything it added is gone and kube-dns answers the pod directly again.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.netns.conftest import PYTHON, ROOT, Netns, ServerProcess
from tests.netns.saves import ruleset
from tests.processes import wait_until

pytestmark = pytest.mark.netns

KUBE_DNS = "10.244.1.53"
CLUSTER_IP = "10.96.0.10"
COREFILE = f"""\
.:53 {{
    bind 169.254.20.10 {CLUSTER_IP} {{
        interface nodelocaldns
        notrack
        sync 1s
    }}
    hosts {{
        10.1.2.3 cached.default.svc.cluster.local
        fallthrough
    }}
    forward . {KUBE_DNS}
}}
"""


def build_cluster(node: Netns, pod: Netns) -> None:
    node.exec("ip", "link", "add", "vnode", "type", "veth", "peer", "name", "vpod", "netns", pod.name)
    node.exec("ip", "addr", "add", "10.244.0.1/24", "dev", "vnode")
    node.exec("ip", "addr", "add", f"{KUBE_DNS}/32", "dev", "vnode")
    node.exec("ip", "link", "set", "vnode", "up")
    pod.exec("ip", "addr", "add", "10.244.0.2/24", "dev", "vpod")
    pod.exec("ip", "link", "set", "vpod", "up")
    pod.exec("ip", "route", "add", "default", "via", "10.244.0.1")
    # kube-proxy (iptables mode): the Service's ClusterIP DNATed to its endpoint.
    node.exec("iptables", "-w", "5", "-t", "nat", "-N", "KUBE-SERVICES")
    node.exec("iptables", "-w", "5", "-t", "nat", "-A", "PREROUTING", "-j", "KUBE-SERVICES")
    for proto in ("udp", "tcp"):
        node.exec(
            "iptables", "-w", "5", "-t", "nat", "-A", "KUBE-SERVICES", "-d", f"{CLUSTER_IP}/32", "-p", proto,
            "--dport", "53", "-j", "DNAT", "--to-destination", f"{KUBE_DNS}:53",
        )


def short(ns: Netns, name: str, *opts: str) -> str:
    out = ns.dig(CLUSTER_IP, name, "+short", *opts)
    return out.strip()


def status(ns: Netns, name: str, *opts: str) -> str:
    out = ns.dig(CLUSTER_IP, name, *opts)
    return out.split("status: ")[1].split(",")[0] if "status: " in out else "no reply"


def test_pod_queries_to_the_cluster_ip_land_on_pycoredns(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    node, pod = make_netns("node"), make_netns("pod")
    build_cluster(node, pod)
    kube_dns = subprocess.Popen(
        ["ip", "netns", "exec", node.name, PYTHON, str(ROOT / "tests/netns/kube_dns.py"), KUBE_DNS],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
    )
    try:
        assert kube_dns.stdout is not None and kube_dns.stdout.readline().strip() == "ready"
        # Before: kube-proxy's DNAT sends the pod to kube-dns.
        assert short(pod, "name.default.svc.cluster.local") == "10.0.0.53"
        assert status(pod, "cached.default.svc.cluster.local") == "NXDOMAIN"
        before = ruleset(node.iptables_save())

        server: ServerProcess = start_server(node, COREFILE)
        for opts in ((), ("+tcp",)):
            assert short(pod, "cached.default.svc.cluster.local", *opts) == "10.1.2.3"  # only pycoredns knows
            assert short(pod, "name.default.svc.cluster.local", *opts) == "10.0.0.53"  # forwarded

        # glibc's resolver in the pod, with the resolv.conf kubelet writes (ndots:5, search paths).
        etc = Path(f"/etc/netns/{pod.name}")
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(
            f"nameserver {CLUSTER_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n"
            "options ndots:5\n"
        )
        got = pod.exec("getent", "hosts", "cached.default.svc.cluster.local", check=False)
        assert got.returncode == 0 and got.stdout.split()[0] == "10.1.2.3", got
        got = pod.exec("getent", "hosts", "name", check=False)  # a short name, through the search path
        assert got.returncode == 0 and got.stdout.split()[0] == "10.0.0.53", got

        # After SIGTERM: rules and interface gone, the ruleset as before, kube-dns answers again.
        assert server.stop(signal.SIGTERM) == 0
        assert ruleset(node.iptables_save()) == before
        assert node.exec("ip", "link", "show", "dev", "nodelocaldns", check=False).returncode != 0
        assert wait_until(lambda: status(pod, "cached.default.svc.cluster.local") == "NXDOMAIN", 10)
        for opts in ((), ("+tcp",)):
            assert short(pod, "name.default.svc.cluster.local", *opts) == "10.0.0.53"
            assert status(pod, "cached.default.svc.cluster.local", *opts) == "NXDOMAIN"
    finally:
        kube_dns.kill()
        kube_dns.wait(10)
