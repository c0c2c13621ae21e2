"""An upstream outage: the only upstream blackholed for a minute while misses pour in.

    .venv/bin/python -m benchmarks.reliability.outage [--blackout 60] [--miss-qps 3000] [--hit-qps 500]
                                                       [--max-concurrent N] [--workers N]

Needs root: everything runs in a network namespace made here (its name holds this process's
id) and deleted at the end. In it: dnsmasq as the upstream on 192.0.2.53 (an address that exists
only inside the namespace; every name under bench.test answered, TTL 3600, and 20 names under
stale.test with a TTL of 2 s), and pycoredns in the node-local-dns shape on 127.0.0.1:53
(``errors``, ``cache 30 { serve_stale }``, ``forward``, ``prometheus``, ``health``).

The blackout is an iptables DROP of everything to the upstream's address in the namespace's
INPUT chain: queries leave, nothing answers, TCP handshakes hang, no error comes back. While it
lasts, dnsperf sends ``--miss-qps`` queries a second for names never asked before (each one is
forwarded, and times out), and a second dnsperf asks cached names at ``--hit-qps`` with each
answer's latency recorded. Once the stale.test entries have expired, they are asked (serve_stale
answers them). When the rule goes, a new name is asked every 20 ms until one is answered: the
recovery time, against forward's health-check interval (0.5 s).

Printed: the misses' outcomes, the server's RSS and open files before and at most during the
outage, the hits' latency (p50, p99, max), the stale answers, the recovery time. With
``--workers N`` the server's RSS, open files and CPU are the supervisor's and its workers' summed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import configs, dnsperf
from benchmarks.procs import cpu_of
from benchmarks.reliability import load
from pycoredns.testing import netns

T = TypeVar("T")
UPSTREAM = "192.0.2.53"  # on lo, inside the namespace only
STALE_NAMES = [f"s{i}.stale.test" for i in range(20)]
STALE_TTL = 2
HEALTH_CHECK = 0.5  # forward's default health_check interval


class Namespace:
    """A network namespace with lo up and the upstream's address; deleted with what runs in it."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"pcdout{os.getpid()}"
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "addr", "add", f"{UPSTREAM}/32", "dev", "lo")
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def popen(self, cmd: list[str], log: str, **kw: Any) -> subprocess.Popen[bytes]:
        with open(self.workdir / log, "wb") as out:
            p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                 **kw)
        self.procs.append(p)
        return p

    def call(self, fn: Callable[[], T], timeout: float = 120) -> T:
        """Run ``fn`` in a thread that joined the namespace (its sockets live there)."""
        return netns.call_in(self.name, fn, timeout)

    def blackhole(self, on: bool) -> None:
        self.run("iptables", "-w", "5", "-I" if on else "-D", "INPUT", "-d", UPSTREAM, "-j", "DROP")


def corefile(max_concurrent: int | None) -> str:
    limit = f"        max_concurrent {max_concurrent}\n" if max_concurrent is not None else ""
    return (
        ".:53 {\n    bind 127.0.0.1\n    errors\n    cache 30 {\n        serve_stale\n    }\n"
        f"    forward . {UPSTREAM} {{\n{limit}    }}\n"
        "    prometheus 127.0.0.1:9253\n    health 127.0.0.1:8080\n}\n"
    )


