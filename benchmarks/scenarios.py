"""The measured paths: cache hit, cache miss over UDP and over TCP, the load sweep, memory per cached
answer, start to first answer.

Each scenario starts its servers on the server core, drives them with dnsperf on the client core,
and records server CPU time per answered query from /proc/PID/stat, and answer latencies from
dnsperf's per-answer output.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import configs, dnsperf
from benchmarks.procs import ServerFailed, free_port, probe, rss_of, warm
from benchmarks.report import Latency, Peak, Point, Results, Row, Sweep, WorkersRow
from benchmarks.targets import Lab, MakeCorefile, Target, pycoredns_validates

# The performance budget (design.md).
HIT_BUDGET = 1.1  # times the Python floor's CPU per query, at saturation
MISS_BUDGET = 1.3  # times unbound's CPU per query, same run
MEMORY_BUDGET = 450  # bytes of RSS per cached answer
STARTUP_BUDGET = 1.0  # seconds from spawn to first answer
MEMORY_CACHE_CAPACITY = 150_000  # above the entries filled, so nothing is evicted while measuring

PATH_HIT_PEAK = "cache hit, UDP, node-local-dns shape, at saturation, CPU/query"
PATH_HIT_PEAK_PLAIN = "cache hit, UDP, cache + forward only, at saturation, CPU/query"
PATH_HIT_RATE = "cache hit, UDP, node-local-dns shape, fixed rate, CPU/query"
PATH_MISS_UDP = "cache miss, node-local-dns shape, UDP upstream, CPU/query"
PATH_MISS_FORWARD = "cache miss, forward only (no cache store, no observers), UDP upstream, CPU/query"
PATH_MISS_TCP = "cache miss, node-local-dns shape, TCP upstream (force_tcp), CPU/query"
PATH_MEMORY = "memory per cached answer (RSS)"
PATH_STARTUP = "start to first answer"

# Labels: these four are the table's columns; any other label is a server of its own.
UNBOUND, DNSMASQ, FLOOR, PYCOREDNS = "unbound", "dnsmasq", "Python floor", "pycoredns"

WORKERS_QPS_BUDGET = 1.25  # 2 workers' hit throughput, times 1 worker's, same run
WORKERS_SHARE_BUDGET = 0.98  # of a second pass from new source ports answered from the cache
SECOND_PASS_NAMES = 400
SCRAPES = 10
COUNTED_QUERIES = 1000


@dataclass
class Settings:
    seconds: float = 6.0  # one bounded dnsperf run
    rounds: int = 5  # runs per server, servers alternating; the median is reported
    peak_seconds: float = 4.0
    hit_rate: int = 10_000
    miss_rate: int = 3_000
    hit_names: int = 100
    sweep_seconds: float = 3.0
    hit_loads: list[int] = field(default_factory=lambda: [5_000, 10_000, 20_000, 40_000])
    miss_loads: list[int] = field(default_factory=lambda: [1_000, 2_000, 4_000, 6_000])
    memory_entries: int = 100_000
    memory_rate: int = 8_000
    startup_runs: int = 3
    peak_clients: int = 4

    @classmethod
    def quick(cls) -> Settings:
        """Every scenario for about 2 s: checks the harness, not the figures."""
        return cls(seconds=2.0, rounds=1, peak_seconds=2.0, sweep_seconds=1.0, hit_loads=[5_000, 10_000],
                   miss_loads=[1_000, 2_000], memory_entries=10_000, startup_runs=1)


Starter = Callable[[], Target]


def slug(label: str) -> str:
    """A label as a DNS label and a file name: letters, digits and dashes."""
    return "-".join("".join(c if c.isalnum() else " " for c in label.lower()).split())


class Bench:
    """One run: the lab of servers, the settings, what pycoredns can load, and the results."""

    def __init__(self, lab: Lab, settings: Settings, results: Results, has_bind: bool, has_prometheus: bool) -> None:
        self.lab = lab
        self.st = settings
        self.results = results
        self.has_bind = has_bind
        self.has_prometheus = has_prometheus
        self.perf_log = lab.workdir / "dnsperf.log"
        self._seed = 0

    # -- what is started ------------------------------------------------------------------------
    def nodelocal(self, *, tcp: bool) -> MakeCorefile:
        """pycoredns in the node-local-dns shape (errors, cache, forward, prometheus)."""
        up = self.lab.upstream_port

        def make(port: int) -> str:
            return configs.nodelocal_block(port, up, free_port(), tcp=tcp, bind=self.has_bind)

        return make

    def corefile(self, *, cache: bool = True) -> MakeCorefile:
        """cache (or not) in front of forward to the upstream, nothing else."""
        up = self.lab.upstream_port

        def make(port: int) -> str:
            return configs.corefile(port, up, cache=cache, bind=self.has_bind)

        return make

    def pycoredns_starter(self, label: str, make: MakeCorefile) -> Starter | None:
        """A starter for this Corefile, or None (with a note) when pycoredns cannot load it yet."""
        err = pycoredns_validates(self.lab.python, make, self.lab.workdir)
        if err is not None:
            self.results.notes.append(f"{label} skipped: the Corefile does not load: {err}")
            return None
        return lambda: self.lab.pycoredns(slug(label), make)

    # -- measuring ------------------------------------------------------------------------------
    def run(
        self, t: Target, query_file: Path, seconds: float, rate: int | None, *, passes: int | None = None,
        latencies: bool = False,
    ) -> tuple[float, dnsperf.PerfResult]:
        """Server CPU microseconds per answered query over one bounded dnsperf run."""
        argv = dnsperf.dnsperf_argv(
            t.port, query_file, seconds, rate=rate, passes=passes,
            clients=1 if rate is not None else self.st.peak_clients,
            outstanding=200 if rate is None else 100, cpu=self.lab.client_cpu, latencies=latencies,
        )
        before = t.server.cpu_seconds()
        res = dnsperf.run(argv, self.perf_log, seconds)
        after = t.server.cpu_seconds()
        if not t.server.alive():
            raise ServerFailed(f"{t.label} died under load: see {t.server.log_path}")
        if res.completed == 0:
            raise ServerFailed(f"{t.label} answered no query: see {self.perf_log}")
        return (after - before) * 1e6 / res.completed, res

    def fresh_names(self, label: str, count: int) -> Path:
        """A new file of names never asked before: each query is a miss everywhere."""
        self._seed += 1
        names = configs.unique_names(count, seed=1000 + self._seed)
        return configs.write_query_file(self.lab.workdir / f"miss-{self._seed}.queries", names)


# ------------------------------------------------------------------------------------------------
def _same_name(name: str, _label: str) -> str:
    """The readiness name of every server in a plan: the same for each label."""
    return name


def start_all(b: Bench, starters: dict[str, Starter | None], ready: Callable[[str], str]) -> dict[str, Target]:
    """Start every server (idle ones cost nothing), so rounds can alternate between them."""
    live: dict[str, Target] = {}
    for label, start in starters.items():
        if start is None:
            continue
        t = start()
        try:
            t.server.wait_ready(t.port, ready(label))
        except ServerFailed as e:
            b.results.notes.append(f"{label}: {e}")
            t.server.stop()
            continue
        live[label] = t
    return live


def stop_all(live: dict[str, Target]) -> None:
    for t in live.values():
        t.server.stop()


@dataclass
class Measured:
    """Each server's CPU per query in every round, and the latencies of its last round."""

    cpu: dict[str, list[float]] = field(default_factory=dict)
    runs: dict[str, dnsperf.PerfResult] = field(default_factory=dict)

    def median(self, label: str) -> float | None:
        values = self.cpu.get(label)
        return statistics.median(values) if values else None


