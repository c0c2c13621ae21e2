"""The results of one benchmark run and their markdown rendering (results/latest.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    """One path of the performance budget: each server's figure in ``unit``, and the verdict.

    ``floor`` is the pure-Python floor of that path (the uvloop loop replaying stored replies for
    a hit, the bare uvloop forwarder for a miss). ``budget_of`` says which ratio the budget is on.
    """

    path: str
    unit: str
    pycoredns: float | None = None
    unbound: float | None = None
    dnsmasq: float | None = None
    floor: float | None = None
    budget: str = "-"
    budget_of: str = "unbound"  # "unbound" or "floor"
    limit: float | None = None  # the budget's ratio (or value, for units other than us)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """pycoredns / unbound."""
        if self.pycoredns is None or not self.unbound:
            return None
        return self.pycoredns / self.unbound

    @property
    def floor_ratio(self) -> float | None:
        """pycoredns / the Python floor."""
        if self.pycoredns is None or not self.floor:
            return None
        return self.pycoredns / self.floor

    @property
    def passed(self) -> bool | None:
        if self.limit is None:
            return None
        if self.unit in ("B", "s"):
            return None if self.pycoredns is None else self.pycoredns <= self.limit
        judged = self.floor_ratio if self.budget_of == "floor" else self.ratio
        return None if judged is None else judged <= self.limit


@dataclass
class Peak:
    """A server's unthrottled throughput and its CPU per query at that load."""

    label: str
    qps: float
    us_per_query: float
    lost: int


@dataclass
class WorkersRow:
    """A ``-workers`` figure: one worker beside two, and the verdict on the two."""

    what: str
    one: str = "-"
    two: str = "-"
    budget: str = "-"
    passed: bool | None = None
    note: str = ""


@dataclass
class Latency:
    """Answer latencies of one server on one path at a fixed rate: median and 99th percentile."""

    path: str
    server: str
    rate: int
    p50_ms: float
    p99_ms: float


@dataclass
class Point:
    """One server at one offered load: CPU per answered query and the 99th percentile latency."""

    offered: int
    qps: float
    us_per_query: float
    p99_ms: float | None
    lost: int


@dataclass
class Sweep:
    """CPU per query and p99 latency against offered load, per server (a line each in the plot)."""

    title: str
    series: dict[str, list[Point]] = field(default_factory=dict)


@dataclass
class Results:
    meta: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    peaks: list[Peak] = field(default_factory=list)
    workers: list[WorkersRow] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    sweeps: list[Sweep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plot: str = ""  # the plot's file name, next to the results file

    def row(self, path: str) -> Row | None:
        return next((r for r in self.rows if r.path == path), None)


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.1f} {unit}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("pass" if passed else "FAIL")


def render(results: Results) -> str:
    out = ["# pycoredns benchmark results", ""]
    out += [f"- {k}: {v}" for k, v in results.meta.items()]
    out += [
        "",
        "| path | pycoredns | unbound | dnsmasq | Python floor | to unbound | to floor | budget | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.rows:
        cells = [r.path] + [_cell(v, r.unit) for v in (r.pycoredns, r.unbound, r.dnsmasq, r.floor)]
        cells += [_ratio(r.ratio), _ratio(r.floor_ratio), r.budget, _verdict(r.passed)]
        out.append("| " + " | ".join(cells) + " |")
    if results.latencies:
        out += ["", "Answer latency at a fixed rate (dnsperf's per-answer latencies):", ""]
        out += ["| path | server | rate | p50 | p99 |", "|---|---|---|---|---|"]
        for lat in results.latencies:
            out.append(f"| {lat.path} | {lat.server} | {lat.rate} qps | {lat.p50_ms:.3f} ms | {lat.p99_ms:.3f} ms |")
    if results.peaks:
        out += ["", "Unthrottled throughput (cache hits, UDP):", ""]
        out += ["| server | max qps | CPU us/query at max | lost |", "|---|---|---|---|"]
        for p in results.peaks:
            out.append(f"| {p.label} | {p.qps:.0f} | {p.us_per_query:.1f} | {p.lost} |")
    if results.workers:
        out += ["", "Workers (`-workers 1` beside `-workers 2`, node-cache set, cache hits):", ""]
        out += ["| figure | 1 worker | 2 workers | budget | result |", "|---|---|---|---|---|"]
        for w in results.workers:
            out.append(f"| {w.what} | {w.one} | {w.two} | {w.budget} | {_verdict(w.passed)} |")
    if results.sweeps:
        out += ["", "Against offered load (CPU us per answered query / p99 latency ms):", ""]
        for sw in results.sweeps:
            loads = sorted({pt.offered for pts in sw.series.values() for pt in pts})
            out += [f"{sw.title}:", ""]
            out += ["| server | " + " | ".join(f"{load} qps" for load in loads) + " |"]
            out += ["|---|" + "---|" * len(loads)]
            for label, pts in sw.series.items():
                by_load = {pt.offered: pt for pt in pts}
                cells = []
                for load in loads:
                    pt = by_load.get(load)
                    p99 = "-" if pt is None or pt.p99_ms is None else f"{pt.p99_ms:.2f}"
                    cells.append("-" if pt is None else f"{pt.us_per_query:.1f} / {p99}")
                out.append(f"| {label} | " + " | ".join(cells) + " |")
            out.append("")
    if results.plot:
        out += ["", f"![CPU per query and p99 latency against offered load]({results.plot})"]
    notes = [f"{r.path}: {r.note}" for r in results.rows if r.note]
    notes += [f"{w.what}: {w.note}" for w in results.workers if w.note] + results.notes
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
