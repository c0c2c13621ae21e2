"""The benchmark runner's generators: query files, server configs, the results table and the README's
(no servers are started)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dnslib
import pytest

from pycoredns.corefile import parse

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmarks_run", module)
    spec.loader.exec_module(module)
    return module


run = _load_runner()


def test_hit_names_are_a_small_fixed_set_under_the_bench_domain() -> None:
    names = run.hit_names(100)
    assert len(set(names)) == 100
    assert names == run.hit_names(100)
    assert all(n.endswith(".bench.test") for n in names)


def test_unique_names_are_distinct_and_seeded() -> None:
    a = run.unique_names(5000, seed=1)
    assert len(set(a)) == 5000
    assert a == run.unique_names(5000, seed=1)
    assert not set(a) & set(run.unique_names(5000, seed=2))
    assert all(n.endswith(".bench.test") and len(n.split(".")[0]) <= 63 for n in a)


def test_query_file_is_dnsperf_format(tmp_path: Path) -> None:
    assert run.query_file_text(["a.bench.test", "b.bench.test"]) == "a.bench.test A\nb.bench.test A\n"
    from benchmarks import configs

    path = configs.write_query_file(tmp_path / "q", ["x.bench.test"], "AAAA")
    assert configs.read_query_file(path) == [("x.bench.test", "AAAA")]


@pytest.mark.parametrize(
    ("options", "directives"),
    [
        pytest.param({}, ["bind", "cache", "forward"], id="cache-forward"),
        pytest.param({"cache": False}, ["bind", "forward"], id="forward-only"),
        pytest.param(
            {"cache_capacity": 150000, "prometheus_port": 9253, "errors": True},
            ["bind", "errors", "prometheus", "cache", "forward"],
            id="memory-with-metrics",
        ),
        pytest.param({"bind": False}, ["cache", "forward"], id="no-bind"),
    ],
)
def test_corefile_parses_with_the_expected_directives(options: dict[str, object], directives: list[str]) -> None:
    text = run.corefile(10053, 10054, **options)
    (block,) = parse(text, "Corefile")
    assert block.key_texts == [".:10053"]
    assert list(block.directives) == directives
    if "forward" in directives:
        assert [t.text for t in block.directives["forward"]] == ["forward", ".", "127.0.0.1:10054"]
    if "cache_capacity" in options:
        cache_args = [t.text for t in block.directives["cache"]]
        assert cache_args == ["cache", "{", "success", "150000", "denial", "150000", "}"]


def test_unbound_conf_forwards_to_the_upstream(tmp_path: Path) -> None:
    text = run.unbound_conf(10053, 10054, tmp_path)
    assert "    port: 10053\n" in text
    assert "    forward-addr: 127.0.0.1@10054\n" in text
    assert '    local-zone: "test." nodefault\n' in text


@pytest.mark.skipif(shutil.which("unbound-checkconf") is None, reason="unbound-checkconf not installed")
def test_unbound_conf_passes_unbound_checkconf(tmp_path: Path) -> None:
    conf = tmp_path / "unbound.conf"
    conf.write_text(run.unbound_conf(10053, 10054, tmp_path))
    done = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq not installed")
def test_dnsmasq_args_pass_dnsmasq_test() -> None:
    args = run.dnsmasq_cache_args(10053, 10054)
    done = subprocess.run(["dnsmasq", "--test", *args], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unbound_asks_over_tcp_only_when_told(tmp_path: Path) -> None:
    assert "tcp-upstream" not in run.unbound_conf(10053, 10054, tmp_path)
    assert "    tcp-upstream: yes\n" in run.unbound_conf(10053, 10054, tmp_path, tcp_upstream=True)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp-upstream", "tcp-upstream"])
def test_nodelocal_block_is_one_node_local_dns_block(tcp: bool) -> None:
    (block,) = parse(run.nodelocal_block(10053, 10054, 9253, tcp=tcp), "Corefile")
    assert list(block.directives) == ["bind", "errors", "cache", "forward", "prometheus"]
    forward = [t.text for t in block.directives["forward"]]
    assert ("force_tcp" in forward) is tcp
    cache = [t.text for t in block.directives["cache"]]
    assert cache == (["cache", "{", "success", "9984", "30", "denial", "9984", "5", "}"] if tcp else ["cache", "30"])


def test_the_upstream_answers_every_bench_name_and_refuses_others() -> None:
    from benchmarks import upstream

    q = dnslib.DNSRecord.question("Host1.Bench.Test", "A")
    r = dnslib.DNSRecord.parse(upstream.answer(bytes(q.pack()), 3600) or b"")
    assert r.header.id == q.header.id and r.header.rcode == 0 and str(r.q.qname) == "Host1.Bench.Test."
    assert [(str(rr.rdata), rr.ttl) for rr in r.rr] == [("192.0.2.1", 3600)]
    aaaa = dnslib.DNSRecord.parse(upstream.answer(bytes(dnslib.DNSRecord.question("h.bench.test", "AAAA").pack()), 60)
                                  or b"")
    assert aaaa.header.rcode == 0 and aaaa.rr == []
    other = dnslib.DNSRecord.parse(upstream.answer(bytes(dnslib.DNSRecord.question("example.org").pack()), 60)
                                   or b"")
    assert other.header.rcode == dnslib.RCODE.REFUSED
    assert upstream.answer(b"\x00\x01", 60) is None

def test_dnsperf_summary_is_parsed() -> None:
    from benchmarks import dnsperf

    text = """Statistics:

  Queries sent:         20000
  Queries completed:    19990 (99.95%)
  Queries lost:         10 (0.05%)

  Response codes:       NOERROR 19980 (99.95%), SERVFAIL 10 (0.05%)
  Average packet size:  request 34, response 50
  Run time (s):         2.000083
  Queries per second:   9994.585
