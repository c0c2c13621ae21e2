"""The node-cache image run as the DaemonSet runs it, in network namespaces made here.

A "node" namespace with a kube-proxy-style cluster (a kube-dns endpoint behind the kube-dns
Service ClusterIP 10.96.0.10 and the kube-dns-upstream ClusterIP 10.96.0.11, DNATed as
kube-proxy's iptables mode does) and a "pod" namespace behind a veth pair. The image runs with
host networking in the node namespace (``podman run --network ns:...``), the manifest's args,
mounts and capability, and the environment kubelet gives it. The pod resolves through the
ClusterIP and the container on the node answers; ``podman stop`` (SIGTERM, as kubelet sends)
leaves the node's ruleset as it was and removes the interface.

Once per iptables backend: the node's kubelet hint chain (KUBE-IPTABLES-HINT) is made in nft or in
legacy, and the image's iptables wrapper must pick that backend, as the upstream image's does.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.image import podman, ulimits
from tests.netns.conftest import PYTHON, ROOT, Netns
from tests.netns.saves import ruleset
from tests.nodecache.netns_kit import manifest_docs, mount_configmap
from tests.processes import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(1500)]

LOCAL_DNS = "169.254.20.10"
CLUSTER_IP = "10.96.0.10"  # kube-dns's Service: what pods' resolv.conf names
UPSTREAM_IP = "10.96.0.11"  # kube-dns-upstream's Service: what node-cache forwards cluster names to
KUBE_DNS = "10.244.1.53"  # the kube-dns endpoint both Services lead to
ANSWER = "10.1.2.3"
NAME = "kubernetes.default.svc.cluster.local"
_containers = itertools.count()
# What the DaemonSet's container gets: containerd's default capability set (the runtime kubelet
# drives) plus the manifest's NET_ADMIN. podman's own default set lacks NET_RAW, which
# iptables-legacy needs (it reads the tables through a raw socket): without it the legacy probe
# fails and the nft backend is chosen, whatever kubelet uses.
CONTAINERD_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                   "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]


def sed(text: str) -> str:
    """The deployment's sed, iptables kube-proxy mode (both IPs), with this cluster's values."""
    return (text.replace("__PILLAR__LOCAL__DNS__", LOCAL_DNS).replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
            .replace("__PILLAR__DNS__SERVER__", CLUSTER_IP))


def build_cluster(node: Netns, pod: Netns, mode: str) -> None:
    ipt = f"iptables-{mode}"
    node.exec("ip", "link", "add", "vnode", "type", "veth", "peer", "name", "vpod", "netns", pod.name)
    node.exec("ip", "addr", "add", "10.244.0.1/24", "dev", "vnode")
    node.exec("ip", "addr", "add", f"{KUBE_DNS}/32", "dev", "vnode")
    node.exec("ip", "link", "set", "vnode", "up")
    node.exec("ip", "route", "add", "10.96.0.0/16", "dev", "vnode")  # Service IPs route somewhere
    pod.exec("ip", "addr", "add", "10.244.0.2/24", "dev", "vpod")
    pod.exec("ip", "link", "set", "vpod", "up")
    pod.exec("ip", "route", "add", "default", "via", "10.244.0.1")
    # kubelet's hint for the backend it uses, and kube-proxy's Services in that backend.
    node.exec(ipt, "-w", "5", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT")
    node.exec(ipt, "-w", "5", "-t", "nat", "-N", "KUBE-SERVICES")
    for chain in ("PREROUTING", "OUTPUT"):
        node.exec(ipt, "-w", "5", "-t", "nat", "-A", chain, "-j", "KUBE-SERVICES")
    for service in (CLUSTER_IP, UPSTREAM_IP):
        for proto in ("udp", "tcp"):
            node.exec(ipt, "-w", "5", "-t", "nat", "-A", "KUBE-SERVICES", "-d", f"{service}/32", "-p", proto,
                      "--dport", "53", "-j", "DNAT", "--to-destination", f"{KUBE_DNS}:53")


def node_cache_rules(node: Netns, mode: str) -> list[str]:
    return [line for line in node.iptables_save(f"iptables-{mode}-save").splitlines() if "NodeLocal DNS Cache" in line]


def asked(log: Path, name: str = NAME) -> list[str]:
    """The protocol of each query for ``name`` that kube-dns got, in order (the cache's loop
    probes and other names left out)."""
    return [f[1] for f in (line.split() for line in log.read_text().splitlines()) if f[2:3] == [f"{name}."]]


def pod_short(pod: Netns, name: str, *opts: str) -> str:
    return pod.dig(CLUSTER_IP, name, "+short", *opts).strip()


@pytest.mark.parametrize("mode", ["nft", "legacy"])
def test_daemonset_in_a_node_namespace(mode: str, make_netns, interface_env, node_cache_image: str,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    node, pod = make_netns("node"), make_netns("pod")
    build_cluster(node, pod, mode)
    other = "legacy" if mode == "nft" else "nft"
    log = tmp_path / "kube-dns.log"
    log.touch()
    kube_dns = subprocess.Popen(
        ["ip", "netns", "exec", node.name, PYTHON, str(ROOT / "tests/nodecache/netns_upstreams.py"), str(log),
         f"{KUBE_DNS}={ANSWER}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
    )
    name = f"pcdnodecache-{os.getpid()}-{next(_containers)}"
    try:
        assert kube_dns.stdout is not None and kube_dns.stdout.readline().strip() == "ready"
        # Before: kube-proxy's DNAT takes the pod's query to kube-dns itself (over UDP).
        assert pod_short(pod, NAME) == ANSWER and asked(log) == ["udp"]
        before = {m: ruleset(node.iptables_save(f"iptables-{m}-save")) for m in ("nft", "legacy")}

        # The DaemonSet's pod: the manifest's args, its ConfigMap at /etc/coredns (Corefile.base,
        # as kubelet mounts it), the optional kube-dns ConfigMap (empty), the node's xtables lock,
        # its capabilities, host networking, dnsPolicy Default (the node's resolver: kube-dns
        # here), and the environment kubelet derives from the kube-dns-upstream Service.
        cm = next(d for d in manifest_docs() if d["kind"] == "ConfigMap")
        ds = next(d for d in manifest_docs() if d["kind"] == "DaemonSet")
        container = ds["spec"]["template"]["spec"]["containers"][0]
        capabilities = container["securityContext"]["capabilities"]["add"]
        assert capabilities == ["NET_ADMIN"]
        mount_configmap(tmp_path / "coredns", {"Corefile.base": sed(cm["data"]["Corefile"])})
        mount_configmap(tmp_path / "kube-dns", {})
        Path("/run/xtables.lock").touch()
        env = ["--env", f"KUBE_DNS_UPSTREAM_SERVICE_HOST={UPSTREAM_IP}"]
        if "PYCOREDNS_INTERFACE_KIND" in interface_env:  # the stand-in for a kernel without dummy
            kind = interface_env["PYCOREDNS_INTERFACE_KIND"]
            print(f"\nNOTE: the container runs with PYCOREDNS_INTERFACE_KIND={kind}: this kernel has no dummy links")
            env += ["--env", f"PYCOREDNS_INTERFACE_KIND={kind}"]
        podman(
            "run", "--detach", "--name", name, *ulimits(), "--network", f"ns:/run/netns/{node.name}",
            "--cap-drop", "all", *[f"--cap-add={c}" for c in [*CONTAINERD_CAPS, *capabilities]], *env,
            "--dns", KUBE_DNS,
            "--volume", f"{tmp_path / 'coredns'}:/etc/coredns", "--volume", f"{tmp_path / 'kube-dns'}:/etc/kube-dns",
            "--volume", "/run/xtables.lock:/run/xtables.lock",
            node_cache_image, *[sed(a) for a in container["args"]],
        )
        # Rules once the server listens (the pidfile): 12 per local IP, in the node's backend only.
        assert wait_until(lambda: len(node_cache_rules(node, mode)) == 24, 60), podman("logs", name).stderr
        assert node_cache_rules(node, other) == []
        addresses = node.exec("ip", "-o", "-4", "addr", "show", "dev", "nodelocaldns").stdout
        assert f"{LOCAL_DNS}/32" in addresses and f"{CLUSTER_IP}/32" in addresses

        # The pod asks the ClusterIP and the container answers: a cluster name reaches kube-dns
        # as the cache's forward over TCP (force_tcp to kube-dns-upstream), once.
        for opts in ((), ("+tcp",)):
            assert pod_short(pod, NAME, *opts) == ANSWER
        assert asked(log) == ["udp", "tcp"]
        # glibc's resolver in the pod, with the resolv.conf kubelet writes.
        etc = Path(f"/etc/netns/{pod.name}")
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {CLUSTER_IP}\nsearch default.svc.cluster.local svc.cluster.local"
                                         " cluster.local\noptions ndots:5\n")
        got = pod.exec("getent", "hosts", "kubernetes.default", check=False)  # through the search path
        assert got.returncode == 0 and got.stdout.split()[0] == ANSWER, got
        assert pod_short(pod, "www.example.com") == ANSWER  # "." goes to the node's resolver
        probe = f"import urllib.request as u; print(u.urlopen('http://{LOCAL_DNS}:8080/health').read().decode())"
        assert node.exec(PYTHON, "-c", probe).stdout.strip() == "OK"  # the liveness probe's request

        # The image's iptables wrapper picks the backend kubelet uses on this node.
        version = podman("exec", name, "iptables", "-V").stdout
        assert ("(legacy)" if mode == "legacy" else "(nf_tables)") in version, version
        saved = podman("exec", name, "iptables-save", "-t", "raw").stdout
        assert saved.count("NodeLocal DNS Cache") == 16, saved  # raw's 8 rules per IP, seen through it

        # kubelet stops the pod: SIGTERM, then teardown. Every rule and the interface go.
        podman("stop", "--time", "30", name, timeout=60)
        state = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = podman("logs", name).stderr + podman("logs", name).stdout
        assert state == "0", logs
        assert "[INFO] SIGTERM: Shutting down servers then terminating" in logs and "Tearing down" in logs
        after = {m: ruleset(node.iptables_save(f"iptables-{m}-save")) for m in ("nft", "legacy")}
        assert after == before
        assert node.exec("ip", "link", "show", "dev", "nodelocaldns", check=False).returncode != 0
        # Pods fall back to kube-dns through kube-proxy, with no restart.
        assert wait_until(lambda: pod_short(pod, NAME) == ANSWER, 10)
        assert asked(log)[-1] == "udp"
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)
        kube_dns.kill()
        kube_dns.wait(10)