def measure_rounds(
    b: Bench, scenario: str, live: dict[str, Target], query_file: Callable[[str], Path], rate: int | None,
    seconds: float, *, passes: int | None = None, before: Callable[[str, Target], None] | None = None,
) -> Measured:
    """CPU us per query for each server over ``rounds`` runs, servers taken in turn each round so
    a burst of load from elsewhere on the machine does not land on one server only."""
    m = Measured()
    for _ in range(b.st.rounds):
        for label, t in list(live.items()):
            if before is not None:
                before(label, t)
            try:
                us, res = b.run(t, query_file(label), seconds, rate, passes=passes, latencies=rate is not None)
            except (ServerFailed, RuntimeError) as e:
                b.results.notes.append(f"{label}: {e}")
                t.server.stop()
                del live[label]
                continue
            m.cpu.setdefault(label, []).append(us)
            m.runs[label] = res
            if res.lost:
                b.results.notes.append(f"{scenario}, {label}: {res.lost} of {res.sent} queries lost")
    if b.st.rounds > 1:
        for label, values in m.cpu.items():
            rounds = ", ".join(f"{v:.1f}" for v in values)
            b.results.notes.append(f"{scenario}, {label}, CPU per query in each round: {rounds} us")
    return m


def row_from(path: str, m: Measured, *, budget: str = "-", budget_of: str = "unbound",
             limit: float | None = None, note: str = "", pycoredns: str = PYCOREDNS) -> Row:
    row = Row(path, "us", m.median(pycoredns), m.median(UNBOUND), m.median(DNSMASQ), m.median(FLOOR),
              budget=budget, budget_of=budget_of, limit=limit, note=note)
    spread = [f"{label} {min(v):.1f}-{max(v):.1f}" for label, v in m.cpu.items() if len(v) > 1]
    if spread:
        row.note += ("; " if row.note else "") + "range over rounds (us): " + ", ".join(spread)
    return row


