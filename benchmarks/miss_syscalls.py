"""System calls per cache miss: pycoredns (node-local-dns shape, UDP upstream) beside the floor.

    .venv/bin/python benchmarks/miss_syscalls.py [--rate 1000] [--seconds 5] [--tree DIR]

Starts benchmarks/upstream.py, then each server in turn: pycoredns with the node-local-dns block
(``errors, cache 30, forward, prometheus``), pycoredns with ``forward`` only, and the bare uvloop
forwarder (benchmarks/uvloop_forward_floor.py). Each serves a short dnsperf run first (its pools
filled), then ``strace -c -f`` is attached while dnsperf sends ``--rate`` queries a second for
names never asked before; the calls of each kind are divided by the queries answered. The rate
is kept low because strace stops the server at every call: a server pushed to saturation reads
several datagrams per wake-up and the counts would say less about one miss.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import configs, dnsperf
from benchmarks.procs import Server, free_port
from benchmarks.targets import FORWARD_FLOOR_SCRIPT, REPO, UPSTREAM_SCRIPT


def strace_counts(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_counts(path: Path) -> dict[str, int]:
    """strace -c's table: calls by system call name."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[3].isdigit() or fields[-1] == "total":
            continue
        counts[fields[-1]] = int(fields[3])
    return counts


def measure(label: str, argv: list[str], port: int, work: Path, rate: int, seconds: float,
            cwd: Path) -> tuple[dict[str, int], int]:
    """(calls by name, queries answered) over one dnsperf run at ``rate`` under strace."""
    server = Server(label, argv, work, None, cwd=cwd).start()
    try:
        server.wait_ready(port, f"ready.{configs.BENCH_DOMAIN}")
        warmup = configs.write_query_file(work / f"{label}-warm.queries", configs.unique_names(2000, seed=1))
        dnsperf.run(dnsperf.dnsperf_argv(port, warmup, 2, rate=rate, cpu=None), work / "dnsperf.log", 2)
        names = configs.unique_names(int(rate * seconds * 1.2) + 100, seed=2)
        qfile = configs.write_query_file(work / f"{label}.queries", names)
        out = work / f"{label}.strace"
        tracer = strace_counts(server.pid, out)
        time.sleep(0.5)  # attached to every thread before the queries come
        res = dnsperf.run(dnsperf.dnsperf_argv(port, qfile, seconds, rate=rate, cpu=None),
                          work / "dnsperf.log", seconds)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        return read_counts(out), res.completed
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--tree", help="run the pycoredns of this source tree")
    args = ap.parse_args(argv)
    cwd = Path(args.tree).resolve() if args.tree else REPO  # python -m pycoredns imports from there
    with tempfile.TemporaryDirectory(prefix="miss-syscalls-") as tmp:
        work = Path(tmp)
        up_port = free_port()
        upstream = Server("upstream", configs.upstream_argv(sys.executable, str(UPSTREAM_SCRIPT), up_port), work,
                          None).start()
        try:
            servers = []
            for label, nodelocal in (("pycoredns", True), ("forward-only", False)):
                port = free_port()
                path = work / f"{label}.Corefile"
                text = (configs.nodelocal_block(port, up_port, free_port(), tcp=False) if nodelocal
                        else configs.corefile(port, up_port, cache=False))
                path.write_text(text)
                servers.append((label, [sys.executable, "-m", "pycoredns", "-conf", str(path), "-quiet"], port))
            port = free_port()
            servers.append(("floor", [sys.executable, str(FORWARD_FLOOR_SCRIPT), str(port), str(up_port)], port))
            print(f"system calls per miss ({args.rate} queries/s for {args.seconds:g} s, every name new)")
            for label, cmd, port in servers:
                counts, answered = measure(label, cmd, port, work, args.rate, args.seconds, cwd)
                total = sum(counts.values())
                detail = ", ".join(f"{name} {n / answered:.2f}" for name, n in
                                   sorted(counts.items(), key=lambda kv: -kv[1]) if n / answered >= 0.005)
                print(f"{total / answered:6.2f}  {label} ({answered} answered): {detail}", flush=True)
        finally:
            upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
