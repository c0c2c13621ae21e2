"""Helpers for node-cache tests inside network namespaces the tests create and delete.

Addresses such as 169.254.20.10 and 10.0.0.x exist only inside the namespace. Sockets are opened
inside it from a thread that joined it with setns(2); programs run in it with ``ip netns exec``
(which also bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: that is how the
node's resolvers are faked).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pycoredns.testing import netns
from tests.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "nodelocaldns.yaml"
NODE_CACHE = str(Path(sys.executable).parent / "node-cache")
T = TypeVar("T")

# sed values of the kubernetes.io task page, iptables mode.
LOCAL_DNS = "169.254.20.10"
KUBE_DNS = "10.0.0.10"
DOMAIN = "cluster.local"
UPSTREAM_SVC_IP = "10.0.0.50"  # kube-dns-upstream's ClusterIP (the env var node-cache reads)
NODE_RESOLVER = "10.0.0.60"  # the node's resolv.conf nameserver
STUB_SERVER = "10.0.0.70"  # a stub domain's nameserver


def have_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("iptables") is not None


def manifest_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def sed_iptables_mode(text: str) -> str:
    return (
        text.replace("__PILLAR__LOCAL__DNS__", LOCAL_DNS)
        .replace("__PILLAR__DNS__DOMAIN__", DOMAIN)
        .replace("__PILLAR__DNS__SERVER__", KUBE_DNS)
    )


def manifest_template() -> str:
    """The node-local-dns ConfigMap's Corefile as the manifest ships it, after the deploy sed."""
    cm = next(d for d in manifest_docs() if d["kind"] == "ConfigMap")
    return sed_iptables_mode(cm["data"]["Corefile"])


def manifest_args() -> list[str]:
    """The node-cache container's args in the manifest, after the deploy sed."""
    ds = next(d for d in manifest_docs() if d["kind"] == "DaemonSet")
    container = ds["spec"]["template"]["spec"]["containers"][0]
    return [sed_iptables_mode(a) for a in container["args"]]


def canonical_args(tmp: Path, metrics_port: int, *extra: str) -> list[str]:
    """The manifest's exact args with its paths moved under ``tmp``, plus the mounts' locations."""
    moved = {"/etc/Corefile": str(tmp / "Corefile"), "/tmp/node-cache.pid": str(tmp / "node-cache.pid")}
    args = [moved.get(a, a) for a in manifest_args()]
    return [
        *args,
        "-basecorefile", str(tmp / "coredns" / "Corefile.base"),
        "-kubednscm", str(tmp / "kube-dns"),
        "-metrics-listen-address", f"127.0.0.1:{metrics_port}",
        *extra,
    ]


def mount_configmap(folder: Path, data: dict[str, str]) -> None:
    """Write a ConfigMap as kubelet does: timestamped dir, atomically swapped ``..data``, key links."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f"..{time.time_ns()}"
    stamp.mkdir()
    for key, value in data.items():
        (stamp / key).write_text(value)
    tmp = folder / "..data_tmp"
    tmp.symlink_to(stamp.name)
    os.replace(tmp, folder / "..data")
    for key in data:
        link = folder / key
        if not link.is_symlink():
            link.symlink_to(f"..data/{key}")
    for link in folder.iterdir():  # keys no longer in the ConfigMap disappear, as with kubelet
        if link.is_symlink() and not link.name.startswith(".") and link.name not in data:
            link.unlink()


class Netns:
    """A namespace with loopback up and the fake cluster's addresses on lo; deleted on exit."""

    def __init__(self) -> None:
        self.name = f"pcdns-{os.getpid()}-{secrets.token_hex(3)}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.ip("link", "set", "lo", "up")
        for addr in (UPSTREAM_SVC_IP, NODE_RESOLVER, STUB_SERVER):
            self.ip("addr", "add", f"{addr}/32", "dev", "lo")
        etc = Path("/etc/netns") / self.name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {NODE_RESOLVER}\n")
        probe = subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "add", "pcdprobe", "type", "dummy"],
                               capture_output=True)
        if probe.returncode == 0:
            self.ip("link", "del", "pcdprobe")
        else:
            print("kernel refuses the dummy link kind: running with PYCOREDNS_INTERFACE_KIND=bridge")
            self.env["PYCOREDNS_INTERFACE_KIND"] = "bridge"
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)

    def ip(self, *args: str) -> str:
        return self.run("ip", *args).stdout

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def popen(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        full_env = {**os.environ, **self.env, **(env or {})}
        with open(log, "wb") as out:
            p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                 env=full_env)
        self.procs.append(p)
        return p

    def start_upstreams(self, tmp: Path) -> Path:
        """Fake kube-dns-upstream, node resolver and stub nameserver; returns their query log."""
        log = tmp / "upstream-queries.log"
        log.touch()
        script = Path(__file__).with_name("netns_upstreams.py")
        p = self.popen([sys.executable, str(script), str(log), f"{UPSTREAM_SVC_IP}=10.1.2.3",
                        f"{NODE_RESOLVER}=192.0.2.60", f"{STUB_SERVER}=192.0.2.70"], tmp / "upstreams.out")
        wait_until(lambda: "ready" in (tmp / "upstreams.out").read_text() or p.poll() is not None, 30)
        assert p.poll() is None, (tmp / "upstreams.out").read_text()
        return log

    def call(self, fn: Callable[[], T], timeout: float = 60) -> T:
        """Run ``fn`` in a thread that joined the namespace (its sockets live there)."""
        return netns.call_in(self.name, fn, timeout)

    def rules(self) -> list[str]:
        """node-cache's rules in either iptables backend."""
        out = []
        for tool in ("iptables-nft-save", "iptables-legacy-save"):
            if shutil.which(tool):
                r = self.run(tool, check=False)
                out += [line for line in r.stdout.splitlines() if "NodeLocal DNS Cache" in line]
        return out

    def interface_addresses(self, name: str = "nodelocaldns") -> list[str] | None:
        r = self.run("ip", "-o", "-4", "addr", "show", "dev", name, check=False)
        if r.returncode != 0:
            return None
        return [line.split()[3] for line in r.stdout.splitlines()]


def stop(p: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 40) -> int:
    if p.poll() is None:
        p.send_signal(sig)
    return p.wait(timeout)