def add_latencies(b: Bench, path: str, rate: int, m: Measured) -> None:
    for label, res in m.runs.items():
        p50, p99 = res.percentile(50), res.percentile(99)
        if p50 is not None and p99 is not None:
            b.results.latencies.append(Latency(path, label, rate, p50 * 1e3, p99 * 1e3))


# -- cache hit ------------------------------------------------------------------------------------
def cache_hit(b: Bench) -> None:
    names = configs.hit_names(b.st.hit_names)
    qfile = configs.write_query_file(b.lab.workdir / "hit.queries", names)
    plain = "pycoredns (cache + forward)"
    starters: dict[str, Starter | None] = {
        UNBOUND: b.lab.unbound,
        DNSMASQ: b.lab.dnsmasq,
        FLOOR: lambda: b.lab.floor(qfile),
        PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=False)),
        plain: b.pycoredns_starter(plain, b.corefile()),
    }
    live = start_all(b, starters, lambda label: names[0])

    def rewarm(label: str, t: Target) -> None:
        # node-local-dns caches for 30 s at most: fill the cache again before every run.
        if warm(t.port, names) != len(names):
            b.results.notes.append(f"hit, {label}: not every name answered while warming")

    try:
        fixed = measure_rounds(b, "hit", live, lambda label: qfile, b.st.hit_rate, b.st.seconds, before=rewarm)
        peak = measure_rounds(b, "hit at saturation", live, lambda label: qfile, None, b.st.peak_seconds,
                              before=rewarm)
    finally:
        stop_all(live)
    for label, values in peak.cpu.items():
        res = peak.runs[label]
        b.results.peaks.append(Peak(label, res.qps, statistics.median(values), res.lost))
    span = f"{b.st.rounds} x {b.st.peak_seconds:g} s unthrottled ({b.st.peak_clients} dnsperf clients), median"
    b.results.rows.append(row_from(PATH_HIT_PEAK, peak, budget=f"<= {HIT_BUDGET}x floor", budget_of="floor",
                                   limit=HIT_BUDGET, note=span))
    b.results.rows.append(row_from(PATH_HIT_PEAK_PLAIN, peak, pycoredns=plain, note=span))
    b.results.rows.append(row_from(
        PATH_HIT_RATE, fixed,
        note=f"{b.st.hit_rate} qps, {b.st.rounds} x {b.st.seconds:g} s, median; {len(names)} names pre-warmed",
    ))
    add_latencies(b, "cache hit, UDP", b.st.hit_rate, fixed)


