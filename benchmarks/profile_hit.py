"""Where pycoredns spends a cache hit: py-spy samples of the server under a fixed dnsperf load.

    .venv/bin/python benchmarks/profile_hit.py --py-spy /path/to/py-spy [--seconds 10] [--rate 10000]

Starts the upstream and pycoredns (cache in front of forward, or the node-cache set with
--nodecache) on loopback, pre-warms the cache, samples the server with py-spy while dnsperf sends
cache hits, and prints each function's share of the samples with its cost in microseconds per
query (share x measured CPU per query). py-spy is not a dependency: pass its path.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import configs, dnsperf
from benchmarks.procs import free_port, warm
from benchmarks.run import cores, plugin_loads
from benchmarks.targets import Lab

IDLE_LEAVES = ("epoll_wait", "epoll_pwait")  # the loop asleep waiting for packets: not CPU time


def aggregate(collapsed: str) -> tuple[Counter[str], Counter[str], int]:
    """Self and inclusive sample counts per frame from py-spy's raw (collapsed stack) output,
    leaving out samples of the loop asleep in epoll (py-spy takes those in --native mode)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own, inclusive, total


def table(title: str, counts: Counter[str], total: int, us_per_query: float, top: int) -> str:
    lines = [title, f"{'share':>6} {'us/query':>9}  function (file:line)"]
    for frame, n in counts.most_common(top):
        lines.append(f"{100 * n / total:5.1f}% {us_per_query * n / total:9.2f}  {frame}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--py-spy", default=shutil.which("py-spy"), help="path of the py-spy binary")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--nodecache", action="store_true", help="add errors and prometheus, as node-cache does")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--native", action="store_true", help="sample C frames too (uvloop, libuv, syscalls)")
    args = ap.parse_args(argv)
    if not args.py_spy:
        print("py-spy not found: pass --py-spy PATH (pip install --target DIR py-spy)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="pycoredns-profile-"))
    server_cpu, client_cpu = cores()
    lab = Lab(workdir, server_cpu, client_cpu)
    names = configs.hit_names()
    qfile = configs.write_query_file(workdir / "hit.queries", names)
    bind = plugin_loads("bind")
    try:
        up = lab.start_upstream()
        up.server.wait_ready(up.port, names[0])

        def make(port: int) -> str:
            prom = free_port() if args.nodecache else None
            return configs.corefile(port, up.port, bind=bind, errors=args.nodecache, prometheus_port=prom)

        t = lab.pycoredns("pycoredns-profiled", make)
        t.server.wait_ready(t.port, names[0])
        warm(t.port, names)
        out = workdir / "hit.collapsed"
        spy_log = (workdir / "py-spy.log").open("w")
        spy = subprocess.Popen(
            [args.py_spy, "record", "--pid", str(t.server.pid), "--duration", f"{args.seconds:.0f}",
             "--rate", "500", "--format", "raw", "--output", str(out), "--function",
             # Native stacks need the process paused per sample (py-spy refuses otherwise).
             *(["--native"] if args.native else ["--nonblocking"])],
            stdout=spy_log, stderr=subprocess.STDOUT,
        )
        perf_argv = dnsperf.dnsperf_argv(t.port, qfile, args.seconds, rate=args.rate, cpu=client_cpu)
        before = t.server.cpu_seconds()
        res = dnsperf.run(perf_argv, workdir / "dnsperf.log", args.seconds)
        after = t.server.cpu_seconds()
        spy.wait(timeout=args.seconds + 30)
    finally:
        lab.stop_all()
    # py-spy's own sampling costs the server a little CPU: the per-query figure is an upper bound.
    us = (after - before) * 1e6 / max(res.completed, 1)
    if not out.exists():
        print(f"py-spy wrote no samples: see {workdir / 'py-spy.log'}", file=sys.stderr)
        return 1
    own, inclusive, total = aggregate(out.read_text())
    print(f"{res.completed} hits at {args.rate} qps: {us:.1f} us CPU per query (with py-spy attached), "
          f"{total} samples; collapsed stacks in {out}")
    print(table("\nself time", own, total, us, args.top))
    print(table("\ninclusive time", inclusive, total, us, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
