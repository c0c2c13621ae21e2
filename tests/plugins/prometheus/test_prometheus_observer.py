"""The per-reply accounting, called directly: labels, zone choice, sizes and histogram buckets."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pycoredns import wire
from pycoredns.dns import rcode_label, type_label
from pycoredns.metrics import SIZE_BUCKETS, Buckets, FuncCollector
from pycoredns.plugins.prometheus.metrics import CoreStats
from pycoredns.plugins.prometheus.observer import DroppedObserver, MetricsObserver
from pycoredns.testing import make_request


def _scrape(stats: CoreStats) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    reg = CollectorRegistry()
    reg.register(FuncCollector(stats.collect, stats.describe))
    text = generate_latest(reg).decode()
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def _reply(req_rcode: int = 0, size: int = 40) -> bytes:
    return bytes([0, 1, 0x81, 0x80 | req_rcode]) + bytes(size - 4)


def test_counts_one_reply() -> None:
    stats = CoreStats()
    obs = MetricsObserver(stats, ["example.org."])
    req = make_request("www.example.org", "A", zone="example.org.", do=True)
    req.answered_by = "whoami"
    obs.observe(req, _reply(size=77), 0, None)
    got = _scrape(stats)
    labels = {"server": "dns://:53", "zone": "example.org.", "view": ""}
    assert got["coredns_dns_requests"] == [
        ("coredns_dns_requests_total", {**labels, "proto": "udp", "family": "1", "type": "A"}, 1.0)
    ]
    assert got["coredns_dns_do_requests"] == [("coredns_dns_do_requests_total", labels, 1.0)]
    assert got["coredns_dns_responses"] == [
        ("coredns_dns_responses_total", {**labels, "rcode": "NOERROR", "plugin": "whoami"}, 1.0)
    ]
    sizes = {s[1]["le"]: s[2] for s in got["coredns_dns_response_size_bytes"] if s[0].endswith("_bucket")}
    assert sizes["0.0"] == 0 and sizes["100.0"] == 1 and sizes["+Inf"] == 1
    req_sum = [s for s in got["coredns_dns_request_size_bytes"] if s[0].endswith("_sum")]
    assert req_sum[0][2] == len(req.wire)
    count = [s for s in got["coredns_dns_request_duration_seconds"] if s[0].endswith("_count")]
    assert count == [("coredns_dns_request_duration_seconds_count", labels, 1.0)]


@pytest.mark.parametrize("slow", [False, True], ids=["fast", "slow"])
def test_consecutive_replies_count_in_their_own_series(slow: bool) -> None:
    """The observer keeps the last reply's series: a reply that differs from the one before in
    server, zone or protocol alone counts in its own (fast replies through tallies, slow ones at
    once)."""
    from time import perf_counter

    stats = CoreStats()
    obs = MetricsObserver(stats, [".", "example.org."])
    labels = [
        ("dns://:53", ".", "udp"), ("dns://:53", ".", "udp"), ("dns://:53", ".", "tcp"),
        ("dns://:53", "example.org.", "tcp"), ("dns://:1053", "example.org.", "tcp"), ("dns://:53", ".", "udp"),
    ]
    for i, (server, zone, proto) in enumerate(labels):
        req = make_request(f"n{i}.example.org", "A", server=server, zone=zone, proto=proto)
        req.answered_by = "whoami"
        if slow:
            req.start = perf_counter() - 1.0
        obs.observe(req, _reply(), 0, None)
    got = {(s[1]["server"], s[1]["zone"], s[1]["proto"]): s[2] for s in _scrape(stats)["coredns_dns_requests"]}
    assert got == {("dns://:53", ".", "udp"): 3.0, ("dns://:53", ".", "tcp"): 1.0,
                   ("dns://:53", "example.org.", "tcp"): 1.0, ("dns://:1053", "example.org.", "tcp"): 1.0}


def test_server_written_reply_has_no_plugin_and_zero_size() -> None:
    stats = CoreStats()
    obs = MetricsObserver(stats, ["."])
    req = make_request("example.org", "A")
    obs.observe(req, req.error_reply(wire.SERVFAIL), wire.SERVFAIL, None)
    got = _scrape(stats)
    assert got["coredns_dns_responses"][0][1]["plugin"] == ""
    assert got["coredns_dns_responses"][0][1]["rcode"] == "SERVFAIL"
    total = [s for s in got["coredns_dns_response_size_bytes"] if s[0].endswith("_sum")]
    assert total[0][2] == 0


def test_ds_is_counted_under_the_longest_block_zone() -> None:
    stats = CoreStats()
    obs = MetricsObserver(stats, ["example.org.", "sub.example.org."])
    # The router sends DS to the parent zone; the metric still names the longest zone holding it.
    req = make_request("sub.example.org", "DS", zone="example.org.")
    obs.observe(req, _reply(), 0, None)
    assert _scrape(stats)["coredns_dns_requests"][0][1]["zone"] == "sub.example.org."


def test_ipv6_family_and_other_type() -> None:
    stats = CoreStats()
    obs = MetricsObserver(stats, ["."])
    obs.observe(make_request("example.org", "NAPTR", remote=("::1", 5353)), _reply(), 0, None)
    labels = _scrape(stats)["coredns_dns_requests"][0][1]
    assert (labels["family"], labels["type"]) == ("2", "other")


def test_dropped() -> None:
    stats = CoreStats()
    dropped = DroppedObserver(stats)
    req = make_request("example.org", "A")
    dropped.observe_dropped(req, "dns://:53", "udp", req.error_reply(wire.REFUSED))
    dropped.observe_dropped(None, "dns://:53", "udp", _reply(wire.FORMERR))
    got = _scrape(stats)
    assert {(s[1]["zone"], s[1]["type"], s[2]) for s in got["coredns_dns_requests"]} == {
        ("dropped", "A", 1.0),
        ("dropped", "other", 1.0),
    }
    assert {s[1]["rcode"] for s in got["coredns_dns_responses"]} == {"REFUSED", "FORMERR"}


@pytest.mark.parametrize(
    ("qtype", "label"),
    [
        pytest.param(1, "A", id="A"),
        pytest.param(28, "AAAA", id="AAAA"),
        pytest.param(65, "HTTPS", id="HTTPS"),
        pytest.param(64, "SVCB", id="SVCB"),
        pytest.param(255, "ANY", id="ANY"),
        pytest.param(13, "other", id="HINFO-other"),
        pytest.param(35, "other", id="NAPTR-other"),
    ],
)
def test_type_label(qtype: int, label: str) -> None:
    assert type_label(qtype) == label


@pytest.mark.parametrize(
    ("rcode", "label"),
    [
        pytest.param(0, "NOERROR", id="noerror"),
        pytest.param(3, "NXDOMAIN", id="nxdomain"),
        pytest.param(5, "REFUSED", id="refused"),
        pytest.param(12, "RCODE12", id="unknown"),
    ],
)
def test_rcode_label(rcode: int, label: str) -> None:
    assert rcode_label(rcode) == label


def test_buckets_use_le_semantics() -> None:
    b = Buckets(SIZE_BUCKETS)
    for v in (0, 100, 101, 511, 70000):
        b.observe(v)
    cum = dict(b.cumulative())
    assert (cum["0.0"], cum["100.0"], cum["200.0"], cum["511.0"], cum["64000.0"], cum["+Inf"]) == (1, 2, 3, 4, 4, 5)
    assert b.total == 0 + 100 + 101 + 511 + 70000