# -- cache miss -----------------------------------------------------------------------------------
def cache_miss(b: Bench) -> None:
    forward_only = "pycoredns (forward only)"
    starters: dict[str, Starter | None] = {
        UNBOUND: b.lab.unbound,
        DNSMASQ: b.lab.dnsmasq,
        FLOOR: b.lab.forward_floor,
        PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=False)),
        forward_only: b.pycoredns_starter(forward_only, b.corefile(cache=False)),
    }
    count = int(b.st.miss_rate * b.st.seconds * 1.2) + 100
    live = start_all(b, starters, lambda label: f"ready-{slug(label)}.{configs.BENCH_DOMAIN}")
    try:
        m = measure_rounds(b, "miss, UDP", live, lambda label: b.fresh_names(label, count), b.st.miss_rate,
                           b.st.seconds, passes=1)
    finally:
        stop_all(live)
    span = f"{b.st.miss_rate} qps, {b.st.rounds} x {b.st.seconds:g} s, median, every name new"
    b.results.rows.append(row_from(PATH_MISS_UDP, m, budget=f"<= {MISS_BUDGET}x unbound", limit=MISS_BUDGET,
                                   note=span))
    b.results.rows.append(row_from(PATH_MISS_FORWARD, m, pycoredns=forward_only, note=span))
    add_latencies(b, "cache miss, UDP upstream", b.st.miss_rate, m)


def cache_miss_tcp(b: Bench) -> None:
    starters: dict[str, Starter | None] = {
        UNBOUND: lambda: b.lab.unbound(tcp_upstream=True),
        FLOOR: lambda: b.lab.forward_floor(tcp=True),
        PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=True)),
    }
    count = int(b.st.miss_rate * b.st.seconds * 1.2) + 100
    live = start_all(b, starters, lambda label: f"ready-tcp-{slug(label)}.{configs.BENCH_DOMAIN}")
    try:
        m = measure_rounds(b, "miss, TCP", live, lambda label: b.fresh_names(label, count), b.st.miss_rate,
                           b.st.seconds, passes=1)
    finally:
        stop_all(live)
    note = (f"{b.st.miss_rate} qps, {b.st.rounds} x {b.st.seconds:g} s, median, every name new; unbound with "
            "tcp-upstream: yes; dnsmasq cannot ask its upstream over TCP only")
    b.results.rows.append(row_from(PATH_MISS_TCP, m, budget=f"<= {MISS_BUDGET}x unbound", limit=MISS_BUDGET,
                                   note=note))
    add_latencies(b, "cache miss, TCP upstream", b.st.miss_rate, m)


