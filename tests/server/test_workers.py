"""``-workers N`` on loopback: real worker processes, one logical cache, one process to the outside.

Each test starts ``python -m pycoredns -workers N`` against a FakeUpstream in this process and
talks to it over real sockets: UDP queries each from a new source port, /metrics and /ready over
HTTP, signals to the supervisor and to one worker.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import dnslib
import pytest

from pycoredns.server import steering
from pycoredns.testing import FakeUpstream, answer_a, fixed_port, query
from tests.processes import LoggedProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


class Instance(LoggedProcess):
    """``pycoredns -conf FILE -workers N``, output in a file."""

    def __init__(self, tmp: Path, corefile: str, workers: int, *extra: str) -> None:
        self.conf = tmp / "Corefile"
        self.conf.write_text(corefile)
        super().__init__(
            [sys.executable, "-m", "pycoredns", "-conf", str(self.conf), "-workers", str(workers), *extra],
            tmp / "out.log",
        )

    def wait_banner(self, timeout: float = 30.0) -> None:
        assert wait_until(lambda: "CoreDNS-" in self.output or self.proc.poll() is not None, timeout), self.output
        assert self.proc.poll() is None, self.output

    def workers(self) -> list[int]:
        """The worker pids (children of the supervisor), in start order."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(k) for k in kids]


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def gone(pid: int) -> bool:
    """The process has exited (reaped or a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def mixed_case(name: str) -> str:
    return "".join(c.upper() if random.random() < 0.5 else c for c in name)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    up = FakeUpstream(answer_a("192.0.2.7", ttl=300)).start()
    yield up
    up.stop()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    made: list[Instance] = []

    def start(corefile: str, workers: int = 2, *extra: str) -> Instance:
        inst = Instance(tmp_path, corefile, workers, *extra)
        made.append(inst)
        inst.wait_banner()
        return inst

    yield start
    for inst in made:
        inst.kill()


def corefile(dns: int, up: int, metrics: int, extra: str = "") -> str:
    return (
        f".:{dns} {{\n    bind 127.0.0.1\n    cache 300\n    forward . 127.0.0.1:{up}\n"
        f"    prometheus 127.0.0.1:{metrics}\n{extra}}}\n"
    )


def upstream_names(up: FakeUpstream) -> list[str]:
    return [str(q.q.qname).lower() for _, q in up.queries]


def test_one_logical_cache_and_one_metrics(started: Callable[..., Instance], upstream: FakeUpstream) -> None:
    dns, prom = fixed_port(), fixed_port()
    inst = started(corefile(dns, upstream.port, prom))
    assert len(inst.workers()) == 2
    assert inst.output.count("CoreDNS-") == 1  # one banner for the instance

    names = [f"host{i}.example.org" for i in range(100)]
    for name in names:  # each query from a new source port
        assert [str(rr.rdata) for rr in query(name, "A", dns).rr] == ["192.0.2.7"]
    assert sorted(upstream_names(upstream)) == sorted(f"{n}." for n in names)
    # Both workers hold part of the names (the BPF program's split, computed here the same way).
    shares = {steering.worker_of(dnslib.DNSRecord.question(n).pack()[12:], 2) for n in names}
    assert shares == {0, 1}

    # A second pass, new source ports, any letter case: every answer comes from a cache.
    for name in names:
        assert [str(rr.rdata) for rr in query(mixed_case(name), "A", dns).rr] == ["192.0.2.7"]
    assert len(upstream.queries) == len(names)

    # Every scrape, whichever worker takes it, counts every query, once.
    for _ in range(8):
        status, text = http_get(f"http://127.0.0.1:{prom}/metrics")
        assert status == 200
        assert metric(text, "coredns_dns_requests_total") == 2 * len(names)
        assert metric(text, "coredns_cache_hits_total") == len(names)
        assert metric(text, "coredns_cache_misses_total") == len(names)
        assert metric(text, "coredns_cache_entries") == len(names)
        assert metric(text, "coredns_build_info") == 1  # the same in every worker: not summed
        assert metric(text, "coredns_workers") == 2
    assert inst.stop() == 0


def test_a_dead_worker_is_replaced_and_counted(started: Callable[..., Instance], upstream: FakeUpstream) -> None:
    dns, prom = fixed_port(), fixed_port()
    inst = started(corefile(dns, upstream.port, prom))
    names = [f"kill{i}.example.org" for i in range(40)]
    for name in names:
        query(name, "A", dns)
    _, before = http_get(f"http://127.0.0.1:{prom}/metrics")  # the workers' counts are known here
    victim = inst.workers()[1]
    os.kill(victim, signal.SIGKILL)
    # Reaped (every thread gone, its sockets closed): a query queued at a dying socket is lost.
    assert wait_until(lambda: f"(PID {victim}) died" in inst.output, 10)

    # The other worker answers every name meanwhile, its own and the dead one's.
    for name in names:
        assert [str(rr.rdata) for rr in query(name, "A", dns, timeout=5).rr] == ["192.0.2.7"]
    assert wait_until(lambda: "Worker 1 started again" in inst.output, 20), inst.output
    assert re.search(rf"\[ERROR\] Worker 1 \(PID {victim}\) died: killed by SIGKILL; starting it again", inst.output)
    kids = inst.workers()
    assert len(kids) == 2 and victim not in kids

    _, text = http_get(f"http://127.0.0.1:{prom}/metrics")
    assert 'coredns_worker_restarts_total{worker="1"} 1.0' in text
    # What the dead worker had counted is still in the sums.
    assert metric(text, "coredns_dns_requests_total") >= metric(before, "coredns_dns_requests_total") + len(names)
    for name in names:  # and the new worker answers its names again
        assert [str(rr.rdata) for rr in query(name, "A", dns).rr] == ["192.0.2.7"]
    assert inst.stop() == 0


def test_sigusr1_reloads_every_worker(started: Callable[..., Instance], tmp_path: Path) -> None:
    dns = fixed_port()
    template = (
        ".:{dns} {{\n    bind 127.0.0.1\n"
        "    template IN A example.org {{\n        answer \"{{{{ .Name }}}} 60 IN A {ip}\"\n    }}\n}}\n"
    )
    inst = started(template.format(dns=dns, ip="192.0.2.1"))
    names = [f"r{i}.example.org" for i in range(20)]
    assert {steering.worker_of(dnslib.DNSRecord.question(n).pack()[12:], 2) for n in names} == {0, 1}
    inst.conf.write_text(template.format(dns=dns, ip="192.0.2.2"))
    inst.proc.send_signal(signal.SIGUSR1)

    def all_new() -> bool:
        return all([str(rr.rdata) for rr in query(n, "A", dns).rr] == ["192.0.2.2"] for n in names)

    assert wait_until(all_new, 20, 0.2), inst.output
    assert inst.stop() == 0


def test_the_reload_plugin_reloads_every_worker(started: Callable[..., Instance]) -> None:
    dns = fixed_port()
    template = (
        ".:{dns} {{\n    bind 127.0.0.1\n    reload 2s 1s\n"
        "    template IN A example.org {{\n        answer \"{{{{ .Name }}}} 60 IN A {ip}\"\n    }}\n}}\n"
    )
    inst = started(template.format(dns=dns, ip="192.0.2.1"))
    names = [f"p{i}.example.org" for i in range(20)]
    inst.conf.write_text(template.format(dns=dns, ip="192.0.2.3"))

    def all_new() -> bool:
        return all([str(rr.rdata) for rr in query(n, "A", dns).rr] == ["192.0.2.3"] for n in names)

    assert wait_until(all_new, 20, 0.2), inst.output
    assert inst.stop() == 0


def test_ready_and_health_answer_for_the_instance(started: Callable[..., Instance]) -> None:
    dns, ready, health = fixed_port(), fixed_port(), fixed_port()
    inst = started(
        f".:{dns} {{\n    bind 127.0.0.1\n    whoami\n    ready 127.0.0.1:{ready}\n    health 127.0.0.1:{health}\n}}\n"
    )
    assert wait_until(lambda: http_get(f"http://127.0.0.1:{ready}/ready") == (200, "OK"), 10)
    assert http_get(f"http://127.0.0.1:{health}/health") == (200, "OK")
    # A worker that does not answer (stopped) makes the instance not ready: the other one says so.
    frozen = inst.workers()[1]
    os.kill(frozen, signal.SIGSTOP)
    answers = []
    try:
        for _ in range(12):  # the kernel hands each connection to either worker
            try:
                answers.append(http_get(f"http://127.0.0.1:{ready}/ready", timeout=4))
            except TimeoutError:
                continue  # it reached the stopped one
            if answers[-1][0] == 503:
                break
    finally:
        os.kill(frozen, signal.SIGCONT)
    assert answers and answers[-1] == (503, "worker 1"), answers
    assert wait_until(lambda: http_get(f"http://127.0.0.1:{ready}/ready") == (200, "OK"), 10)
    assert inst.stop() == 0


def test_sigterm_stops_every_worker_after_the_lameduck(started: Callable[..., Instance], tmp_path: Path) -> None:
    dns, health = fixed_port(), fixed_port()
    inst = started(
        f".:{dns} {{\n    bind 127.0.0.1\n    whoami\n"
        f"    health 127.0.0.1:{health} {{\n        lameduck 1s\n    }}\n}}\n"
    )
    kids = inst.workers()
    inst.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Lameduck: still answering, from both workers (names steered to each).
    for name in ("a.example.org", "b.example.org", "c.example.org", "d.example.org"):
        assert query(name, "A", dns).header.rcode == dnslib.RCODE.NOERROR
    assert inst.proc.wait(30) == 0
    out = inst.output
    assert out.count("[INFO] SIGTERM: Shutting down servers then terminating") == 1
    assert out.count("[INFO] plugin/health: Going into lameduck mode for 1s") == 2  # each worker's
    for pid in kids:
        assert gone(pid)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # nothing listens any more
        s.settimeout(0.5)
        s.sendto(dnslib.DNSRecord.question("x.example.org").pack(), ("127.0.0.1", dns))
        with pytest.raises(OSError):
            s.recvfrom(512)


def test_a_plugin_that_stops_the_process_stops_the_instance(tmp_path: Path) -> None:
    # A forwarding loop: the loop plugin of whichever worker the probe name reaches sees it come
    # back and stops the process, which is the whole instance, with CoreDNS's message and status 1.
    dns = fixed_port()
    inst = Instance(tmp_path, f".:{dns} {{\n    bind 127.0.0.1\n    loop\n    forward . 127.0.0.1:{dns}\n}}\n", 2)
    try:
        code = inst.proc.wait(60)
    finally:
        inst.kill()
    assert code == 1, inst.output
    assert re.search(r"\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\) detected", inst.output)


def test_workers_flag_values(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pycoredns", *args], capture_output=True, text=True, timeout=60)

    for bad in ("0", "-1", "two", "257"):
        r = run("-workers", bad, "-validate")
        assert r.returncode == 2, (bad, r.stderr)
        assert f'invalid value "{bad}" for flag -workers' in r.stderr
    (tmp_path / "Corefile").write_text(".:1053 {\n    whoami\n}\n")
    assert run("-workers", "auto", "-validate", "-conf", str(tmp_path / "Corefile")).returncode == 0


def test_port_0_cannot_be_shared_by_workers(tmp_path: Path) -> None:
    # Each worker would get a port of its own from the kernel: the instance refuses, naming why.
    (tmp_path / "Corefile").write_text(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n")
    argv = [sys.executable, "-m", "pycoredns", "-workers", "2", "-conf", str(tmp_path / "Corefile")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "listen dns://127.0.0.1:0: port 0 cannot be shared by workers: give a port" in r.stdout + r.stderr
