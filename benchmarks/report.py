"""The results of one benchmark run and their markdown rendering (results/latest.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    """One path of the performance budget: each server's figure in ``unit``, and the verdict."""

    path: str
    unit: str
    pycoredns: float | None = None
    unbound: float | None = None
    dnsmasq: float | None = None
    floor: float | None = None
    budget: str = "-"
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.pycoredns is None or not self.unbound:
            return None
        return self.pycoredns / self.unbound


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
class Results:
    meta: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    peaks: list[Peak] = field(default_factory=list)
    workers: list[WorkersRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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


def _verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("pass" if passed else "FAIL")


def render(results: Results) -> str:
    out = ["# pycoredns benchmark results", ""]
    out += [f"- {k}: {v}" for k, v in results.meta.items()]
    out += [
        "",
        "| path | pycoredns | unbound | dnsmasq | uvloop floor | ratio to unbound | budget | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results.rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}x"
        cells = [r.path] + [_cell(v, r.unit) for v in (r.pycoredns, r.unbound, r.dnsmasq, r.floor)]
        cells += [ratio, r.budget, _verdict(r.passed)]
        out.append("| " + " | ".join(cells) + " |")
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
    notes = [f"{r.path}: {r.note}" for r in results.rows if r.note]
    notes += [f"{w.what}: {w.note}" for w in results.workers if w.note] + results.notes
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
