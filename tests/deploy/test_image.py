"""The built node-cache image: its configuration, and nothing in it that only a build needs.

No compiler, no wheel, no pip cache, no pip (the base interpreter's included), no apt lists, and
none of the build's own leftovers (sources, the wheel folder, mount points of the build host's
pip configuration). Checked by running the image's own Python over its file system.
"""

from __future__ import annotations

import json

import pytest

from tests.deploy.image import podman, ulimits

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

INSPECT = r"""
import glob, json, os, shutil, subprocess
skip = {"/proc", "/sys", "/dev"}
wheels, caches = [], []
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]
    wheels += [os.path.join(top, f) for f in files if f.endswith(".whl")]
    if os.path.basename(top) == ".cache" or top.endswith("/.cache/pip"):
        caches.append(top)
path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
tools = ["gcc", "cc", "c++", "g++", "cpp", "clang", "tcc", "ld", "as", "make", "x86_64-linux-gnu-gcc-12"]
installers = sorted(
    p for pattern in ("pip", "pip-*", "setuptools", "setuptools-*", "wheel", "wheel-*")
    for site in ("/opt/pycoredns/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages",
                 "/usr/lib/python3/dist-packages")
    for p in glob.glob(os.path.join(site, pattern))
)
packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\n"], capture_output=True, text=True).stdout.split()
print(json.dumps({
    "wheels": wheels,
    "caches": caches,
    "compilers": [t for t in tools if shutil.which(t, path=path)],
    "installers": installers,
    "apt_lists": sorted(set(os.listdir("/var/lib/apt/lists")) - {"lock", "partial", "auxfiles"}),
    "leftovers": [p for p in ("/src", "/tmp/wheels", "/etc/pip.conf", "/etc/xdg/pip", "/root/.cache")
                  if os.path.lexists(p)] + [os.path.join("/mnt", p) for p in os.listdir("/mnt")],
    "packages": packages,
}))
"""


@pytest.fixture(scope="module")
def contents(node_cache_image: str) -> dict[str, list[str]]:
    done = podman("run", "--rm", *ulimits(), "--network", "none", "--entrypoint", "/opt/pycoredns/bin/python",
                  node_cache_image, "-c", INSPECT, timeout=180)
    found: dict[str, list[str]] = json.loads(done.stdout)
    return found


def test_no_compiler_wheel_pip_or_cache(contents: dict[str, list[str]]) -> None:
    assert contents["compilers"] == []
    assert contents["wheels"] == []
    assert contents["caches"] == []
    assert contents["installers"] == []  # nothing to install packages with, pip included
    assert contents["apt_lists"] == []
    assert contents["leftovers"] == []


def test_debian_packages_are_the_runtime_only(contents: dict[str, list[str]]) -> None:
    packages = set(contents["packages"])
    assert {"iptables", "iproute2", "libc6"} <= packages
    build_only = {p for p in packages if p.endswith("-dev") or p in {
        "build-essential", "gcc", "g++", "cpp", "make", "binutils", "python3-pip", "python3-venv",
        "python3-setuptools", "python3-wheel", "python3-pip-whl", "python3-setuptools-whl"}}
    assert build_only == set()
    print(f"\n{len(packages)} Debian packages: {' '.join(sorted(packages))}")


def test_image_config_is_node_caches(node_cache_image: str) -> None:
    (info,) = json.loads(podman("image", "inspect", node_cache_image).stdout)
    config = info["Config"]
    assert config["Entrypoint"] == ["/node-cache"]
    assert "Cmd" not in config or not config["Cmd"]
    assert set(config["ExposedPorts"]) == {"53/udp", "53/tcp"}
    assert config.get("User", "") in ("", "0", "root")  # root, as node-cache: NET_ADMIN and port 53
    print(f"\n{node_cache_image}: {info['Size'] / 1e6:.0f} MB")
    done = podman("run", "--rm", *ulimits(), "--network", "none", node_cache_image, "-version")
    assert "CoreDNS-" in done.stdout and "pycoredns-" in done.stdout
