"""/health over real HTTP: 200 OK while serving, the self-check metrics, reloads, and lameduck on
SIGTERM in a real ``python -m pycoredns`` process (DNS and /health both keep answering)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pycoredns.errors import ServerConfigError
from pycoredns.plugins.health.health import METRICS
from pycoredns.testing import listening_ports, query, wait_dns_port
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.http import http_get, scrape
from pycoredns.testing.logs import CapturedLog

ROOT = Path(__file__).resolve().parents[3]


HEALTH, METRICS_AT = "127.0.0.1:0", "127.0.0.2:0"  # ports the kernel picks; distinct listeners


def _corefile(extra: str = "", lameduck: str = "1s") -> str:
    return f".:0 {{\n    whoami\n    health {HEALTH} {{\n        lameduck {lameduck}\n    }}\n{extra}}}\n"


def test_health_ok_and_404_and_self_check(dns_server: ServerFactory) -> None:
    s = dns_server(_corefile(f"    prometheus {METRICS_AT}\n"))
    health, metrics = s.http_port(HEALTH), s.http_port(METRICS_AT)
    assert http_get(f"http://127.0.0.1:{health}/health") == (200, "OK")
    assert http_get(f"http://127.0.0.1:{health}/other")[0] == 404
    # The self-check requests /health once a second; wait (bounded) for one to be recorded.
    before = sum(METRICS.duration.counts)
    deadline = time.monotonic() + 15
    while sum(METRICS.duration.counts) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sum(METRICS.duration.counts) > before
    fams = scrape(metrics, host="127.0.0.2")
    assert fams["coredns_health_request_duration_seconds"].type == "histogram"
    assert {s.labels.get("le") for s in fams["coredns_health_request_duration_seconds"].samples} >= {
        "0.00025", "0.0025", "0.025", "0.25", "2.5", "+Inf"}
    assert fams["coredns_health_request_failures"].samples[0].value == METRICS.failures


def test_reload_keeps_endpoint_without_lameduck(dns_server: ServerFactory, coredns_log: CapturedLog) -> None:
    s = dns_server(_corefile())
    health = s.http_port(HEALTH)
    assert s.reload(_corefile("    errors\n"))
    assert s.http_port(HEALTH) == health
    assert http_get(f"http://127.0.0.1:{health}/health") == (200, "OK")
    assert "lameduck" not in coredns_log.text


def test_lameduck_after_sigterm(tmp_path: Path) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(_corefile(lameduck="3s"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pycoredns", "-conf", str(conf)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # health listens before DNS does (startup hooks run first): both are up once DNS is.
        dns = wait_dns_port(proc.pid, host="0.0.0.0")
        (health,) = {b.port for b in listening_ports(proc.pid) if b.proto == "tcp" and b.host == "127.0.0.1"}
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_get(f"http://127.0.0.1:{health}/health", timeout=1) == (200, "OK"):
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "pycoredns did not come up"
            time.sleep(0.1)
        assert query("example.org", "A", dns).header.rcode == 0
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Inside the 3 s lameduck period: still healthy, still answering DNS.
        for _ in range(3):
            assert proc.poll() is None
            assert http_get(f"http://127.0.0.1:{health}/health", timeout=2) == (200, "OK")
            assert query("example.org", "A", dns, timeout=2).header.rcode == 0
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "[INFO] SIGTERM: Shutting down servers then terminating" in out
    assert "[INFO] plugin/health: Going into lameduck mode for 3s" in out
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{health}/health", timeout=2)


@pytest.mark.parametrize(
    ("address", "error"),
    [
        pytest.param("127.0.0.1:a", "listen tcp 127.0.0.1:a: unknown port", id="port-not-a-number"),
        pytest.param("127.0.0.1:{busy}", "listen tcp 127.0.0.1:{busy}: ", id="port-in-use"),
    ],
)
def test_listen_errors_stop_startup(dns_server: ServerFactory, address: str, error: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)  # no SO_REUSEPORT: nobody can share this one
        port = busy.getsockname()[1]
        with pytest.raises(ServerConfigError) as e:
            dns_server(f".:0 {{\n    whoami\n    health {address.format(busy=port)}\n}}\n")
    assert str(e.value).startswith(error.format(busy=port))
