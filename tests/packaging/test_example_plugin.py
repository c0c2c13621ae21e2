"""A third-party plugin as an operator installs it: examples/pycoredns-sqlite, installed with pip
(not editable) into a new virtual environment that has pycoredns, listed by -plugins, serving a
Corefile that uses it, and passing its own tests with the kit's fixtures from the installed pytest
plugin. These are the steps docs/plugins.md shows ("Packaging: the entry point").

Nothing comes from the network beyond this machine's pip configuration: pycoredns is the session's
wheel (conftest.py), the plugin is built by pip from a copy of its folder, and the dependencies
come from the wheelhouse the packaging tests share.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query, wait_dns_port
from tests.packaging.conftest import JUNK, Installed, new_venv

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pycoredns-sqlite"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class WithPlugin:
    venv: Installed
    example: Path  # the plugin's folder, as its author has it


@pytest.fixture(scope="module")
def venv(pycoredns_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> WithPlugin:
    work = tmp_path_factory.mktemp("example-plugin")
    example = shutil.copytree(EXAMPLE, work / "pycoredns-sqlite", ignore=JUNK)
    # A venv with pycoredns (and pytest, to run the plugin's tests; setuptools, to build the plugin
    # without fetching a build environment)...
    installed = new_venv(work, pycoredns_wheel, "pytest", "setuptools")
    # ...and then the plugin, as the guide says: pip install ./pycoredns-sqlite (not editable).
    installed.pip_install("--no-build-isolation", "./pycoredns-sqlite")
    return WithPlugin(installed, example)


def test_installed_as_a_regular_package(venv: WithPlugin) -> None:
    v = venv.venv
    r = v.run(v.bin("python"), "-c", "import pycoredns_sqlite, pycoredns; print(pycoredns_sqlite.__file__);"
              " print(pycoredns.__file__)")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        assert Path(line).resolve().is_relative_to(v.venv.resolve()), line
    site = next((v.venv / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))
    assert (site / "pycoredns_sqlite-0.1.0.dist-info" / "entry_points.txt").read_text().split() == [
        "[pycoredns.plugins]", "sqlite", "=", "pycoredns_sqlite:DIRECTIVE"
    ]


def test_plugins_lists_it_with_its_distribution(venv: WithPlugin) -> None:
    r = venv.venv.run("pycoredns", "-plugins")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "  dns.sqlite (pycoredns-sqlite 0.1.0)\n" in r.stdout
    assert "  dns.whoami\n" in r.stdout and "  dns.forward\n" in r.stdout  # built-ins as before


def test_a_corefile_that_uses_it(venv: WithPlugin) -> None:
    v = venv.venv
    folder = v.cwd / "serve"
    folder.mkdir()
    with sqlite3.connect(folder / "records.db") as db:
        db.execute("CREATE TABLE records (name TEXT, type TEXT, ttl INTEGER, value TEXT)")
        db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", [
            ("www.example.org", "A", 300, "192.0.2.80"), ("example.org", "MX", 60, "10 www.example.org")
        ])
    db.close()
    (folder / "Corefile").write_text(".:0 {\n    bind 127.0.0.1\n    sqlite records.db example.org\n    whoami\n}\n")
    r = v.run("pycoredns", "-validate", "-conf", "Corefile", cwd=folder)
    assert (r.returncode, r.stdout.strip()) == (0, "Corefile OK"), r.stdout + r.stderr
    p = subprocess.Popen([v.bin("pycoredns"), "-conf", "Corefile"], cwd=folder, env=v.env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_dns_port(p.pid)
        a = query("www.example.org", "A", port)
        assert a.header.aa == 1 and [str(rr.rdata) for rr in a.rr] == ["192.0.2.80"]
        assert [str(rr.rdata) for rr in query("example.org", "MX", port, proto="tcp").rr] == ["10 www.example.org."]
        assert query("nope.example.org", "A", port).header.rcode == dnslib.RCODE.NXDOMAIN
        other = query("example.net", "A", port)  # not sqlite's zone: whoami answers
        assert other.header.rcode == 0 and any(rr.rtype == dnslib.QTYPE.SRV for rr in other.ar)
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out


def test_its_own_tests_pass_with_the_kit(venv: WithPlugin) -> None:
    # From the plugin's folder, with the venv's pytest: the kit's fixtures come from pycoredns's
    # pytest11 entry point, and the tests import the installed package, not the folder's copy.
    v = venv.venv
    r = v.run(v.bin("pytest"), "-q", "-p", "no:cacheprovider", cwd=venv.example, timeout=240)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout and "error" not in r.stdout.lower()
    plugins = v.run(v.bin("pytest"), "--co", "-q", "-p", "no:cacheprovider", "--trace-config", cwd=venv.example)
    assert "pycoredns.testing.fixtures" in plugins.stdout
