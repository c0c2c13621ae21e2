"""The soak's short form (benchmarks/reliability/soak.py runs it for 10 minutes): hits, misses,
NXDOMAIN answers cached and not, over UDP and over TCP at once, with dnsperf at a fixed rate
against dnsmasq as the upstream. Not one query may be lost; the memory a short run may add after
its warm-up is bounded (the long run shows it flat)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.reliability import soak

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.skipif(shutil.which("dnsperf") is None or shutil.which("dnsmasq") is None,
                    reason="needs dnsperf and dnsmasq (scripts/bootstrap.sh test installs them)")
def test_mixed_soak_loses_nothing(tmp_path: Path) -> None:
    out = soak.soak(tmp_path, seconds=12, udp_qps=400, tcp_qps=40, warmup=4, rss_every=1.0)
    print(out)
    assert out["alive"]
    assert out["lost"] == 0
    for proto, rate in (("udp", 400), ("tcp", 40)):
        run = out[proto]
        assert run["sent"] == run["completed"] >= rate * 10
        assert set(run["rcodes"]) == {"NOERROR", "NXDOMAIN"}, run["rcodes"]  # no SERVFAIL, nothing else
        assert run["rcodes"]["NXDOMAIN"] * 10 >= run["sent"] * 2 - 10  # two in ten are NXDOMAIN
    assert out["rss_mb"]["max"] - out["rss_mb"]["warm"] < 10.0, out["rss_mb"]
