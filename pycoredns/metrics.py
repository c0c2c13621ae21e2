"""The process-wide metrics registry every plugin registers on, and cheap counting for hot paths.

``REGISTRY`` is the one registry: plugins register on it through the controller, once per process
whatever the reloads (:func:`register_once`), and the prometheus plugin (through
:func:`exposition`) and node-cache's metrics listener serve it. Hot paths count in plain integers
(dicts keyed by label tuples, :class:`Buckets`) and a collector turns them into metric families
only when /metrics is scraped; prometheus_client objects are fine off the hot path.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import disable_created_metrics, generate_latest
from prometheus_client.core import CollectorRegistry, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Go's client library writes no *_created samples; neither do we, for any plugin's metrics.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
NAMESPACE = "coredns"


class FuncCollector(Collector):
    """A collector that calls a function at scrape time to build its metric families."""

    def __init__(self, collect: Callable[[], Iterable[Metric]], describe: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect
        self._describe = describe

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()

    def describe(self) -> Iterator[Metric]:
        yield from self._describe()


_registered: dict[str, Collector] = {}


def register_once(key: str, make: Callable[[], Collector], registry: CollectorRegistry | None = None) -> Collector:
    """Register a collector under ``key`` once per process and registry (plugins are set up again
    on reload). ``registry`` is :data:`REGISTRY` unless a test exposes a collector on its own."""
    reg = registry or REGISTRY
    full = f"{id(reg)}:{key}"
    got = _registered.get(full)
    if got is None:
        got = make()
        reg.register(got)
        _registered[full] = got
    return got


def exposition(accept: str = "", registry: Collector | None = None) -> tuple[bytes, str]:
    """``registry`` (default :data:`REGISTRY`) in the format the Accept header asks for:
    (body, content type)."""
    reg = registry or REGISTRY
    encoder, content_type = choose_encoder(accept)
    body = generate_latest(reg) if encoder is generate_latest else encoder(reg)
    return body, content_type


# -- one process to the outside: the workers' metrics added up ------------------------------------
# A snapshot is what a worker sends: [name, type, help, unit, [[sample name, labels, value], ...]]
# per family. Counters, histograms and summaries add up; so do gauges (cache entries), except
# those whose value every worker has alike (build info, the size of a file they all read): the
# plugin that exports one says so with :func:`gauge_merge`.
Snapshot = list[list[Any]]
SUM, MAX, MIN = "sum", "max", "min"
_GAUGE_MERGE: dict[str, str] = {
    "process_start_time_seconds": MIN,
    "process_max_fds": MAX,
    "process_virtual_memory_max_bytes": MAX,
}
_ADDITIVE = {"counter", "histogram", "summary", "gaugehistogram"}


def gauge_merge(name: str, how: str) -> None:
    """How the workers' values of gauge family ``name`` combine: sum (the default), max or min.
    Families named ``*_info`` take the max."""
    if how not in (SUM, MAX, MIN):
        raise ValueError(f"unknown merge {how!r}")
    _GAUGE_MERGE[name] = how


def _merge_rule(name: str, typ: str) -> str:
    if typ in _ADDITIVE:
        return SUM
    how = _GAUGE_MERGE.get(name)
    if how is not None:
        return how
    return MAX if name.endswith("_info") or typ in ("info", "stateset") else SUM


def snapshot(registry: CollectorRegistry | None = None) -> Snapshot:
    """Every family of ``registry`` (default :data:`REGISTRY`) as plain lists (JSON-safe)."""
    out: Snapshot = []
    for fam in (registry or REGISTRY).collect():
        out.append([fam.name, fam.type, fam.documentation, fam.unit,
                    [[s.name, s.labels, s.value] for s in fam.samples]])
    return out


def additive(snap: Snapshot) -> Snapshot:
    """The families of ``snap`` that add up (what a worker that died has counted stays counted)."""
    return [f for f in snap if _merge_rule(f[0], f[1]) == SUM and f[1] != "gauge"]


def merge(snaps: Iterable[Snapshot]) -> Snapshot:
    """Several snapshots as one: same families and labels, values combined per sample."""
    families: dict[str, list[Any]] = {}
    for snap in snaps:
        for name, typ, doc, unit, samples in snap:
            fam = families.get(name)
            if fam is None:
                fam = families[name] = [name, typ, doc, unit, {}]
            how = _merge_rule(name, typ)
            values: dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]] = fam[4]
            for sname, labels, value in samples:
                key = (sname, tuple(sorted(labels.items())))
                have = values.get(key)
                if have is None:
                    values[key] = [sname, labels, value]
                elif how == SUM or sname.endswith(("_bucket", "_count", "_sum", "_gcount", "_gsum")):
                    have[2] += value
                elif how == MAX:
                    have[2] = max(have[2], value)
                else:
                    have[2] = min(have[2], value)
    return [[n, t, d, u, list(v.values())] for n, t, d, u, v in families.values()]


class SnapshotCollector(Collector):
    """A collector that yields a snapshot's families (to render a merged one)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        for name, typ, doc, unit, samples in self.snap:
            fam = Metric(name, doc, typ, unit)
            for sname, labels, value in samples:
                fam.add_sample(sname, labels, value)
            yield fam


def render(snap: Snapshot, accept: str = "") -> tuple[bytes, str]:
    """A (merged) snapshot in the format the Accept header asks for."""
    return exposition(accept, SnapshotCollector(snap))


# -- cheap histograms for hot paths ----------------------------------------------------------------
# CoreDNS's bucket layouts (plugin/metrics/vars and plugin.TimeBuckets / SlimTimeBuckets).
TIME_BUCKETS = tuple(0.00025 * 2**k for k in range(16))  # 0.25 ms .. ~8.2 s
SLIM_TIME_BUCKETS = tuple(0.00025 * 10**k for k in range(5))  # 0.25 ms .. 2.5 s
SIZE_BUCKETS = (0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0,
                16000.0, 32000.0, 48000.0, 64000.0)
# Message size -> bucket index for every possible DNS message size (0..65535), so a hot path counts a
# size with one lookup instead of a bisect.
SIZE_INDEX = bytes(bisect_left(SIZE_BUCKETS, n) for n in range(65536))


class Buckets:
    """A histogram counted in plain numbers: ``observe`` is one bisect and two additions.

    ``counts[i]`` is the number of observations in bucket ``i`` alone (the last one is +Inf);
    :meth:`cumulative` gives Prometheus's ``le`` view at scrape time.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le semantics: value <= bound
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((floatToGoString(bound), running))
        out.append(("+Inf", running + self.counts[-1]))
        return out


def add_histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    """Add one series of ``buckets`` to ``family`` (at scrape time)."""
    family.add_metric(labels, buckets.cumulative(), buckets.total)