"""
    r = dnsperf.parse_summary(text)
    assert (r.sent, r.completed, r.lost) == (20000, 19990, 10)
    assert r.qps == pytest.approx(9994.585)
    assert r.rcodes == {"NOERROR": 19980, "SERVFAIL": 10}
    with pytest.raises(ValueError):
        dnsperf.parse_summary("dnsperf: error")
    argv = dnsperf.dnsperf_argv(10053, Path("q"), 2, rate=10000, cpu=0)
    assert argv[:3] == ["taskset", "-c", "0"]
    assert argv[argv.index("-l") + 1] == "2" and argv[argv.index("-Q") + 1] == "10000"
    assert "-v" not in argv and "-v" in dnsperf.dnsperf_argv(10053, Path("q"), 2, latencies=True)


def test_nodelocal_corefile_is_the_configmap_on_loopback() -> None:
    from benchmarks import configs

    text = configs.nodelocal_corefile(10053, 10054, 10055, 10056)
    assert "__PILLAR__" not in text
    blocks = parse(text, "Corefile")
    assert [b.key_texts for b in blocks] == [["cluster.local:10053"], ["in-addr.arpa:10053"], ["ip6.arpa:10053"],
                                             [".:10053"]]
    for b in blocks:
        assert [t.text for t in b.directives["bind"]] == ["bind", "127.0.0.1"]
        assert [t.text for t in b.directives["forward"]][:3] == ["forward", ".", "127.0.0.1:10054"]
        assert [t.text for t in b.directives["prometheus"]] == ["prometheus", "127.0.0.1:10055"]
    assert [t.text for t in blocks[0].directives["health"]] == ["health", "127.0.0.1:10056"]



def test_dnsperf_latencies_give_percentiles() -> None:
    from benchmarks import dnsperf

    lines = "".join(f"> NOERROR h{i}.bench.test A 0.{i:06d}\n" for i in range(1, 101))
    r = dnsperf.parse_summary(lines + """
  Queries sent:         100
  Queries completed:    100 (100.00%)
  Queries lost:         0 (0.00%)
  Queries per second:   100.0
