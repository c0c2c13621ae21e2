"""Short forms of the floods (benchmarks/reliability/floods.py runs them longer): UDP at the
highest rate one socket puts through the loopback, a TCP connection flood and slowloris clients
against a cap of 64 connections, each with a well-behaved client asking all along.

What must hold under each: the process stays up, its memory stays flat, the well-behaved client
gets every answer (with a stub resolver's retries under the UDP flood, at once under the TCP
ones: they never starve UDP), and once the flood is over every query is answered at the first
try. The rates and latencies are measured, not asserted (the machine is shared).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.reliability import floods

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RSS_GROWTH_MB = 5.0  # what "flat" allows: allocator noise, not a per-packet cost


def _healthy(out: dict[str, Any], client: str = "udp_client") -> None:
    print(out)
    assert out["alive"]
    assert out["rss_mb"]["max"] - out["rss_mb"]["start"] < RSS_GROWTH_MB, out["rss_mb"]
    assert out[client]["asked"] > 0 and out[client]["answered"] == out[client]["asked"], out[client]
    assert out["after"]["first_try"] == out["after"]["asked"] == 20, out["after"]


def _capped(out: dict[str, Any]) -> None:
    """The server never held more connections than its cap. Each sample counts the connections it
    held at one moment (never more: see load.tcp_connections), so the maximum is what is checked;
    the samples must have seen the flood's connections, or the check says nothing."""
    assert out["tcp_connections_samples"] >= 3, out
    assert 0 < out["tcp_connections_max"] <= floods.MAX_CONNECTIONS, out


def test_udp_flood(tmp_path: Path) -> None:
    with floods.Lab(tmp_path) as lab:
        out = floods.udp_flood(lab, 3.0)
    assert out["offered"]["sent"] > 0
    _healthy(out)


def test_tcp_connection_flood_is_capped_and_never_starves_udp(tmp_path: Path) -> None:
    with floods.Lab(tmp_path) as lab:
        out = floods.tcp_flood(lab, 3.0)
    _healthy(out)
    assert out["tcp_client"]["answered"] == out["tcp_client"]["asked"]
    _capped(out)
    assert out["offered"]["opened"] > 2 * floods.MAX_CONNECTIONS


def test_slowloris_clients_are_closed_and_capped(tmp_path: Path) -> None:
    with floods.Lab(tmp_path) as lab:
        out = floods.slowloris(lab, 6.0)
    _healthy(out)
    assert out["tcp_client"]["answered"] == out["tcp_client"]["asked"]
    _capped(out)
    # Every trickling client was closed by the server (its read timeout is 3 s), none outlived it.
    assert out["offered"]["closed_by_server"] == out["offered"]["opened"] == 4 * floods.MAX_CONNECTIONS
    assert out["offered"]["still_open"] == 0
