"""Put the figures of results/latest.md into the README's performance table.

    .venv/bin/python benchmarks/readme.py                       # after a full run (run.py calls it)
    .venv/bin/python benchmarks/readme.py --shared "why"        # mark the run as taken on a busy machine

The README holds the table between two markers; everything between them is rewritten from the
results file: the machine, the date, whether other work shared the machine, and the budget rows
with both ratios (to unbound and to the pure-Python floor). A run is marked as taken on a shared
machine when ``--shared`` says so, or when the load average before it (``load before the run`` in
the results) was above :data:`QUIET_LOAD`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LATEST = HERE / "results" / "latest.md"
README = HERE.parent / "README.md"
BEGIN = "<!-- performance table: written by benchmarks/readme.py from benchmarks/results/latest.md -->"
END = "<!-- end of performance table -->"
QUIET_LOAD = 0.5  # 1-minute load average before a run above which other work shared the machine
# The rows of results/latest.md the README shows: the budget's paths (and the miss without the
# cache and observers, for scale).
ROWS = (
    "cache hit, UDP, node-local-dns shape, at saturation",
    "cache miss, node-local-dns shape, UDP upstream",
    "cache miss, node-local-dns shape, TCP upstream",
    "cache miss, forward only",
    "memory per cached answer",
    "start to first answer",
)
WORKER_ROWS = ("cache hit, max throughput, pinned", "most 2 workers can answer", "second pass over 400 names",
               "scrapes of /metrics")


def parse(text: str) -> tuple[dict[str, str], list[list[str]], list[list[str]]]:
    """The results file's meta lines, its main table's rows and its workers table's rows (cells)."""
    meta: dict[str, str] = {}
    for m in re.finditer(r"^- ([a-z][a-z ]*): (.*)$", text, re.MULTILINE):
        meta.setdefault(m.group(1), m.group(2))
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = []
                tables.append(current)
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        else:
            current = None
    main = tables[0][1:] if tables else []
    workers = next((t[1:] for t in tables if t and t[0][:2] == ["figure", "1 worker"]), [])
    return meta, main, workers


def shared_reason(meta: dict[str, str], shared: str | None) -> str | None:
    """Why the run counts as taken on a shared machine, or None for a quiet one."""
    if shared:
        return shared
    load = meta.get("load before the run", "")
    try:
        value = float(load.split()[0])
    except (ValueError, IndexError):
        return "the load before the run was not recorded"
    return f"load average {value:.2f} before the run" if value > QUIET_LOAD else None


def block(text: str, shared: str | None = None) -> str:
    """The README's table, between the markers, from the text of a results file."""
    meta, main, workers = parse(text)
    why = shared_reason(meta, shared)
    machine = (f"**a shared machine** ({why}: other work competed for the CPUs, so read the ratios, "
               "not the absolute figures)" if why else "a quiet machine")
    out = [
        BEGIN,
        f"The run in `benchmarks/results/latest.md` ({meta.get('date', '?')}, {meta.get('mode', '?')} run) was "
        f"taken on {machine}: {meta.get('host', '?')}; {meta.get('pinning', '?')}; {meta.get('versions', '?')}.",
        "",
        "| path | pycoredns | unbound | dnsmasq | Python floor | to unbound | to floor | budget | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in main if r and r[0].startswith(ROWS)]
    picked = [r for r in workers if r and r[0].startswith(WORKER_ROWS)]
    if picked:
        out += ["", "| workers | 1 worker | 2 workers | budget | result |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in picked]
    out.append(END)
    return "\n".join(out)


def update(readme: str, text: str, shared: str | None = None) -> str:
    """``readme`` with its table rewritten; ValueError when the markers are missing."""
    start = readme.find(BEGIN)
    end = readme.find(END)
    if start < 0 or end < start:
        raise ValueError("the README has no performance table markers")
    return readme[:start] + block(text, shared) + readme[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=LATEST)
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--shared", help="mark the run as taken on a shared machine, saying why")
    args = ap.parse_args(argv)
    args.readme.write_text(update(args.readme.read_text(), args.results.read_text(), args.shared))
    print(f"{args.readme}: performance table from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
