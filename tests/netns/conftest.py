"""Network-namespace fixtures: namespaces the test creates and deletes, and pycoredns run inside one.

Everything runs as root inside namespaces made here (``ip netns add``), never on the host's own
interfaces or rules. Tests skip, naming what is missing, when not root or without ``ip netns``.
This machine's kernel has no ``dummy`` link type: the session then sets
``PYCOREDNS_INTERFACE_KIND=bridge`` for the servers it starts, and says so.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.processes import LoggedProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
_names = itertools.count()


def run(*cmd: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _missing_capability() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, interfaces, iptables)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    for tool in ("iptables", "iptables-save", "dig", "getent"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    probe = f"pcdprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"ip netns unavailable: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture(scope="session")
def netns_capable() -> None:
    reason = _missing_capability()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def interface_env(netns_capable: None) -> dict[str, str]:
    """The environment servers run with: the stand-in link kind when the kernel lacks ``dummy``."""
    env = dict(os.environ)
    env.pop("PYCOREDNS_INTERFACE_KIND", None)
    probe = f"pcdkind{os.getpid()}"
    run("ip", "netns", "add", probe)
    try:
        dummy = run("ip", "netns", "exec", probe, "ip", "link", "add", "d0", "type", "dummy", check=False)
    finally:
        run("ip", "netns", "del", probe, check=False)
    if dummy.returncode != 0:
        env["PYCOREDNS_INTERFACE_KIND"] = "bridge"
        note = (
            "kernel has no 'dummy' link type: the netns tests run the same code with"
            " PYCOREDNS_INTERFACE_KIND=bridge as the stand-in kind"
        )
        print(f"\nNOTE: {note}")
        warnings.warn(note, stacklevel=1)
    return env


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def exec(self, *cmd: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout)

    def iptables_save(self, binary: str = "iptables-save") -> str:
        return self.exec(binary).stdout

    def dig(self, server: str, name: str, *opts: str, port: int = 53) -> str:
        """dig's full answer text ('' when no reply came)."""
        done = self.exec(
            "dig", f"@{server}", "-p", str(port), name, "A", "+tries=1", "+time=3", *opts, check=False, timeout=20
        )
        return done.stdout if done.returncode == 0 else ""


@pytest.fixture
def make_netns(netns_capable: None) -> Iterator[Callable[[str], Netns]]:
    """A factory of namespaces (lo up), all deleted afterwards with whatever runs in them."""
    made: list[Netns] = []

    def make(role: str) -> Netns:
        ns = Netns(f"pcd{role}{os.getpid()}x{next(_names)}")
        run("ip", "netns", "add", ns.name)
        made.append(ns)
        ns.exec("ip", "link", "set", "lo", "up")
        return ns

    yield make
    for ns in reversed(made):
        pids = run("ip", "netns", "pids", ns.name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", ns.name, check=False)
        shutil.rmtree(f"/etc/netns/{ns.name}", ignore_errors=True)


class ServerProcess(LoggedProcess):
    """``ip netns exec NS python -m pycoredns -conf FILE``, its output collected in a file."""

    def __init__(self, ns: Netns, corefile: str, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pcdnetns"))
        self.conf = self.dir / "Corefile"
        self.conf.write_text(corefile)
        super().__init__(["ip", "netns", "exec", ns.name, PYTHON, "-m", "pycoredns", "-conf", str(self.conf)],
                         self.dir / "out.log", env)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the banner: printed after the listen hooks, so the rules are in place by then."""
        wait_until(lambda: "CoreDNS-" in self.output or self.proc.poll() is not None, timeout, 0.05)
        if self.proc.poll() is not None:
            raise AssertionError(f"pycoredns exited {self.proc.returncode}:\n{self.output}")
        if "CoreDNS-" not in self.output:
            raise AssertionError(f"pycoredns not up after {timeout}s:\n{self.output}")


@pytest.fixture
def start_server(interface_env: dict[str, str]) -> Iterator[Callable[[Netns, str], ServerProcess]]:
    started: list[ServerProcess] = []

    def start(ns: Netns, corefile: str) -> ServerProcess:
        server = ServerProcess(ns, corefile, interface_env)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)
