"""A third-party plugin as an operator installs it: examples/pycoredns-sqlite, installed with pip
(not editable) into a new virtual environment that has pycoredns, listed by -plugins, serving a
Corefile that uses it, and passing its own tests with the kit's fixtures from the installed pytest
plugin. These are the steps docs/plugins.md shows ("Packaging: the entry point").

Nothing comes from the network beyond this machine's pip configuration: pycoredns is built into a
wheel from a copy of the checkout, the plugin is built by pip from a copy of its folder, and the
dependencies come from the configured index (pip's cache makes a second run quick).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pycoredns-sqlite"
PYCOREDNS_SOURCES = ["pyproject.toml", "README.md", "pycoredns", "plugins"]
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".pytest_cache")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Venv:
    path: Path
    example: Path  # the plugin's folder, as a user would have it
    cwd: Path  # an empty folder: nothing importable next to the programs
    env: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    def run(self, *cmd: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), cwd=cwd or self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)


def _pip(python: Path, *args: str, cwd: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                        "--disable-pip-version-check", *args], cwd=cwd, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    work = tmp_path_factory.mktemp("example-plugin")
    src = work / "pycoredns-src"
    src.mkdir()
    for name in PYCOREDNS_SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=_JUNK)
        else:
            shutil.copy2(path, src / name)
    example = shutil.copytree(EXAMPLE, work / "pycoredns-sqlite", ignore=_JUNK)
    started = time.monotonic()
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"),
         str(src)],
        capture_output=True, text=True, timeout=180,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (work / "dist").glob("pycoredns-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    # A venv with pycoredns (and pytest, to run the plugin's tests; setuptools, to build the plugin
    # without fetching a build environment)...
    _pip(python, str(wheel), "pytest", "setuptools", cwd=work)
    # ...and then the plugin, as the guide says: pip install ./pycoredns-sqlite (not editable).
    _pip(python, "--no-build-isolation", "./pycoredns-sqlite", cwd=work)
    print(f"\npycoredns and pycoredns-sqlite installed into a new venv in {time.monotonic() - started:.1f} s")
    cwd = work / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield Venv(venv, example, cwd, env)


def test_installed_as_a_regular_package(venv: Venv) -> None:
    r = venv.run(venv.bin("python"), "-c", "import pycoredns_sqlite, pycoredns; print(pycoredns_sqlite.__file__);"
                 " print(pycoredns.__file__)")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(venv.path.resolve()), line
    site = next((venv.path / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))
    assert (site / "pycoredns_sqlite-0.1.0.dist-info" / "entry_points.txt").read_text().split() == [
        "[pycoredns.plugins]", "sqlite", "=", "pycoredns_sqlite:DIRECTIVE"
    ]


def test_plugins_lists_it_with_its_distribution(venv: Venv) -> None:
    r = venv.run("pycoredns", "-plugins")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "  dns.sqlite (pycoredns-sqlite 0.1.0)\n" in r.stdout
    assert "  dns.whoami\n" in r.stdout and "  dns.forward\n" in r.stdout  # built-ins as before


# Serves the Corefile in the current folder with the venv's packages, prints the bound port, and
# stops when its standard input closes.
SERVE = """
import sys
from pycoredns.testing import running_server

with running_server(open("Corefile").read()) as server:
    print(server.port, flush=True)
    sys.stdin.read()
"""


def test_a_corefile_that_uses_it(venv: Venv) -> None:
    folder = venv.cwd / "serve"
    folder.mkdir()
    with sqlite3.connect(folder / "records.db") as db:
        db.execute("CREATE TABLE records (name TEXT, type TEXT, ttl INTEGER, value TEXT)")
        db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", [
            ("www.example.org", "A", 300, "192.0.2.80"), ("example.org", "MX", 60, "10 www.example.org")
        ])
    db.close()
    (folder / "Corefile").write_text(".:0 {\n    sqlite records.db example.org\n    whoami\n}\n")
    r = venv.run("pycoredns", "-validate", "-conf", "Corefile", cwd=folder)
    assert (r.returncode, r.stdout.strip()) == (0, "Corefile OK"), r.stdout + r.stderr
    p = subprocess.Popen([venv.bin("python"), "-c", SERVE], cwd=folder, env=venv.env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    try:
        line = p.stdout.readline()
        assert line.strip().isdigit(), line + (p.stderr.read() if p.stderr else "")
        port = int(line)
        a = query("www.example.org", "A", port)
        assert a.header.aa == 1 and [str(rr.rdata) for rr in a.rr] == ["192.0.2.80"]
        assert [str(rr.rdata) for rr in query("example.org", "MX", port, proto="tcp").rr] == ["10 www.example.org."]
        assert query("nope.example.org", "A", port).header.rcode == dnslib.RCODE.NXDOMAIN
        other = query("example.net", "A", port)  # not sqlite's zone: whoami answers
        assert other.header.rcode == 0 and any(rr.rtype == dnslib.QTYPE.SRV for rr in other.ar)
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0


def test_its_own_tests_pass_with_the_kit(venv: Venv) -> None:
    # From the plugin's folder, with the venv's pytest: the kit's fixtures come from pycoredns's
    # pytest11 entry point, and the tests import the installed package, not the folder's copy.
    r = venv.run(venv.bin("pytest"), "-q", "-p", "no:cacheprovider", cwd=venv.example, timeout=240)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout and "error" not in r.stdout.lower()
    plugins = venv.run(venv.bin("pytest"), "--co", "-q", "-p", "no:cacheprovider", "--trace-config",
                       cwd=venv.example)
    assert "pycoredns.testing.fixtures" in plugins.stdout
