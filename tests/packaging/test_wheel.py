"""pycoredns as a user installs it: a wheel built from the checkout, installed into a fresh venv.

Every other test runs on the editable install, which reads files straight from the source tree:
a file the package needs at run time but the wheel leaves out goes unnoticed there (plugin.cfg
once did). Here the wheel is built from a copy of what the image build copies too (pyproject.toml,
README.md, pycoredns/, plugins/), installed with its dependencies into a venv that has nothing
else (no editable install, no source tree on the path, run from an empty directory), and used
as a user would: -plugins, -validate on every bundled Corefile, node-cache -help, a real query.
"""

from __future__ import annotations

import re
import signal
import subprocess
import zipfile
from pathlib import Path

import pytest

from pycoredns.registry import Registry
from pycoredns.testing import query, wait_dns_port
from tests.packaging.conftest import Installed, new_venv

ROOT = Path(__file__).resolve().parents[2]
# The node-cache template's placeholders, filled as node-cache fills them (iptables mode).
PILLARS = {
    "__PILLAR__DNS__DOMAIN__": "cluster.local",
    "__PILLAR__LOCAL__DNS__": "169.254.20.10",
    "__PILLAR__DNS__SERVER__": "10.96.0.10",
    "__PILLAR__CLUSTER__DNS__": "10.96.0.11",
    "__PILLAR__UPSTREAM__SERVERS__": "/etc/resolv.conf",
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def installed(pycoredns_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return new_venv(tmp_path_factory.mktemp("wheel-venv"), pycoredns_wheel)


def test_wheel_holds_every_file_the_package_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    wanted = []
    for top, package in (("pycoredns", "pycoredns"), ("plugins", "pycoredns/plugins")):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
                continue
            wanted.append(f"{package}/{path.relative_to(ROOT / top).as_posix()}")
    assert "pycoredns/plugin.cfg" in wanted and "pycoredns/corefile/corefile.lark" in wanted
    assert [w for w in wanted if w not in names] == []


def test_runs_from_the_venv_not_the_checkout(installed: Installed) -> None:
    code = "import pycoredns, sys; print(pycoredns.__file__); print(sys.path)"
    r = installed.run(installed.bin("python"), "-c", code)
    assert r.returncode == 0, r.stderr
    location = Path(r.stdout.splitlines()[0]).resolve()
    assert location.is_relative_to(installed.venv.resolve()), location
    assert str(ROOT) not in r.stdout
    site = next((installed.venv / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))


def test_plugins_lists_every_built_in_directive(installed: Installed) -> None:
    r = installed.run(installed.bin("pycoredns"), "-plugins")
    assert r.returncode == 0, r.stderr
    listed = {line.strip().removeprefix("dns.") for line in r.stdout.splitlines() if line.startswith("  dns.")}
    assert listed == set(Registry.default(entry_points=False).names())


BUNDLED = sorted((ROOT / "corefiles").glob("*Corefile*"))


def test_every_bundled_corefile_is_checked() -> None:
    assert {p.name for p in BUNDLED} >= {"node-local-dns.Corefile", "kubespray.Corefile", "local-resolver.Corefile"}


@pytest.mark.parametrize("corefile", [pytest.param(p, id=p.name) for p in BUNDLED])
def test_validate_bundled_corefile(installed: Installed, corefile: Path) -> None:
    text = corefile.read_text()
    for pillar, value in PILLARS.items():  # the node-cache template, rendered as node-cache does
        text = text.replace(pillar, value)
    assert "__PILLAR__" not in text
    conf = installed.cwd / corefile.name
    conf.write_text(text)
    env = dict(installed.env, MY_HOST_IP="127.0.0.1")  # as the suite's own load test gives it
    r = subprocess.run([installed.bin("pycoredns"), "-validate", "-conf", conf.name], cwd=installed.cwd, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_node_cache_help(installed: Installed) -> None:
    r = installed.run(installed.bin("node-cache"), "-help")
    assert r.returncode == 0, r.stderr
    assert "Usage of " in r.stderr
    for flag in ("localip", "upstreamsvc", "conf", "pidfile", "skipteardown", "setupiptables"):
        assert re.search(rf"^  -{flag}\b", r.stderr, re.M), flag


def test_serves_a_query(installed: Installed) -> None:
    conf = installed.cwd / "Corefile"
    conf.write_text(
        ".:0 {\n    bind 127.0.0.1\n    errors\n    cache\n"
        "    hosts {\n        192.0.2.53 www.wheel.test\n        fallthrough\n    }\n    whoami\n}\n"
    )
    p = subprocess.Popen([installed.bin("pycoredns"), "-conf", conf.name], cwd=installed.cwd, env=installed.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_dns_port(p.pid)
        for proto in ("udp", "tcp"):
            r = query("www.wheel.test", "A", port, proto=proto)
            assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.53"]
        r = query("other.wheel.test", "A", port)  # falls through to whoami
        assert r.header.rcode == 0 and r.ar
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    assert ".:0 on 127.0.0.1" in out and "CoreDNS-" in out