# -- against offered load -------------------------------------------------------------------------
def sweep(b: Bench) -> None:
    """CPU per query and p99 latency at rising offered loads, for the plot."""
    names = configs.hit_names(b.st.hit_names)
    qfile = configs.write_query_file(b.lab.workdir / "sweep-hit.queries", names)
    plans: list[tuple[str, dict[str, Starter | None], list[int], bool]] = [
        ("cache hit, UDP", {
            UNBOUND: b.lab.unbound, DNSMASQ: b.lab.dnsmasq, FLOOR: lambda: b.lab.floor(qfile),
            PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=False)),
        }, b.st.hit_loads, False),
        ("cache miss, UDP upstream", {
            UNBOUND: b.lab.unbound, DNSMASQ: b.lab.dnsmasq, FLOOR: b.lab.forward_floor,
            PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=False)),
        }, b.st.miss_loads, True),
        ("cache miss, TCP upstream", {
            UNBOUND: lambda: b.lab.unbound(tcp_upstream=True), FLOOR: lambda: b.lab.forward_floor(tcp=True),
            PYCOREDNS: b.pycoredns_starter(PYCOREDNS, b.nodelocal(tcp=True)),
        }, b.st.miss_loads, True),
    ]
    for title, starters, loads, miss in plans:
        result = Sweep(title)
        ready = f"ready.{configs.BENCH_DOMAIN}" if miss else names[0]
        live = start_all(b, starters, functools.partial(_same_name, ready))
        try:
            for load in loads:
                for label, t in list(live.items()):
                    if miss:
                        query_file = b.fresh_names(label, int(load * b.st.sweep_seconds * 1.2) + 100)
                    else:
                        warm(t.port, names)
                        query_file = qfile
                    try:
                        us, res = b.run(t, query_file, b.st.sweep_seconds, load, passes=1 if miss else None,
                                        latencies=True)
                    except (ServerFailed, RuntimeError) as e:
                        b.results.notes.append(f"sweep {title}, {label}: {e}")
                        t.server.stop()
                        del live[label]
                        continue
                    p99 = res.percentile(99)
                    result.series.setdefault(label, []).append(
                        Point(load, res.qps, us, None if p99 is None else p99 * 1e3, res.lost)
                    )
        finally:
            stop_all(live)
        b.results.sweeps.append(result)


# -- memory and start-up --------------------------------------------------------------------------
def cache_entries(metrics_port: int) -> int:
    """Sum of coredns_cache_entries (all types, servers, zones) scraped from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("coredns_cache_entries{") or line.startswith("coredns_cache_entries "):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def scrape_entries(metrics_port: int, b: Bench) -> int:
    """coredns_cache_entries, or 0 (with a note) when /metrics cannot be read."""
    try:
        return cache_entries(metrics_port)
    except OSError as e:
        b.results.notes.append(f"memory: could not read /metrics on port {metrics_port}: {e}")
        return 0


def memory(b: Bench) -> None:
    metrics_port = free_port()
    up = b.lab.upstream_port

    def make(port: int) -> str:
        prom = metrics_port if b.has_prometheus else None
        return configs.corefile(
            port, up, cache_capacity=MEMORY_CACHE_CAPACITY, prometheus_port=prom, bind=b.has_bind
        )

    start = b.pycoredns_starter("pycoredns-memory", make)
    if start is None:
        return
    fill = configs.unique_names(b.st.memory_entries, seed=1000)
    qfile = configs.write_query_file(b.lab.workdir / "memory.queries", fill)
    row = Row(PATH_MEMORY, "B", budget=f"<= {MEMORY_BUDGET} B", limit=MEMORY_BUDGET)
    t = start()
    try:
        t.server.wait_ready(t.port, f"ready.{configs.BENCH_DOMAIN}")
        # Warm first, so code paths, sockets and buffers are in the baseline, not in the delta.
        warm(t.port, configs.unique_names(1000, seed=999))
        rss0 = t.server.rss_bytes()
        entries0 = scrape_entries(metrics_port, b) if b.has_prometheus else 0
        seconds = b.st.memory_entries / b.st.memory_rate * 2 + 10
        _, res = b.run(t, qfile, seconds, b.st.memory_rate, passes=1)
        time.sleep(1.0)
        rss1 = t.server.rss_bytes()
        added = scrape_entries(metrics_port, b) - entries0 if b.has_prometheus else 0
        how = "coredns_cache_entries"
        if added <= 0:
            added = res.rcodes.get("NOERROR", 0)
            how = "answered queries (no coredns_cache_entries to read: entries assumed)"
        if added > 0:
            row.pycoredns = (rss1 - rss0) / added
        row.note = (
            f"RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB for {added} new entries (counted by {how}), "
            f"{b.st.memory_entries} names queried"
        )
    except (ServerFailed, RuntimeError, OSError) as e:
        row.note = str(e)
    finally:
        t.server.stop()
    b.results.rows.append(row)


def startup(b: Bench) -> None:
    """Spawn to first answer, polling with a query every few milliseconds."""
    name = f"host0.{configs.BENCH_DOMAIN}"
    starters: dict[str, Starter | None] = {
        PYCOREDNS: b.pycoredns_starter("pycoredns-start", b.corefile()),
        UNBOUND: b.lab.unbound,
        DNSMASQ: b.lab.dnsmasq,
    }
    times: dict[str, list[float]] = {}
    for label, start in starters.items():
        if start is None:
            continue
        for _ in range(b.st.startup_runs):
            t = start()
            try:
                times.setdefault(label, []).append(t.server.wait_ready(t.port, name, timeout=30))
            except ServerFailed as e:
                b.results.notes.append(f"{label} (start): {e}")
            finally:
                t.server.stop()
    median = {k: statistics.median(v) for k, v in times.items() if v}
    row = Row(PATH_STARTUP, "s", median.get(PYCOREDNS), median.get(UNBOUND), median.get(DNSMASQ),
              budget=f"< {STARTUP_BUDGET:g} s", limit=STARTUP_BUDGET)
    if PYCOREDNS in times:
        runs = ", ".join(f"{s:.2f}" for s in times[PYCOREDNS])
        row.note = f"median of {len(times[PYCOREDNS])} spawns (pycoredns: {runs} s), cache + forward Corefile"
    b.results.rows.append(row)


def scrape(metrics_port: int, name: str) -> float:
    """The sum of every sample of ``name`` on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def _mixed_case(name: str, seed: int) -> str:
    return "".join(c.upper() if (seed + i) % 3 == 0 else c for i, c in enumerate(name))


