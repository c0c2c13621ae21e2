"""Server processes for the benchmark: spawn pinned to a core, probe, read CPU time and RSS, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import dnslib

from pycoredns.testing.ports import fixed_port

__all__ = ["Server", "ServerFailed", "free_port", "probe", "warm"]


def free_port() -> int:
    """A port for a server to be started (unbound and dnsmasq take a port, not port 0): from
    outside the kernel's ephemeral range, free when chosen. A server that still finds it taken
    (another benchmark run started at the same moment) exits, and its wait_ready reports it."""
    return fixed_port()


CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ServerFailed(RuntimeError):
    """A server under test did not start or stopped answering."""


class Server:
    """One process started by the benchmark, its output in ``log_path``.

    ``taskset -c CPU`` execs the server, so the process id is the server's own and /proc/PID/stat
    holds the CPU time of all its threads.
    """

    def __init__(self, name: str, argv: list[str], log_dir: Path, cpu: int | None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + argv
        self.log_path = log_dir / f"{name}.log"
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Server:
        log = self.log_path.open("ab")
        log.write(("$ " + " ".join(self.argv) + "\n").encode())
        log.flush()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        log.close()
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerFailed(f"{self.name} was not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the whole process so far."""
        return cpu_of(self.pid)

    def rss_bytes(self) -> int:
        return rss_of(self.pid)

    def children(self) -> list[int]:
        """The pids of the process's children (a supervisor's workers)."""
        try:
            return [int(c) for c in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []

    def tree_cpu_seconds(self) -> float:
        """CPU time of the process and of its children that are running (its workers)."""
        return self.cpu_seconds() + sum(cpu_of(c) for c in self.children())

    def wait_ready(self, port: int, name: str, timeout: float = 30.0, need_answer: bool = True) -> float:
        """Poll with a query until an answer comes; return seconds from spawn to that answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerFailed(f"{self.name} exited with {self.proc and self.proc.returncode}: see {self.log_path}")
            if probe(port, name, timeout=0.05, need_answer=need_answer):
                return time.monotonic() - self.started_at
            time.sleep(0.005)  # not bound yet (refused at once): do not spin on the client core
        raise ServerFailed(f"{self.name} gave no answer within {timeout:.0f} s: see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_of(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (0 once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def rss_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_SIZE


def probe(port: int, name: str, qtype: str = "A", timeout: float = 1.0, need_answer: bool = True) -> bool:
    """One UDP query to 127.0.0.1:port; True when a NOERROR reply (with an answer record, when
    ``need_answer``) comes back."""
    q = dnslib.DNSRecord.question(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q.pack(), ("127.0.0.1", port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return False
    if len(data) < 12 or data[:2] != q.pack()[:2]:
        return False
    rcode = data[3] & 0xF
    ancount = int.from_bytes(data[6:8], "big")
    return rcode == 0 and (ancount > 0 or not need_answer)


def warm(port: int, names: list[str], timeout: float = 2.0) -> int:
    """Query every name once, sequentially; return how many got an answer (fills the caches)."""
    return sum(1 for name in names if probe(port, name, timeout=timeout))

