"""The servers a benchmark run starts: the upstream, pycoredns, unbound, dnsmasq and the Python floors.

All on 127.0.0.1 with free ports, output and generated configs in the run's work directory.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import configs
from benchmarks.procs import Server, free_port

MakeCorefile = Callable[[int], str]  # port -> Corefile text
REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
FLOOR_SCRIPT = HERE / "uvloop_floor.py"
FORWARD_FLOOR_SCRIPT = HERE / "uvloop_forward_floor.py"
UPSTREAM_SCRIPT = HERE / "upstream.py"


@dataclass
class Target:
    """A server under test and the port it answers on."""

    label: str
    server: Server
    port: int


@dataclass
class Lab:
    """Where servers are started: the work directory, the cores, the shared upstream."""

    workdir: Path
    server_cpu: int | None
    client_cpu: int | None
    python: str = sys.executable
    upstream_port: int = 0
    started: list[Server] = field(default_factory=list)
    _serial: int = 0

    def _name(self, label: str) -> str:
        self._serial += 1
        return f"{self._serial:02d}-{label}"

    def _track(self, server: Server) -> Server:
        self.started.append(server)
        return server

    def start_upstream(self) -> Target:
        """The shared upstream (benchmarks/upstream.py), UDP and TCP on one port; on the client's
        core so it never competes with the server under test."""
        port = free_port()
        argv = configs.upstream_argv(self.python, str(UPSTREAM_SCRIPT), port)
        server = self._track(Server(self._name("upstream"), argv, self.workdir, self.client_cpu).start())
        self.upstream_port = port
        return Target("upstream", server, port)

    def pycoredns(self, label: str, make_corefile: MakeCorefile, workers: int = 1, pinned: bool = True) -> Target:
        """pycoredns with ``-workers``; ``pinned`` puts it on the server core (else every core)."""
        port = free_port()
        path = self.workdir / f"{self._name(label)}.Corefile"
        path.write_text(make_corefile(port))
        argv = [self.python, "-m", "pycoredns", "-conf", str(path), "-quiet"]
        if workers != 1:
            argv += ["-workers", str(workers)]
        server = Server(path.stem, argv, self.workdir, self.server_cpu if pinned else None, cwd=REPO)
        return Target(label, self._track(server.start()), port)

    def unbound(self, label: str = "unbound", *, tcp_upstream: bool = False) -> Target:
        port = free_port()
        name = self._name(label)
        path = self.workdir / f"{name}.conf"
        path.write_text(configs.unbound_conf(port, self.upstream_port, self.workdir, tcp_upstream=tcp_upstream))
        server = Server(name, ["unbound", "-d", "-c", str(path)], self.workdir, self.server_cpu)
        return Target(label, self._track(server.start()), port)

    def dnsmasq(self, label: str = "dnsmasq") -> Target:
        port = free_port()
        argv = ["dnsmasq", *configs.dnsmasq_cache_args(port, self.upstream_port)]
        server = Server(self._name(label), argv, self.workdir, self.server_cpu)
        return Target(label, self._track(server.start()), port)

    def floor(self, query_file: Path, label: str = "floor") -> Target:
        """The hit floor: a bare uvloop loop replaying stored replies (uvloop_floor.py)."""
        port = free_port()
        argv = [self.python, str(FLOOR_SCRIPT), str(port), str(query_file)]
        server = Server(self._name(label), argv, self.workdir, self.server_cpu)
        return Target(label, self._track(server.start()), port)

    def forward_floor(self, label: str = "floor", *, tcp: bool = False) -> Target:
        """The miss floor: a bare uvloop forwarder (uvloop_forward_floor.py), over UDP or TCP."""
        port = free_port()
        argv = [self.python, str(FORWARD_FLOOR_SCRIPT), str(port), str(self.upstream_port)] + (["--tcp"] if tcp else [])
        server = Server(self._name(label), argv, self.workdir, self.server_cpu)
        return Target(label, self._track(server.start()), port)

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.stop()
        self.started.clear()


def pycoredns_validates(python: str, make_corefile: MakeCorefile, workdir: Path) -> str | None:
    """None when pycoredns loads the Corefile (``-validate``: every plugin set up, no sockets),
    else its error message."""
    path = workdir / "validate.Corefile"
    path.write_text(make_corefile(53))
    done = subprocess.run(
        [python, "-m", "pycoredns", "-conf", str(path), "-validate"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"