def _start_workers(b: Bench, n: int, make: MakeCorefile, ready: str, pin: bool = False) -> Target:
    """pycoredns with ``n`` workers, once every worker listens.

    ``pin``: one worker on the server core (``n`` = 1), or each worker on a core of its own (the
    supervisor, idle, anywhere); else every process free to use every core.
    """
    t = b.lab.pycoredns(f"pycoredns-{n}w{'-pinned' if pin else ''}", make, workers=n, pinned=pin and n == 1)
    t.server.wait_ready(t.port, ready)
    deadline = time.monotonic() + 30
    while n > 1 and len(t.server.children()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5 if n > 1 else 0)  # the last worker has bound: let it finish starting
    if pin and n > 1:
        cpus = sorted(os.sched_getaffinity(0))
        for i, child in enumerate(t.server.children()):
            os.sched_setaffinity(child, {cpus[i % len(cpus)]})
    return t


def _throughput(b: Bench, live: dict[int, Target], qfile: Path, client_cpu: int | None,
                qps: dict[int, list[float]], cpu: dict[int, list[float]],
                client: dict[int, list[float]]) -> None:
    """Unthrottled dnsperf rounds, the servers taken in turn: qps, server CPU per query and
    dnsperf's own CPU per query. ``client_cpu`` pins dnsperf for one worker only: two workers have
    a core each, and dnsperf runs wherever there is room."""
    for _ in range(b.st.rounds):
        for n, t in live.items():
            argv = dnsperf.dnsperf_argv(t.port, qfile, b.st.seconds, clients=b.st.peak_clients,
                                        outstanding=200, cpu=client_cpu if n == 1 else None)
            before = t.server.tree_cpu_seconds()
            res = dnsperf.run(argv, b.perf_log, b.st.seconds)
            used = t.server.tree_cpu_seconds() - before
            if res.completed:
                qps.setdefault(n, []).append(res.qps)
                cpu.setdefault(n, []).append(used * 1e6 / res.completed)
                client.setdefault(n, []).append(res.cpu_seconds * 1e6 / res.completed)


