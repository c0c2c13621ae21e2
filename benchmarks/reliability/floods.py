"""Floods against one pycoredns on loopback: UDP at the highest rate the loopback takes, TCP
connection floods and slowloris clients, with a well-behaved client asking all along.

    .venv/bin/python -m benchmarks.reliability.floods [--seconds 20] [--only udp|tcp|slowloris]

The server (``python -m pycoredns``) runs the node-local-dns shape (``errors``, ``cache``,
``forward`` to an upstream started here, ``prometheus``) with ``timeouts { max_connections N }``;
the floods run in their own processes (see load.py). Printed per flood: what was offered, what
the server answered (from its own counters), the most TCP connections it held, its RSS over the
flood, and the well-behaved client's answers and latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.reliability import load
from pycoredns.testing import FakeUpstream, answer_a, fixed_port

HIT_NAMES = [f"hit{i}.example.org" for i in range(50)]
MAX_CONNECTIONS = 64


def corefile(upstream: str, metrics: int, max_connections: int = MAX_CONNECTIONS) -> str:
    return (
        ".:0 {\n    bind 127.0.0.1\n    errors\n    cache 3600\n"
        f"    forward . {upstream}\n    prometheus 127.0.0.1:{metrics}\n"
        f"    timeouts {{\n        max_connections {max_connections}\n    }}\n}}\n"
    )


def answered(metrics: int) -> float:
    """coredns_dns_responses_total, every label set: the replies the server sent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("coredns_dns_responses_total{"))


class Lab:
    """An upstream and a server, the cache warmed with :data:`HIT_NAMES`."""

    def __init__(self, workdir: Path, max_connections: int = MAX_CONNECTIONS) -> None:
        self.upstream = FakeUpstream(answer_a("192.0.2.7", ttl=3600)).start()
        self.metrics = fixed_port()
        self.server = load.Served(corefile(self.upstream.address, self.metrics, max_connections), workdir)
        warm = load.Client(self.server.host, self.server.port)
        for name in HIT_NAMES:
            if warm.ask(name) is None:
                raise RuntimeError(f"no answer for {name} before the flood")

    def close(self) -> None:
        self.server.stop()
        self.upstream.stop()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def during(self, flood: Any, ask_udp: bool = True, ask_tcp: bool = False,
               pause: float = 0.02) -> dict[str, Any]:
        """While ``flood`` (a child process) runs: the well-behaved clients ask, one query at a
        time; RSS and the TCP connections the server holds are sampled."""
        host, port, pid = self.server.host, self.server.port, self.server.pid
        udp = load.Client(host, port, timeout=0.5, tries=10)
        tcp = load.Client(host, port, timeout=2.0, tries=3)
        before = answered(self.metrics)
        started = time.monotonic()
        with load.Sampler(lambda: self.server.rss() / 1e6) as rss, \
                load.Sampler(lambda: load.tcp_connections(pid, port), every=0.05) as conns:
            i = 0
            while flood.poll() is None:
                name = HIT_NAMES[i % len(HIT_NAMES)]
                i += 1
                if ask_udp:
                    udp.ask(name)
                if ask_tcp:
                    tcp.ask(name, proto="tcp")
                time.sleep(pause)
            offered = load.result(flood)
        took = time.monotonic() - started
        held = conns.values()
        memory = rss.values()
        return {
            "offered": offered,
            "server_answered_per_s": round((answered(self.metrics) - before) / took),
            "tcp_connections_max": max(held) if held else 0,
            "tcp_connections_median": sorted(held)[len(held) // 2] if held else 0,
            "tcp_connections_samples": len(held),
            "rss_mb": {"start": round(memory[0], 1), "max": round(max(memory), 1), "end": round(memory[-1], 1)},
            "udp_client": udp.summary() if ask_udp else None,
            "tcp_client": tcp.summary() if ask_tcp else None,
            "alive": load.alive(pid),
            "after": self.after(),
        }

    def after(self) -> dict[str, float]:
        """Once the flood is over: 20 queries, each should be answered at the first try."""
        c = load.Client(self.server.host, self.server.port, timeout=1.0, tries=1)
        for name in HIT_NAMES[:20]:
            c.ask(name)
        return c.summary()


def udp_flood(lab: Lab, seconds: float) -> dict[str, Any]:
    flood = load.start("udp", lab.server.host, lab.server.port, seconds, "--names", ",".join(HIT_NAMES))
    return lab.during(flood)


def tcp_flood(lab: Lab, seconds: float, concurrency: int = 4 * MAX_CONNECTIONS) -> dict[str, Any]:
    flood = load.start("tcp", lab.server.host, lab.server.port, seconds, "--concurrency", str(concurrency))
    return lab.during(flood, ask_tcp=True)


def slowloris(lab: Lab, seconds: float, count: int = 4 * MAX_CONNECTIONS) -> dict[str, Any]:
    flood = load.start("slowloris", lab.server.host, lab.server.port, seconds, "--count", str(count))
    return lab.during(flood, ask_tcp=True, pause=0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability.floods")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--only", choices=["udp", "tcp", "slowloris"])
    a = p.parse_args(argv)
    runs = {"udp": udp_flood, "tcp": tcp_flood, "slowloris": slowloris}
    with tempfile.TemporaryDirectory(prefix="pcd-floods-") as tmp:
        for name, run in runs.items():
            if a.only and name != a.only:
                continue
            with Lab(Path(tmp) / name) as lab:
                out = run(lab, a.seconds)
            print(json.dumps({"flood": name, "seconds": a.seconds, "max_connections": MAX_CONNECTIONS, **out}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