""")
    assert len(r.latencies) == 100
    assert r.percentile(50) == pytest.approx(50e-6) and r.percentile(99) == pytest.approx(99e-6)
    assert dnsperf.PerfResult().percentile(99) is None


def _results() -> object:
    from benchmarks.report import Latency, Point, Results, Row, Sweep

    results = Results(meta={"host": "test"})
    results.rows.append(Row("miss", "us", 130.0, 100.0, 150.0, 90.0, budget="<= 1.3x unbound", limit=1.3))
    results.rows.append(Row("hit", "us", 9.9, 6.0, 12.0, 9.0, budget="<= 1.1x floor", budget_of="floor", limit=1.1))
    results.latencies.append(Latency("miss", "pycoredns", 3000, 0.2, 1.5))
    sweep = Sweep("cache miss, UDP upstream")
    for label, cost in (("pycoredns", 130.0), ("unbound", 100.0), ("Python floor", 90.0)):
        sweep.series[label] = [Point(load, load * 0.99, cost, 0.5 + load / 1e4, 0) for load in (1000, 2000, 4000)]
    results.sweeps.append(sweep)
    return results


def test_the_table_gives_both_ratios_and_the_verdicts() -> None:
    from benchmarks.report import render

    text = render(_results())  # type: ignore[arg-type]
    assert "| miss | 130.0 us | 100.0 us | 150.0 us | 90.0 us | 1.30x | 1.44x | <= 1.3x unbound | pass |" in text
    assert "| hit | 9.9 us | 6.0 us | 12.0 us | 9.0 us | 1.65x | 1.10x | <= 1.1x floor | pass |" in text
    assert "| miss | pycoredns | 3000 qps | 0.200 ms | 1.500 ms |" in text
    assert "| pycoredns | 130.0 / 0.60 | 130.0 / 0.70 | 130.0 / 0.90 |" in text


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks import plot

    out = plot.plot(_results().sweeps, tmp_path / "sweep.png", title="test")  # type: ignore[attr-defined]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _latest(load: str) -> str:
    from benchmarks.report import Results, Row, WorkersRow, render

    results = Results(meta={"date": "today", "mode": "full", "host": "vm, 2 CPUs", "load before the run": load})
    results.rows.append(Row("cache miss, node-local-dns shape, UDP upstream, CPU/query", "us", 130.0, 100.0, 150.0,
                            90.0, budget="<= 1.3x unbound", limit=1.3))
    results.rows.append(Row("cache hit, UDP, cache + forward only, at saturation, CPU/query", "us", 9.0, 6.0))
    second = WorkersRow("second pass over 400 names, new source ports", "100.0%", "99.0%", ">= 98%", True)
    results.workers.append(second)
    return render(results)


def test_the_readme_table_is_written_from_the_results_file() -> None:
    from benchmarks import readme

    before = f"# pycoredns\n\n## Performance\n\nprose\n\n{readme.BEGIN}\nold figures\n{readme.END}\n\n## Layout\n"
    after = readme.update(before, _latest("0.10 (1-minute load average)"))
    assert after.startswith("# pycoredns\n\n## Performance\n\nprose\n\n") and after.endswith("\n\n## Layout\n")
    assert "old figures" not in after and "a quiet machine" in after
    assert "| cache miss, node-local-dns shape, UDP upstream, CPU/query | 130.0 us | 100.0 us | 150.0 us | 90.0 us " \
           "| 1.30x | 1.44x | <= 1.3x unbound | pass |" in after
    assert "cache + forward only" not in after  # a reference row of the results, not the README's
    assert "| second pass over 400 names, new source ports | 100.0% | 99.0% | >= 98% | pass |" in after
    assert readme.update(after, _latest("0.10")) == after  # rewritten in place, markers kept


def test_a_run_on_a_busy_machine_says_so_in_the_readme() -> None:
    from benchmarks import readme

    text = f"{readme.BEGIN}\n{readme.END}\n"
    assert "**a shared machine** (load average 2.40 before the run" in readme.update(text, _latest("2.40 (1-minute)"))
    assert "**a shared machine** (builds ran" in readme.update(text, _latest("0.10"), shared="builds ran")
    assert "**a shared machine** (the load before the run was not recorded" in readme.update(text, _latest("?"))
    with pytest.raises(ValueError):
        readme.update("no markers", _latest("0.10"))


def test_miss_loop_serves_each_query_as_a_miss_through_the_node_local_dns_block() -> None:
    from benchmarks import miss_loop

    # The child answers every query through the cache, forward's UDP socket and the observers;
    # the peer raises if a reply is not the upstream's answer to that query.
    instructions, cpu_ns, report = miss_loop.run_child("node-local-dns", 5, 20, None, False)
    assert instructions is None and cpu_ns > 0 and not report.strip()


def test_miss_syscalls_reads_the_strace_table(tmp_path: Path) -> None:
    from benchmarks import miss_syscalls

    table = tmp_path / "strace"
    table.write_text(
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 40.00    0.004000           2      2000           sendto\n"
        " 30.00    0.003000           1      2000      1000 recvmsg\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    0.010000           2      4000      1000 total\n"
    )
    assert miss_syscalls.read_counts(table) == {"sendto": 2000, "recvmsg": 2000}


def test_the_machine_bound_on_two_workers_is_the_cores_over_the_cpu_every_query_costs() -> None:
    from benchmarks import readme
    from benchmarks.report import Results, render
    from benchmarks.scenarios import _bound_row

    # 2 cores; 2 workers' rounds: 15 us of server CPU and 5 us of dnsperf's per query -> at most
    # 2 / 20e-6 = 100,000 queries a second; one worker answered 50,000: 2.00x.
    row = _bound_row({1: [40_000.0, 50_000.0, 60_000.0]}, {2: [14.0, 15.0, 16.0]}, {2: [5.0, 5.0, 9.0]}, cores=2)
    assert row is not None
    assert row.two == "100000 qps (2.00x 1 worker)" and row.passed is None
    assert "15.0 us server + 5.0 us dnsperf" in row.note
    assert _bound_row({1: [50_000.0]}, {}, {}, cores=2) is None  # no two-worker rounds: nothing to say
    results = Results(meta={"load before the run": "0.1"})
    results.workers.append(row)
    assert "| most 2 workers can answer on 2 cores shared with dnsperf | - | 100000 qps (2.00x 1 worker) |" in \
        readme.update(f"{readme.BEGIN}\n{readme.END}\n", render(results))


@pytest.mark.skipif(shutil.which("dnsperf") is None, reason="needs dnsperf")
def test_a_dnsperf_run_reports_its_own_cpu_time(tmp_path: Path) -> None:
    from benchmarks import configs, dnsperf
    from pycoredns.testing import FakeUpstream

    qfile = configs.write_query_file(tmp_path / "q", configs.hit_names(10))
    # The upstream answers from a thread of this process: only dnsperf is a child.
    with FakeUpstream() as up:
        res = dnsperf.run(dnsperf.dnsperf_argv(up.port, qfile, 1, rate=2000, cpu=None), tmp_path / "perf.log", 1)
    assert res.completed > 1000
    assert 0 < res.cpu_seconds < 1.5  # dnsperf's own time over its 1 s


def test_miss_loop_serves_each_query_over_a_tcp_upstream_with_force_tcp() -> None:
    from benchmarks import miss_loop

    # The peer's upstream answers over TCP only: a query forward sent over UDP would time out.
    for config in ("node-local-dns tcp", "floor tcp"):
        instructions, cpu_ns, report = miss_loop.run_child(config, 5, 20, None, False)
        assert instructions is None and cpu_ns > 0 and not report.strip()


def test_miss_loop_overlaps_misses_in_bursts_over_udp_and_tcp_upstreams() -> None:
    from benchmarks import miss_loop

    # Four queries at once, answered only once all four reached the upstream (over TCP in one
    # write): the peer raises if a reply is missing or does not answer its own query.
    for config in ("node-local-dns", "node-local-dns tcp", "floor tcp"):
        instructions, cpu_ns, report = miss_loop.run_child(config, 8, 24, None, False, burst=4)
        assert instructions is None and cpu_ns > 0 and not report.strip()


def test_a_run_names_the_interpreter_its_figures_were_taken_on(tmp_path: Path) -> None:
    """A venv's python is a link: the run names the build behind it, since the figures depend on
    it (the image's CPython is built with PGO and LTO, a plain source build is not)."""
    link = tmp_path / "python"
    link.symlink_to(sys.executable)
    real = Path(sys.executable).resolve()
    assert run.interpreter() == str(real)
    versions = run.meta(False, 1, 0)["versions"]
    assert versions.startswith(f"python {sys.version.split()[0]} ({real}), unbound ")
    saved = sys.executable
    try:
        sys.executable = str(link)
        assert run.interpreter() == str(real)
    finally:
        sys.executable = saved