def _throughput_row(what: str, qps: dict[int, list[float]], cpu: dict[int, list[float]],
                    client: dict[int, list[float]], how: str, budget: float | None, seconds: float) -> WorkersRow:
    row = WorkersRow(what, budget=f">= {budget}x 1 worker" if budget else "-")
    med = {n: statistics.median(v) for n, v in qps.items() if v}
    for n in med:
        text = (f"{med[n]:.0f} qps, {statistics.median(cpu[n]):.1f} us CPU/query"
                f" (dnsperf {statistics.median(client[n]):.1f} us)")
        if n == 1:
            row.one = text
        else:
            row.two = text
    if 1 in med and 2 in med:
        ratio = med[2] / med[1]
        row.two += f" ({ratio:.2f}x)"
        row.passed = None if budget is None else ratio >= budget
        rounds = "; ".join(f"{n} worker(s): " + ", ".join(f"{q:.0f}" for q in qps[n]) for n in (1, 2))
        row.note = f"median of {len(qps[2])} x {seconds:g} s rounds, {how}; qps per round: {rounds}"
    return row


def _bound_row(qps: dict[int, list[float]], cpu: dict[int, list[float]], client: dict[int, list[float]],
               cores: int) -> WorkersRow | None:
    """What the machine allows two workers when dnsperf shares its cores: every query costs the
    server's CPU and dnsperf's (its kernel sends included), so ``cores`` seconds of CPU a second
    answer at most cores / (server + dnsperf CPU per query), whatever the server does."""
    if not (qps.get(1) and cpu.get(2) and client.get(2)):
        return None
    per_query = statistics.median(cpu[2]) + statistics.median(client[2])
    most = cores / (per_query * 1e-6)
    row = WorkersRow(f"most 2 workers can answer on {cores} cores shared with dnsperf",
                     two=f"{most:.0f} qps ({most / statistics.median(qps[1]):.2f}x 1 worker)")
    row.note = (f"{cores} s of CPU a second / ({statistics.median(cpu[2]):.1f} us server + "
                f"{statistics.median(client[2]):.1f} us dnsperf per query, 2 workers' pinned rounds)")
    return row


