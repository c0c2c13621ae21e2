"""CoreDNS's core metric families, counted in plain numbers and rendered when /metrics is scraped.

One :data:`STATS` per process: counters survive reloads, as CoreDNS's package-level vectors do.
The hot path only touches a :class:`Series` (one per server, zone and proto); everything with a
prometheus_client type is built in :meth:`CoreStats.collect`.
"""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from pycoredns.plugin import (
    COREDNS_VERSION,
    SIZE_BUCKETS,
    SIZE_INDEX,
    TIME_BUCKETS,
    Buckets,
    add_histogram,
    dns,
    panics,
)

VIEW = ""  # no view plugin in this build: CoreDNS's label is then empty

def build_info() -> tuple[str, str, str]:
    """(version, revision, goversion): our "Go version" is the Python that runs us."""
    return COREDNS_VERSION, "", f"python{platform.python_version()}"


class Series:
    """Everything counted for one (server, zone, proto); labels are spelled out at scrape.

    One reply is one increment of ``counts`` under a single key holding every label the families
    split on (family, qtype, DO, rcode, plugin) and its bucket in each histogram (request size,
    response size, duration): the hot path builds one tuple and touches one dict entry, and
    :meth:`CoreStats.collect` adds the families up. The key space stays small (values bucketed).
    """

    __slots__ = ("counts", "req_bytes", "resp_bytes", "seconds")

    def __init__(self) -> None:
        # (family, qtype, do, rcode, plugin, request size bucket, response size bucket,
        #  duration bucket) -> [count]: a mutable cell, so counting a known key is one lookup.
        self.counts: dict[tuple[int, int, bool, int, str, int, int, int], list[int]] = {}
        self.req_bytes = 0
        self.resp_bytes = 0
        self.seconds = 0.0

    def cell(self, key: tuple[int, int, bool, int, str, int, int, int]) -> list[int]:
        """The count cell of ``key``, made on first use."""
        cell = self.counts.get(key)
        if cell is None:
            cell = self.counts[key] = [0]
        return cell

    def count(self, family: int, qtype: int, do: bool, rcode: int, plugin: str, req_size: int, resp_size: int,
              took: float) -> None:
        """Count one reply (the observer inlines the same steps)."""
        key = (family, qtype, do, rcode, plugin, SIZE_INDEX[req_size], SIZE_INDEX[resp_size],
               bisect_left(TIME_BUCKETS, took))
        self.cell(key)[0] += 1
        self.req_bytes += req_size
        self.resp_bytes += resp_size
        self.seconds += took


class Folder(Protocol):
    """What counts in its own tallies and moves them into the series when asked (the observer)."""

    def fold(self) -> None: ...


