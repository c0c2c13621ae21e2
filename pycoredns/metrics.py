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


def exposition(accept: str = "") -> tuple[bytes, str]:
    """:data:`REGISTRY` in the format the Accept header asks for: (body, content type)."""
    encoder, content_type = choose_encoder(accept)
    body = generate_latest(REGISTRY) if encoder is generate_latest else encoder(REGISTRY)
    return body, content_type


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