def workers(b: Bench) -> None:
    """``-workers 2`` beside ``-workers 1``: hit throughput, one logical cache, one /metrics, RSS.

    Throughput is measured twice. Pinned (the budget): one worker on the server core with dnsperf
    on the client core, or each of two workers on a core of its own with dnsperf free to run where
    there is room (a 2-CPU machine has no core to spare: pinned beside one worker, dnsperf would
    hold that worker, and with it the even split of names, to what the shared core leaves). The
    machine's own limit is reported beside it: the two cores' CPU over the server's and dnsperf's
    CPU per query. Unpinned, for information: every process free to move, where the scheduler's
    habit of waking a loopback receiver on its sender's core costs every server alike.
    """
    if not b.has_prometheus:
        b.results.notes.append("workers skipped: no prometheus plugin to count with")
        return
    up = b.lab.upstream_port
    names = configs.hit_names(b.st.hit_names)
    qfile = configs.write_query_file(b.lab.workdir / "workers-hit.queries", names)
    prom: dict[tuple[int, bool], int] = {}
    share: dict[int, float] = {}
    scrapes_ok: dict[int, int] = {}
    results: dict[bool, tuple[dict[int, list[float]], dict[int, list[float]], dict[int, list[float]]]] = {
        True: ({}, {}, {}), False: ({}, {}, {})}

    def make(n: int, pin: bool) -> MakeCorefile:
        port = prom[(n, pin)] = free_port()
        return lambda dns_port: configs.corefile(dns_port, up, errors=True, prometheus_port=port, bind=b.has_bind)

    for pin in (True, False):
        live: dict[int, Target] = {}
        try:
            for n in (1, 2):
                live[n] = _start_workers(b, n, make(n, pin), names[0], pin=pin)
                warm(live[n].port, names)
            _throughput(b, live, qfile, b.lab.client_cpu if pin else None, *results[pin])
            if not pin:
                continue
            for n, t in live.items():
                port = prom[(n, pin)]
                # One logical cache: a second pass over new names, every query from a new source
                # port and in another letter case, answered from the cache.
                fresh = configs.unique_names(SECOND_PASS_NAMES, seed=4000 + n)
                for name in fresh:
                    probe(t.port, name)
                hits = scrape(port, "coredns_cache_hits_total")
                for i, name in enumerate(fresh):
                    probe(t.port, _mixed_case(name, i))
                share[n] = (scrape(port, "coredns_cache_hits_total") - hits) / SECOND_PASS_NAMES
                # One /metrics: each scrape, whichever worker takes it, counts every query answered.
                start = scrape(port, "coredns_dns_requests_total")
                answered = sum(probe(t.port, names[i % len(names)]) for i in range(COUNTED_QUERIES))
                want = start + answered
                scrapes_ok[n] = sum(scrape(port, "coredns_dns_requests_total") == want for _ in range(SCRAPES))
        except (ServerFailed, RuntimeError, OSError) as e:
            b.results.notes.append(f"workers: {e}")
        finally:
            for t in live.values():
                t.server.stop()
    b.results.workers.append(_throughput_row(
        "cache hit, max throughput, pinned (dnsperf -c 4, unthrottled)", *results[True],
        "1 worker on CPU 1 with dnsperf on CPU 0, or a worker on each CPU with dnsperf free to move",
        WORKERS_QPS_BUDGET, b.st.seconds,
    ))
    bound = _bound_row(*results[True], cores=len(os.sched_getaffinity(0)))
    if bound is not None:
        b.results.workers.append(bound)
    b.results.workers.append(_throughput_row(
        "cache hit, max throughput, unpinned", *results[False], "servers and dnsperf free to move", None,
        b.st.seconds,
    ))
    row = WorkersRow(f"second pass over {SECOND_PASS_NAMES} names, new source ports, answered from the cache",
                     budget=f">= {WORKERS_SHARE_BUDGET:.0%}")
    if 1 in share:
        row.one = f"{share[1]:.1%}"
    if 2 in share:
        row.two = f"{share[2]:.1%}"
        row.passed = share[2] >= WORKERS_SHARE_BUDGET
    b.results.workers.append(row)
    row = WorkersRow(f"scrapes of /metrics counting all of {COUNTED_QUERIES} queries", budget="all")
    if 1 in scrapes_ok:
        row.one = f"{scrapes_ok[1]}/{SCRAPES}"
    if 2 in scrapes_ok:
        row.two = f"{scrapes_ok[2]}/{SCRAPES}"
        row.passed = scrapes_ok[2] == SCRAPES
    b.results.workers.append(row)
    worker_rss(b)


def worker_rss(b: Bench) -> None:
    """RSS with the node-local-dns Corefile: one process, and a supervisor with two workers."""
    up = b.lab.upstream_port
    row = WorkersRow("RSS, node-local-dns Corefile (4 blocks), after 100 queries")
    try:
        rss: dict[int, list[int]] = {}
        for n in (1, 2):
            prom, health = free_port(), free_port()

            def make(port: int, p: int = prom, h: int = health) -> str:
                return configs.nodelocal_corefile(port, up, p, h)

            t = _start_workers(b, n, make, f"x.{configs.BENCH_DOMAIN}")
            try:
                warm(t.port, configs.hit_names(100))
                time.sleep(0.5)
                rss[n] = [t.server.rss_bytes(), *(rss_of(c) for c in t.server.children())]
            finally:
                t.server.stop()
        mib = 1 << 20
        row.one = f"{rss[1][0] / mib:.1f} MiB"
        kids = rss[2][1:]
        row.two = (f"supervisor {rss[2][0] / mib:.1f} MiB + workers "
                   + " + ".join(f"{k / mib:.1f}" for k in kids) + f" MiB = {sum(rss[2]) / mib:.1f} MiB")
        row.note = f"a worker's fixed cost: {max(kids) / mib:.1f} MiB (before its cache fills)"
    except (ServerFailed, RuntimeError, OSError) as e:
        row.note = str(e)
    b.results.workers.append(row)


SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "hit": cache_hit,
    "miss": cache_miss,
    "miss-tcp": cache_miss_tcp,
    "sweep": sweep,
    "memory": memory,
    "startup": startup,
    "workers": workers,
}