class CoreStats:
    """The process's DNS request metrics plus coredns_plugin_enabled and coredns_build_info."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], Series] = {}
        # Observers that count fast replies in tallies of their own: folded in before every scrape.
        self.folders: set[Folder] = set()
        # coredns_plugin_enabled: label tuples by configuration (generation), in the order they
        # started; the last one still loaded is shown.
        self.enabled_by: dict[int, set[tuple[str, str, str, str]]] = {}

    def get(self, server: str, zone: str, proto: str) -> Series:
        key = (server, zone, proto)
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = Series()
        return s

    def add_folder(self, folder: Folder) -> None:
        self.folders.add(folder)

    def remove_folder(self, folder: Folder) -> None:
        self.folders.discard(folder)

    def fold(self) -> None:
        """Every observer's tallies into the series: what a scrape reads is then complete."""
        for folder in list(self.folders):
            folder.fold()

    def set_enabled(self, owner: int, labels: list[tuple[str, str, str, str]]) -> None:
        """Record a block's plugins; the first block of a new configuration resets the gauge."""
        self.enabled_by.setdefault(owner, set()).update(labels)

    def retire_enabled(self, owner: int) -> None:
        """A configuration retires: replaced by a reload, or a reload that failed after its start
        (then the running configuration's plugins show again, as CoreDNS's OnRestartFailed)."""
        self.enabled_by.pop(owner, None)

    @property
    def enabled(self) -> set[tuple[str, str, str, str]]:
        """The label sets the gauge shows: the latest loaded configuration's."""
        return self.enabled_by[next(reversed(self.enabled_by))] if self.enabled_by else set()

    # -- scrape --------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion from which "
            "CoreDNS was built.",
            labels=["version", "revision", "goversion"],
        )
        info.add_metric(list(build_info()), 1)
        yield info
        panic_family = CounterMetricFamily("coredns_panics", "A metrics that counts the number of panics.")
        panic_family.add_metric([], panics())
        yield panic_family
        enabled = GaugeMetricFamily(
            "coredns_plugin_enabled",
            "A metric that indicates whether a plugin is enabled on per server and zone basis.",
            labels=["server", "zone", "view", "name"],
        )
        for labels in sorted(self.enabled):
            enabled.add_metric(list(labels), 1)
        if enabled.samples:
            yield enabled
        yield from self._requests()

    def _requests(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        do = CounterMetricFamily(
            "coredns_dns_do_requests", "Counter of DNS requests with DO bit set per zone.",
            labels=["server", "zone", "view"],
        )
        responses = CounterMetricFamily(
            "coredns_dns_responses", "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        duration = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each request took per zone.",
            labels=["server", "zone", "view"],
        )
        req_size = HistogramMetricFamily(
            "coredns_dns_request_size_bytes",
            "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
            labels=["server", "zone", "view", "proto"],
        )
        resp_size = HistogramMetricFamily(
            "coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
            labels=["server", "zone", "view", "proto"],
        )
        self.fold()
        # Requests and responses have no proto in some families: sum the per-proto series.
        req_counts: dict[tuple[str, ...], int] = {}
        do_counts: dict[tuple[str, str], int] = {}
        resp_counts: dict[tuple[str, ...], int] = {}
        durations: dict[tuple[str, str], Buckets] = {}
        for (server, zone, proto), s in sorted(self.series.items()):
            req_hist = [0] * (len(SIZE_BUCKETS) + 1)
            resp_hist = [0] * (len(SIZE_BUCKETS) + 1)
            merged = durations.get((server, zone))
            if merged is None:
                merged = durations[(server, zone)] = Buckets(TIME_BUCKETS)
            for (family, qtype, do_bit, rcode, plugin, req_b, resp_b, dur_b), (n,) in list(s.counts.items()):
                key = (server, zone, VIEW, proto, str(family), dns.type_label(qtype))
                req_counts[key] = req_counts.get(key, 0) + n
                rkey = (server, zone, VIEW, dns.rcode_label(rcode), plugin)
                resp_counts[rkey] = resp_counts.get(rkey, 0) + n
                if do_bit:
                    do_counts[(server, zone)] = do_counts.get((server, zone), 0) + n
                req_hist[req_b] += n
                resp_hist[resp_b] += n
                merged.counts[dur_b] += n
            merged.total += s.seconds
            add_histogram(req_size, [server, zone, VIEW, proto], _buckets(req_hist, s.req_bytes))
            add_histogram(resp_size, [server, zone, VIEW, proto], _buckets(resp_hist, s.resp_bytes))
        for req_key, n in req_counts.items():
            requests.add_metric(list(req_key), n)
        for (server, zone), n in do_counts.items():
            do.add_metric([server, zone, VIEW], n)
        for resp_key, n in resp_counts.items():
            responses.add_metric(list(resp_key), n)
        for (server, zone), b in durations.items():
            add_histogram(duration, [server, zone, VIEW], b)
        # Go's registry leaves out vectors that have no series yet; so do we.
        yield from (f for f in (requests, do, responses, duration, req_size, resp_size) if f.samples)

    def describe(self) -> Iterator[Metric]:
        # Every family name, so the registry can detect clashes without running a scrape.
        for name, kind in _FAMILIES:
            yield Metric(name, "", kind)


def _buckets(counts: list[int], total: int) -> Buckets:
    b = Buckets(SIZE_BUCKETS)
    b.counts = counts
    b.total = float(total)
    return b


_FAMILIES = (
    ("coredns_build_info", "gauge"),
    ("coredns_panics", "counter"),
    ("coredns_plugin_enabled", "gauge"),
    ("coredns_dns_requests", "counter"),
    ("coredns_dns_do_requests", "counter"),
    ("coredns_dns_responses", "counter"),
    ("coredns_dns_request_duration_seconds", "histogram"),
    ("coredns_dns_request_size_bytes", "histogram"),
    ("coredns_dns_response_size_bytes", "histogram"),
)

STATS = CoreStats()
