"""The profile.proto encoder, read back by Google's protobuf runtime."""

from __future__ import annotations

import gzip

import pytest

from pycoredns.plugins.pprof.profile import Frame, Profile
from pycoredns.plugins.pprof.sampler import LoopStalls

from .pprof_proto import parse, stacks


def test_round_trip_through_protobuf() -> None:
    leaf = Frame("pkg.leaf", "/src/pkg.py", 10, 12)
    root = Frame("pkg.main", "/src/pkg.py", 1, 5)
    prof = Profile(sample_types=[("samples", "count"), ("cpu", "nanoseconds")], period_type=("cpu", "nanoseconds"),
                   period=10_000_000, duration_ns=2_000_000_000, time_ns=1_700_000_000_000_000_000,
                   comments=["a comment"], default_sample_type="cpu")
    prof.add((leaf, root), [3, 30_000_000], {"thread": "MainThread"})
    prof.add((root,), [1, 2**40])  # a value needing a long varint
    p = parse(prof.gzipped())
    strings = list(p.string_table)
    assert strings[0] == ""
    assert [(strings[t.type], strings[t.unit]) for t in p.sample_type] == [("samples", "count"),
                                                                          ("cpu", "nanoseconds")]
    assert (strings[p.period_type.type], strings[p.period_type.unit], p.period) == ("cpu", "nanoseconds",
                                                                                    10_000_000)
    assert (p.duration_nanos, p.time_nanos) == (2_000_000_000, 1_700_000_000_000_000_000)
    assert [strings[c] for c in p.comment] == ["a comment"]
    assert strings[p.default_sample_type] == "cpu"
    assert stacks(p) == [(["pkg.leaf", "pkg.main"], [3, 30_000_000], {"thread": "MainThread"}),
                         (["pkg.main"], [1, 2**40], {})]
    fn = {strings[f.name]: f for f in p.function}
    assert (strings[fn["pkg.leaf"].filename], fn["pkg.leaf"].start_line) == ("/src/pkg.py", 10)
    lines = {loc.id: loc.line[0].line for loc in p.location}
    assert sorted(lines.values()) == [5, 12]
    assert len(p.location) == 2 and len(p.function) == 2  # the shared frame is written once


def test_plain_encoding_is_the_gzipped_one() -> None:
    prof = Profile(sample_types=[("goroutine", "count")])
    prof.add((Frame("x"),), [1])
    assert gzip.decompress(prof.gzipped()) == prof.encode()


def test_value_count_must_match_the_sample_types() -> None:
    with pytest.raises(ValueError):
        Profile(sample_types=[("samples", "count")]).add((Frame("x"),), [1, 2])


def test_block_rate_sampling_follows_go() -> None:
    stalls = LoopStalls(rate=1000, rand=lambda n: 500)  # the "random" draw is always 500
    key = ()
    stalls.record(2000, key)  # at least the rate: always, as it is
    stalls.record(400, key)  # shorter than the rate and the draw: skipped
    stalls.record(800, key)  # shorter, but above the draw: counted as 1000/800 waits of 1000 ns
    [(stack, values, _labels)] = stalls.profile().samples
    assert stack == () and values == [round(1 + 1000 / 800), 3000]
    off = LoopStalls(rate=0)
    off.record(10**9, key)
    assert off.profile().samples == []
