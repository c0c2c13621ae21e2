"""Running dnsperf (pinned to its own core, always bounded) and reading its summary and latencies."""

from __future__ import annotations

import math
import re
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PerfResult:
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    rcodes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, one per answer (verbose runs only)
    cpu_seconds: float = 0.0  # dnsperf's own CPU time (user + system), its kernel sends included

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile of the answers' latencies in seconds (nearest rank), or None."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
        return ordered[rank - 1]


_NUMBER = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
}
_QPS = re.compile(r"Queries per second:\s+([\d.]+)")
_RCODES = re.compile(r"Response codes:\s+(.*)")
_RCODE = re.compile(r"([A-Z]+) (\d+)")
# Verbose mode: one line per answer, "> NOERROR name A 0.000123".
_ANSWER = re.compile(r"^> \S+ .* (\d+\.\d+)$", re.MULTILINE)


def parse_summary(text: str) -> PerfResult:
    """dnsperf's end-of-run statistics (and per-answer latencies when verbose); raises ValueError
    when the text has no summary."""
    numbers: dict[str, int] = {}
    for key, rx in _NUMBER.items():
        m = rx.search(text)
        if m is None:
            raise ValueError("no dnsperf summary in output")
        numbers[key] = int(m.group(1))
    qps = _QPS.search(text)
    if qps is None:
        raise ValueError("no dnsperf summary in output")
    r = PerfResult(numbers["sent"], numbers["completed"], numbers["lost"], float(qps.group(1)))
    codes = _RCODES.search(text)
    if codes:
        r.rcodes = {name: int(n) for name, n in _RCODE.findall(codes.group(1))}
    r.latencies = [float(x) for x in _ANSWER.findall(text)]
    return r


def dnsperf_argv(
    port: int,
    query_file: Path,
    seconds: float,
    *,
    rate: int | None = None,
    passes: int | None = None,
    clients: int = 1,
    threads: int = 1,
    outstanding: int = 100,
    cpu: int | None = 0,
    latencies: bool = False,
) -> list[str]:
    """dnsperf's command line: always time-bounded (-l), rate-bounded (-Q) when ``rate`` is set;
    ``latencies`` makes it print every answer with its latency (-v)."""
    argv = ["taskset", "-c", str(cpu)] if cpu is not None else []
    argv += ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(query_file), "-l", f"{seconds:g}"]
    argv += ["-c", str(clients), "-T", str(threads), "-q", str(outstanding), "-t", "2"]
    if rate is not None:
        argv += ["-Q", str(rate)]
    if passes is not None:
        argv += ["-n", str(passes)]
    if latencies:
        argv.append("-v")
    return argv


def run(argv: list[str], log_path: Path, seconds: float) -> PerfResult:
    """Run dnsperf, append its output (without the per-answer lines) to ``log_path``, return its
    summary, with dnsperf's own CPU time (``taskset`` execs it: the child is dnsperf itself)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    kept = "".join(line + "\n" for line in done.stdout.splitlines() if not line.startswith("> "))
    with log_path.open("a") as log:
        log.write("$ " + " ".join(argv) + "\n" + kept + done.stderr + "\n")
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({done.returncode}): see {log_path}")
    result = parse_summary(done.stdout)
    result.cpu_seconds = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return result
