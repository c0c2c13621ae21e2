"""A long mixed soak: cache hits, misses, NXDOMAIN (cached and not) over UDP, and TCP, at a fixed
rate, for minutes, counting every lost query and sampling the server's RSS.

    .venv/bin/python -m benchmarks.reliability.soak [--seconds 600] [--udp-qps 3000] [--tcp-qps 300]

The server runs the node-local-dns shape (``errors``, ``cache 30``, ``forward``, ``prometheus``),
the upstream is dnsmasq (an answer for every name under bench.test, NXDOMAIN for every name
under nx.test), and two dnsperf runs go on at once, one over UDP and one over TCP (persistent
connections), each bounded in time and rate. forward asks the upstream over UDP whatever the
client used (``prefer_udp``): dnsmasq serves at most 20 TCP connections at once (a child process
each), and past that it delays new ones by seconds, which would measure dnsmasq, not pycoredns.
The query files are as long as the run, so a "miss" name is never asked twice. Every tenth query
of a file is an NXDOMAIN for a new name, one in ten one of 50 repeated NXDOMAIN names (the
cache's denial), two in ten new names (misses), the rest 200 repeated names (hits, refreshed
every 30 s by the cache's TTL cap).

Printed: each dnsperf's sent, completed and lost queries and its response codes; RSS at the
end of the warm-up and after it (lowest, highest, the trend per minute by least squares); the
server's CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import configs, dnsperf
from benchmarks.procs import Server, cpu_of
from benchmarks.reliability import load
from pycoredns.testing import fixed_port

NX_DOMAIN = "nx.test"


def mixed_names(count: int, seed: int) -> list[str]:
    """``count`` names in the soak's mix (see the module's text), never repeating a miss."""
    hits = configs.hit_names(200)
    nx_cached = [f"gone{i}.{NX_DOMAIN}" for i in range(50)]
    fresh = iter(configs.unique_names(count * 4 // 10 + 10, seed))
    out = []
    for i in range(count):
        k = i % 10
        if k in (0, 5):
            out.append(next(fresh))  # a miss: forwarded once
        elif k == 3:
            out.append(next(fresh).replace(configs.BENCH_DOMAIN, NX_DOMAIN))  # NXDOMAIN, forwarded
        elif k == 7:
            out.append(nx_cached[(i // 10) % len(nx_cached)])  # NXDOMAIN, cached denial
        else:
            out.append(hits[(i * 7) % len(hits)])
    return out


def corefile(upstream_port: int, metrics_port: int) -> str:
    return (
        ".:0 {\n    bind 127.0.0.1\n    errors\n    cache 30\n"
        f"    forward . 127.0.0.1:{upstream_port} {{\n        prefer_udp\n    }}\n"
        f"    prometheus 127.0.0.1:{metrics_port}\n}}\n"
    )


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares trend of (seconds, value) samples, per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in samples) / var * 60


def soak(workdir: Path, seconds: float, udp_qps: int, tcp_qps: int, warmup: float,
         rss_every: float = 5.0) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    up_port, metrics = fixed_port(), fixed_port()
    upstream = Server("dnsmasq-upstream", ["dnsmasq", *configs.upstream_dnsmasq_args(up_port),
                                           f"--address=/{NX_DOMAIN}/"], workdir, cpu=None)
    upstream.start()
    try:
        upstream.wait_ready(up_port, configs.hit_names(1)[0])
        with load.Served(corefile(up_port, metrics), workdir) as srv:
            files = {}
            for proto, rate, seed in (("udp", udp_qps, 1), ("tcp", tcp_qps, 2)):
                count = int(rate * (seconds + 5)) + 100
                files[proto] = configs.write_query_file(workdir / f"{proto}.queries", mixed_names(count, seed))
            warm = load.Client(srv.host, srv.port)
            for name in configs.hit_names(200):
                warm.ask(name)
            runs: dict[str, Any] = {}
            procs = {}
            for proto, rate in (("udp", udp_qps), ("tcp", tcp_qps)):
                argv = dnsperf.dnsperf_argv(srv.port, files[proto], seconds, rate=rate, clients=4, cpu=None)
                if proto == "tcp":
                    argv += ["-m", "tcp"]
                procs[proto] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            cpu0, t0 = cpu_of(srv.pid), time.monotonic()
            outputs: dict[str, str] = {}

            def collect(proto: str) -> None:
                outputs[proto] = procs[proto].communicate(timeout=seconds + 60)[0]

            readers = [threading.Thread(target=collect, args=(p,)) for p in procs]
            for r in readers:
                r.start()
            with load.Sampler(lambda: srv.rss() / 1e6, every=rss_every) as rss:
                for r in readers:
                    r.join(seconds + 90)
            took = time.monotonic() - t0
            cpu = cpu_of(srv.pid) - cpu0
            for proto, text in outputs.items():
                (workdir / f"dnsperf-{proto}.log").write_text(text)
                res = dnsperf.parse_summary(text)
                runs[proto] = {"sent": res.sent, "completed": res.completed, "lost": res.lost,
                               "qps": round(res.qps), "rcodes": res.rcodes}
            after = [(t, v) for t, v in rss.samples if t >= warmup]
            values = [v for _, v in after]
            return {
                "seconds": seconds,
                "udp": runs["udp"],
                "tcp": runs["tcp"],
                "lost": sum(r["lost"] for r in runs.values()),
                "rss_mb": {
                    "warm": round(values[0], 1) if values else None,
                    "min": round(min(values), 1) if values else None,
                    "max": round(max(values), 1) if values else None,
                    "end": round(values[-1], 1) if values else None,
                    "trend_per_min": round(slope_per_minute(after), 3),
                    "samples": len(values),
                },
                "server_cpu_percent": round(100 * cpu / took, 1),
                "alive": load.alive(srv.pid),
            }
    finally:
        upstream.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability.soak")
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--udp-qps", type=int, default=3000)
    p.add_argument("--tcp-qps", type=int, default=300)
    p.add_argument("--warmup", type=float, default=60.0, help="RSS is judged after this (the cache fills)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pcd-soak-") as tmp:
        out = soak(Path(tmp), a.seconds, a.udp_qps, a.tcp_qps, a.warmup)
    print(json.dumps({"soak": out, "udp_qps": a.udp_qps, "tcp_qps": a.tcp_qps, "warmup": a.warmup}), flush=True)
    return 0 if out["lost"] == 0 and out["alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
