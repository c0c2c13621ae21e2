"""loop: setup errors, a real forwarding loop ends the process with CoreDNS's message, no loop is quiet."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugins.loop.handler import Loop, probe_name
from pycoredns.server import config
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.ports import PortTaken, on_fixed_port

LOOP_MESSAGE = re.compile(
    r'\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> (?P<addr>[^)]*)\) detected for zone "(?P<zone>[^"]+)", '
    r'see https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO (?P<qname>\d+\.\d+\.[^"]*)"'
)


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param("loop argument",
                     "plugin/loop: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
                     "ending after 'argument'", id="argument"),
        pytest.param("loop\n    loop", "plugin/loop: this plugin can only be used once per Server Block",
                     id="twice"),
    ],
)
def test_setup_errors(body: str, message: str) -> None:
    with pytest.raises(PyCoreDNSError) as e:
        config.load(f".:0 {{\n    whoami\n    {body}\n}}\n", "Corefile")
    assert str(e.value) == message


@pytest.mark.parametrize(
    "key, zone",
    [
        pytest.param(".:0", ".", id="root"),
        pytest.param("example.org:0 example.net:0", "example.org.", id="first-key"),
        pytest.param("Example.ORG", "example.org.", id="normalised"),
    ],
)
def test_zone_is_first_key(key: str, zone: str) -> None:
    inst = config.load(f"{key} {{\n    loop\n    whoami\n}}\n", "Corefile")
    loop = next(h for h in inst.configs[0].handlers if isinstance(h, Loop))
    assert loop.zone == zone
    assert re.fullmatch(r"\d+\.\d+\." + re.escape(zone.lstrip(".")), loop.qname)


def test_probe_names_are_random() -> None:
    assert probe_name("example.org.") != probe_name("example.org.")


def _run_pycoredns(conf: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycoredns", "-conf", str(conf)], capture_output=True, text=True, timeout=timeout
    )


def _run_forwarding_to_itself(conf: Path, corefile: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run a Corefile that forwards to its own port: the one case where the port must be known
    before the server binds it, so it comes from outside the kernel's ephemeral range, and
    another is tried if a concurrent run holds it."""

    def attempt(port: int) -> tuple[int, subprocess.CompletedProcess[str]]:
        conf.write_text(corefile.format(port=port))
        r = _run_pycoredns(conf)
        if "address already in use" in (r.stdout + r.stderr).lower():
            raise PortTaken(port)
        return port, r

    return on_fixed_port(attempt)


def test_forwarding_to_itself_exits_1_with_coredns_message(tmp_path: Path) -> None:
    conf = tmp_path / "Corefile"
    port, r = _run_forwarding_to_itself(conf, "example.org:{port} {{\n    loop\n    forward . 127.0.0.1:{port}\n}}\n")
    assert r.returncode == 1, r.stdout + r.stderr
    m = LOOP_MESSAGE.search(r.stdout)
    assert m, r.stdout
    assert m["addr"] == f":{port}"
    assert m["zone"] == "example.org."
    assert m["qname"].endswith(".example.org.")


def test_loop_through_bound_address_names_it(tmp_path: Path) -> None:
    conf = tmp_path / "Corefile"
    port, r = _run_forwarding_to_itself(
        conf, ".:{port} {{\n    bind 127.0.0.1\n    loop\n    forward . 127.0.0.1:{port}\n}}\n"
    )
    assert r.returncode == 1, r.stdout + r.stderr
    m = LOOP_MESSAGE.search(r.stdout)
    assert m and m["addr"] == f"127.0.0.1:{port}" and m["zone"] == "."


def test_no_loop_disables_itself_and_passes_hinfo(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    up = fake_upstream()

    # loop probes the port the Corefile names (as CoreDNS does), so it cannot be 0 here.
    def attempt(port: int) -> None:
        rs = dns_server(f".:{port} {{\n    loop\n    forward . {up.address}\n}}\n")
        loop = next(h for h in rs.server.instance.configs[0].handlers if isinstance(h, Loop))
        end = time.monotonic() + 10
        while not loop.disabled and time.monotonic() < end:
            time.sleep(0.05)
        assert loop.disabled
        assert not rs.app.stopped.is_set()
        probes = [q for _, q in up.queries if q.q.qtype == dnslib.QTYPE.HINFO]
        assert [str(q.q.qname) for q in probes] == [loop.qname]
        # The probe name itself may now pass any number of times.
        for _ in range(4):
            assert dns_client.query(loop.qname, "HINFO").header.rcode == dnslib.RCODE.NOERROR
        assert not rs.app.stopped.is_set()

    on_fixed_port(attempt)
