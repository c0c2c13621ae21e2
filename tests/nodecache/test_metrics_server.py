"""node-cache's own /metrics listener: the setup error counter, and a failed listen only logged."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from pycoredns.nodecache import metrics_server
from pycoredns.testing.logs import CapturedLog


def test_serves_setup_errors_with_all_labels() -> None:
    server = metrics_server.start("127.0.0.1:0")
    assert server is not None
    port = server.port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert "# HELP coredns_nodecache_setup_errors_total The number of errors during periodic network setup " \
               "for node-cache" in text
        for t in ("iptables", "iptables_lock", "interface_add", "interface_check", "configmap"):
            assert f'coredns_nodecache_setup_errors_total{{errortype="{t}"}}' in text
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
        assert e.value.code == 404
    finally:
        server.close()


@pytest.mark.parametrize(
    "address",
    [pytest.param("0", id="zero-disables"), pytest.param("127.0.0.1:http", id="named-port")],
)
def test_listen_failure_is_logged_not_fatal(address: str, coredns_log: CapturedLog) -> None:
    assert metrics_server.start(address) is None
    assert "[ERROR] Failed to start metrics handler: " in coredns_log.text


def test_two_instances_share_the_address() -> None:
    # SO_REUSEPORT, unlike node-cache's (kubernetes/dns#667): the new pod of a rolling update
    # listens beside the old one.
    first = metrics_server.start("127.0.0.1:0")
    assert first is not None
    port = first.port  # the kernel's pick; the second instance asks for the same one
    second = metrics_server.start(f"127.0.0.1:{port}")
    assert second is not None
    try:
        for _ in range(4):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                assert r.status == 200
    finally:
        first.close()
        second.close()