def tree(pid: int) -> list[int]:
    """``pid`` and its children (a supervisor's workers)."""
    try:
        return [pid, *(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def open_files(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return total


def rss_bytes(pid: int) -> int:
    return sum(load.rss_bytes(p) for p in tree(pid))


def cpu_seconds(pid: int) -> float:
    return sum(cpu_of(p) for p in tree(pid))


def percentile_ms(values: list[float], p: float) -> float:
    return round(load.percentile(sorted(values), p) * 1000, 2)


def outage(workdir: Path, blackout: float = 60.0, miss_qps: int = 3000, hit_qps: int = 500,
           max_concurrent: int | None = None, settle: float = 3.0, workers: int = 1) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    with Namespace(workdir) as ns:
        dnsmasq = [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file", "--user=root",
            "--log-facility=-", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
            f"--listen-address={UPSTREAM}", "--port=53", "--cache-size=0", "--dns-forward-max=10000",
            f"--local-ttl={configs.UPSTREAM_TTL}", f"--address=/{configs.BENCH_DOMAIN}/{configs.BENCH_ADDRESS}",
            *[f"--host-record={name},192.0.2.2,{STALE_TTL}" for name in STALE_NAMES],
        ]
        ns.popen(dnsmasq, "upstream.log")
        (workdir / "Corefile").write_text(corefile(max_concurrent))
        server = ns.popen([sys.executable, "-m", "pycoredns", "-conf", str(workdir / "Corefile"),
                           "-workers", str(workers)], "server.log", cwd=str(load.ROOT))
        hits = configs.hit_names(100)

        def warm() -> int:
            deadline = time.monotonic() + 30
            client = load.Client("127.0.0.1", 53, timeout=0.5, tries=1)
            # The banner comes once every worker listens: before that, the first worker answers
            # alone, and names it caches may later be steered to another.
            while "CoreDNS-" not in (workdir / "server.log").read_text() or client.ask(hits[0]) is None:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the server did not answer: {(workdir / 'server.log').read_text()}")
                time.sleep(0.05)
            for name in hits + STALE_NAMES:
                client.ask(name)
            return client.answered

        ns.call(warm)
        pid = server.pid
        base_rss, base_files = rss_bytes(pid), open_files(pid)
        misses = configs.write_query_file(workdir / "misses.queries",
                                          configs.unique_names(int(miss_qps * (blackout + settle + 5)), seed=7))
        hit_file = configs.write_query_file(workdir / "hits.queries", hits)
        # Each miss is answered (SERVFAIL) only at forward's 5 s deadline: wait longer than that.
        miss_argv = dnsperf.dnsperf_argv(53, misses, blackout + settle, rate=miss_qps, clients=4,
                                         outstanding=min(65000, miss_qps * 8), cpu=None) + ["-t", "8"]
        hit_argv = dnsperf.dnsperf_argv(53, hit_file, blackout, rate=hit_qps, cpu=None) + ["-v"]
        ns.blackhole(True)
        started, cpu0 = time.monotonic(), cpu_seconds(pid)
        miss_run = ns.popen(miss_argv, "dnsperf-misses.log")
        hit_run = ns.popen(hit_argv, "dnsperf-hits.log")
        with load.Sampler(lambda: rss_bytes(pid) / 1e6, every=0.5) as rss, \
                load.Sampler(lambda: open_files(pid), every=0.5) as files:
            time.sleep(STALE_TTL + 1.0)  # the stale.test entries have expired

            def stale() -> dict[str, float]:
                c = load.Client("127.0.0.1", 53, timeout=1.0, tries=1)
                answered = 0
                for name in STALE_NAMES:
                    reply = c.ask(name)
                    if reply is not None and reply[3] & 0xF == 0 and reply[6:8] != b"\x00\x00":
                        answered += 1
                return {"asked": len(STALE_NAMES), "answered": answered, "p99_ms": c.summary()["p99_ms"]}

            stale_out = ns.call(stale)
            time.sleep(max(0.0, blackout - (time.monotonic() - started)))
            cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - started)
            ns.blackhole(False)
            healed = time.monotonic()

            def recovery() -> float:
                n = 0
                while time.monotonic() - healed < 30:
                    n += 1
                    reply = load.exchange(("127.0.0.1", 53), load.query_wire(f"back{n}.{configs.BENCH_DOMAIN}"),
                                          "udp", 0.2)
                    if reply is not None and reply[3] & 0xF == 0 and reply[6:8] != b"\x00\x00":
                        return time.monotonic() - healed
                    time.sleep(0.02)
                return -1.0

            recovered = ns.call(recovery)
            hit_run.wait(blackout + 60)
            miss_run.wait(blackout + settle + 60)
        hit_text = (workdir / "dnsperf-hits.log").read_text()
        miss_text = (workdir / "dnsperf-misses.log").read_text()
        hit_res, miss_res = dnsperf.parse_summary(hit_text), dnsperf.parse_summary(miss_text)
        latencies = [float(line.rsplit(" ", 1)[1]) for line in hit_text.splitlines()
                     if line.startswith("> ") and line.rsplit(" ", 1)[1].replace(".", "", 1).isdigit()]
        return {
            "blackout_s": blackout,
            "miss_qps": miss_qps,
            "workers": workers,
            "max_concurrent": "default (0: none)" if max_concurrent is None else max_concurrent,
            "misses": {"sent": miss_res.sent, "completed": miss_res.completed, "lost": miss_res.lost,
                       "rcodes": miss_res.rcodes},
            "hits": {"sent": hit_res.sent, "completed": hit_res.completed, "lost": hit_res.lost,
                     "rcodes": hit_res.rcodes, "p50_ms": percentile_ms(latencies, 50),
                     "p99_ms": percentile_ms(latencies, 99), "max_ms": percentile_ms(latencies, 100),
                     "measured": len(latencies)},
            "stale": stale_out,
            "rss_mb": {"before": round(base_rss / 1e6, 1), "max": round(max(rss.values()), 1),
                       "end": round(rss_bytes(pid) / 1e6, 1)},
            "open_files": {"before": base_files, "max": max(files.values())},
            "server_cpu_percent": round(cpu * 100, 1),
            "recovery_s": round(recovered, 3),
            "health_check_s": HEALTH_CHECK,
            "alive": server.poll() is None,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability.outage")
    p.add_argument("--blackout", type=float, default=60.0)
    p.add_argument("--miss-qps", type=int, default=3000)
    p.add_argument("--hit-qps", type=int, default=500)
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="forward's max_concurrent (default: forward's own, none, as CoreDNS)")
    p.add_argument("--workers", type=int, default=1, help="pycoredns's -workers (default 1)")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root: network namespaces and iptables", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pcd-outage-") as tmp:
        out = outage(Path(tmp), a.blackout, a.miss_qps, a.hit_qps, a.max_concurrent, workers=a.workers)
    print(json.dumps(out), flush=True)
    return 0 if out["alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
