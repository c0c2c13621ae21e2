"""Run the pycoredns benchmarks against unbound, dnsmasq and the Python floors; write
results/latest.md and the plot results/latest.png.

    .venv-bench/bin/python benchmarks/run.py            # the full run (about 19 minutes); updates the README's table
    .venv-bench/bin/python benchmarks/run.py --quick    # every scenario for ~2 s: checks the harness

``.venv-bench`` is a venv made from the kind of CPython the image runs (PGO and LTO; on Debian,
/usr/bin/python3.11): see benchmarks/README.md, "Which Python". Any other interpreter runs too,
and the results name it.

Installs nothing: it names the missing tools and stops (the plot needs matplotlib, the ``bench``
extra; without it the run notes that and writes the tables only). Everything listens on
127.0.0.1 with free ports; every server is started and stopped here; logs go to a temporary
directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import configs, plot, readme, scenarios
from benchmarks.procs import ServerFailed
from benchmarks.report import Results, render
from benchmarks.targets import Lab

HERE = Path(__file__).resolve().parent
LATEST = HERE / "results" / "latest.md"
PLOT_NAME = "latest.png"
# command -> Debian package that provides it
TOOLS = {"dnsperf": "dnsperf", "unbound": "unbound", "dnsmasq": "dnsmasq-base", "taskset": "util-linux"}

# Re-exported for the smoke test and for readers: what the runner generates.
hit_names = configs.hit_names
unique_names = configs.unique_names
query_file_text = configs.query_file_text
corefile = configs.corefile
nodelocal_block = configs.nodelocal_block
unbound_conf = configs.unbound_conf
dnsmasq_cache_args = configs.dnsmasq_cache_args
upstream_argv = configs.upstream_argv


def missing_tools() -> dict[str, str]:
    """Tools not on PATH, with the package to install for each."""
    return {tool: pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None}


def plugin_loads(name: str) -> bool:
    """Whether this build can load the directive (plugins are being written alongside)."""
    from pycoredns.registry import Registry

    try:
        Registry.default(entry_points=False).get(name)
    except Exception:
        return False
    return True


def cores() -> tuple[int | None, int | None]:
    """(server core, client core): server on CPU 1, dnsperf and the upstream on CPU 0."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[1], allowed[0]


def _version(argv: list[str]) -> str:
    """The first version-looking word a tool prints, e.g. ``1.17.1``."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    m = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\b", done.stdout + done.stderr)
    return m.group(1) if m else "?"


def interpreter() -> str:
    """The interpreter that runs pycoredns and the floors (a venv's python is a link to it): the
    figures depend on its build, and the image's is built with PGO and LTO (benchmarks/README.md)."""
    return os.path.realpath(sys.executable)


def meta(quick: bool, server_cpu: int | None, client_cpu: int | None) -> dict[str, str]:
    cpu_model = "?"
    try:
        cpu_model = next(
            ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "mode": "quick (2 s per scenario: harness check, figures not meaningful)" if quick else "full",
        "host": f"{platform.node()}, {os.cpu_count()} CPUs, {cpu_model}",
        # Taken before any server starts: above 0.5, other work shares the machine (readme.py).
        "load before the run": f"{os.getloadavg()[0]:.2f} (1-minute load average)",
        "pinning": f"servers on CPU {server_cpu}, dnsperf and upstream on CPU {client_cpu}"
        if server_cpu is not None else "none (fewer than 2 CPUs)",
        "versions": f"python {platform.python_version()} ({interpreter()}), unbound {_version(['unbound', '-V'])}, "
        f"dnsmasq {_version(['dnsmasq', '-v'])}, dnsperf {_version(['dnsperf', '-h'])}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every scenario for about 2 s (checks the harness)")
    ap.add_argument("--only", action="append", choices=sorted(scenarios.SCENARIOS), help="run only these")
    ap.add_argument("--out", type=Path,
                    help="results file (default: results/latest.md; quick or --only: the log dir)")
    args = ap.parse_args(argv)

    missing = missing_tools()
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        print(f"install them with: apt-get install -y {' '.join(sorted(set(missing.values())))}", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="pycoredns-bench-"))
    print(f"logs and generated configs: {workdir}", flush=True)
    settings = scenarios.Settings.quick() if args.quick else scenarios.Settings()
    server_cpu, client_cpu = cores()
    results = Results(meta=meta(args.quick, server_cpu, client_cpu))
    lab = Lab(workdir, server_cpu, client_cpu)
    bench = scenarios.Bench(lab, settings, results, plugin_loads("bind"), plugin_loads("prometheus"))
    failed = False
    try:
        upstream = lab.start_upstream()
        upstream.server.wait_ready(upstream.port, f"ready.{configs.BENCH_DOMAIN}", timeout=60)
        for name, scenario in scenarios.SCENARIOS.items():
            if args.only and name not in args.only:
                continue
            print(f"== {name}", flush=True)
            try:
                scenario(bench)
            except (ServerFailed, RuntimeError, OSError) as e:
                failed = True
                results.notes.append(f"scenario {name} failed: {e}")
    finally:
        lab.stop_all()
    # Only a full run of every scenario replaces results/latest.md (and the README's table).
    out = args.out or (workdir / "results.md" if args.quick or args.only else LATEST)
    out.parent.mkdir(parents=True, exist_ok=True)
    if results.sweeps:
        if plot.available():
            png = out.with_suffix(".png") if args.out else out.parent / PLOT_NAME
            plot.plot(results.sweeps, png, title=f"{results.meta.get('host', '')}; {results.meta.get('pinning', '')}")
            results.plot = png.name
        else:
            results.notes.append("no plot: matplotlib is not installed (pip install -e '.[bench]')")
    text = render(results)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    if out == LATEST and not args.only and not failed:
        # A full run of every scenario: the README's table shows these figures.
        readme.README.write_text(readme.update(readme.README.read_text(), text))
        print(f"README table updated: {readme.README}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
