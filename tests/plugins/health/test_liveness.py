"""health's ``liveness`` option: /health fails when DNS stops being answered, and only then.

The two ways a server stops answering, made for real: its event loop blocked (a sleep run on
the loop; SIGSTOP for a worker), and its UDP listener no longer receiving (the socket connected
to itself, which the kernel then never hands a client's datagram: the probes go unanswered as
they would behind a full receive queue).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pycoredns.server import steering
from pycoredns.testing import DNSClient, fixed_port, loopback_address
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.http import http_get
from pycoredns.testing.logs import CapturedLog
from tests.processes import wait_until

ROOT = Path(__file__).resolve().parents[3]
HEALTH = "127.0.0.1:0"


def _corefile(host: str, option: str = "liveness 1s") -> str:
    return f".:0 {{\n    bind {host}\n    whoami\n    health {HEALTH} {{\n        {option}\n    }}\n}}\n"


def test_a_blocked_event_loop_fails_health_until_it_has_run_again_for_a_while(dns_server: ServerFactory) -> None:
    s = dns_server(_corefile(loopback_address()))
    url = f"http://127.0.0.1:{s.http_port(HEALTH)}/health"
    assert wait_until(lambda: http_get(url) == (200, "OK"), 10)
    s.loop.call_soon_threadsafe(time.sleep, 1.5)  # the loop answers nothing for 1.5 s
    status, body = http_get(url)  # answered once the loop runs again
    assert status == 503 and "event loop blocked for 1." in body, body
    # Reported for twice the option's duration after the stall, then healthy again.
    assert wait_until(lambda: http_get(url) == (200, "OK"), 10)


@pytest.mark.parametrize("option", ["liveness 1s", "lameduck 1s"], ids=["liveness", "default"])
def test_a_listener_that_stops_receiving_fails_health_only_with_liveness(
    dns_server: ServerFactory, dns_client: DNSClient, option: str
) -> None:
    host = loopback_address()
    s = dns_server(_corefile(host, option))
    url = f"http://127.0.0.1:{s.http_port(HEALTH)}/health"
    assert wait_until(lambda: http_get(url) == (200, "OK"), 10)
    assert dns_client.query("example.org", "A", host=host).header.rcode == 0
    (sock,) = s.server.udp_sockets()
    s.loop.call_soon_threadsafe(steering.leave, sock)  # connected to itself: no client reaches it
    if option == "liveness 1s":
        # Once a round of probes has timed out, the answer names the listener.
        assert wait_until(lambda: http_get(url)[1].startswith(f"no DNS answer on {host}:{s.port} for "), 10)
        assert http_get(url)[0] == 503
    else:  # CoreDNS's /health: the HTTP server answers, so it is healthy
        time.sleep(2)
        assert http_get(url) == (200, "OK")


def test_probes_are_neither_counted_nor_logged(
    dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    host = loopback_address()
    # prometheus on the health listener (the same address shares one HTTP server)
    s = dns_server(_corefile(host).replace("    whoami\n", f"    whoami\n    log\n    prometheus {HEALTH}\n"))
    time.sleep(1.5)  # a few rounds of probes
    status, text = http_get(f"http://127.0.0.1:{s.http_port(HEALTH)}/metrics")
    assert dns_client.query("counted.example.org", "A", host=host).header.rcode == 0
    assert status == 200
    assert f'coredns_dns_requests_total{{server="dns://{host}:0"' not in text
    assert any("counted.example.org" in line for line in coredns_log.lines)  # the log plugin logs
    assert not [line for line in coredns_log.lines if "probe" in line]  # but no probe (named probeN.)


def test_with_workers_health_answers_for_every_worker(tmp_path: Path) -> None:
    dns, health = fixed_port(), fixed_port()
    conf = tmp_path / "Corefile"
    conf.write_text(_corefile("127.0.0.1").replace(".:0", f".:{dns}").replace(HEALTH, f"127.0.0.1:{health}"))
    out = (tmp_path / "out.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "pycoredns", "-conf", str(conf), "-workers", "2"],
                            stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))
    url = f"http://127.0.0.1:{health}/health"

    def status() -> tuple[int, str]:
        try:
            return http_get(url, timeout=3)
        except OSError:  # the kernel handed the connection to the stopped worker
            return (0, "")

    try:
        assert wait_until(lambda: status() == (200, "OK"), 30), (tmp_path / "out.log").read_text()
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        frozen = int(kids[1])
        os.kill(frozen, signal.SIGSTOP)
        try:
            assert wait_until(lambda: "worker 1 not answering" in status()[1], 20)
            assert status()[0] in (0, 503)
        finally:
            os.kill(frozen, signal.SIGCONT)
        # Running again, it reports how long it was held, then the instance is healthy.
        assert wait_until(lambda: "worker 1: event loop blocked for " in status()[1], 10)
        assert wait_until(lambda: status() == (200, "OK"), 15)
        assert DNSClient(dns).query("example.org", "A").header.rcode == 0
    finally:
        proc.terminate()
        proc.wait(30)
        out.close()
