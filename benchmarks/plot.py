"""The benchmark's picture: CPU per query and p99 latency against offered load, one line per server.

matplotlib is optional (the ``bench`` extra): :func:`available` says whether it can be imported,
and nothing here imports it before :func:`plot` runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks.report import Sweep

# The same colour for a server in every panel; other series get matplotlib's next colour.
COLOURS = {
    "pycoredns": "tab:blue",
    "unbound": "tab:orange",
    "dnsmasq": "tab:green",
    "Python floor": "tab:gray",
}


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def plot(sweeps: list[Sweep], path: Path, title: str = "") -> Path:
    """Draw one row per sweep (CPU us per answered query, p99 latency ms, against offered qps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(sweeps), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.4 * rows), squeeze=False)
    for row, sweep in enumerate(sweeps):
        cpu_ax, lat_ax = axes[row]
        for label, points in sweep.series.items():
            pts = sorted(points, key=lambda p: p.offered)
            if not pts:
                continue
            colour = COLOURS.get(label)  # others (a -workers line, say) take the next default colour
            style = "--" if "floor" in label else "-"
            x = [p.offered for p in pts]
            cpu_ax.plot(x, [p.us_per_query for p in pts], style, marker="o", label=label, color=colour)
            lat = [(p.offered, p.p99_ms) for p in pts if p.p99_ms is not None]
            if lat:
                lat_ax.plot([a for a, _ in lat], [b for _, b in lat], style, marker="o", label=label, color=colour)
        cpu_ax.set_title(f"{sweep.title}: CPU per query")
        cpu_ax.set_ylabel("server CPU, us per answered query")
        lat_ax.set_title(f"{sweep.title}: p99 latency")
        lat_ax.set_ylabel("p99 latency, ms")
        lat_ax.set_yscale("log")
        cpu_ax.set_ylim(bottom=0)
        for ax in (cpu_ax, lat_ax):
            ax.set_xlabel("offered load, queries per second")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
