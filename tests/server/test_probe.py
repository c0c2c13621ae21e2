"""The server's probes of its own listeners (health's liveness): one per worker, answered BADVERS."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pycoredns import wire
from pycoredns.server import probe, steering
from pycoredns.testing import loopback_address, running_server


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_one_name_for_every_socket_index(workers: int) -> None:
    names = probe.probe_names(workers)
    assert len(names) == workers
    if workers > 1:
        assert [steering.worker_of(n, workers) for n in names] == list(range(workers))


def test_a_probe_is_answered_badvers_before_any_plugin() -> None:
    data = probe.probe_query(0x4242, probe.probe_names(1)[0])
    q = wire.parse_question(data)
    assert q.edns and q.edns_version == probe.PROBE_VERSION


def test_answered_and_unanswered_listeners() -> None:
    host = loopback_address()
    with running_server(f".:0 {{\n    bind {host}\n    whoami\n}}\n") as s, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((host, 0))  # bound, never read: its probes wait unanswered
        listening, quiet = s.server.udp_sockets()[0].getsockname(), silent.getsockname()
        missed = asyncio.run(probe.probe([listening, quiet], 2, 0.5))
    assert missed == [quiet]
