"""reload: option parsing, change detection over parsed tokens, swap without loss, failures kept out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dnslib
import pytest
from prometheus_client import generate_latest

from pycoredns.errors import PyCoreDNSError
from pycoredns.metrics import REGISTRY
from pycoredns.plugin import corefile_digest
from pycoredns.plugins.reload import metrics as reload_metrics
from pycoredns.plugins.reload.setup import effective_interval
from pycoredns.plugins.reload.watcher import STATE
from pycoredns.server import config
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.logs import CapturedLog


def _load(body: str) -> config.Instance:
    return config.load(f".:0 {{\n    whoami\n    {body}\n}}\n", "Corefile")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("reload", id="defaults"),
        pytest.param("reload 10s", id="interval"),
        pytest.param("reload 10s 2s", id="interval-jitter"),
        pytest.param("reload 2s 0", id="zero-jitter"),
        pytest.param("reload 2s 10s", id="jitter-clamped"),
        pytest.param("reload 1m 1s", id="minutes"),
    ],
)
def test_setup_accepts(body: str) -> None:
    _load(body)


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param("reload 1s", "plugin/reload: interval value must be greater or equal to 2s", id="short-interval"),
        pytest.param("reload 10s 500ms", "plugin/reload: jitter value must be 0 or greater or equal to 1s",
                     id="short-jitter"),
        pytest.param("reload soon", 'plugin/reload: time: invalid duration "soon"', id="bad-interval"),
        pytest.param("reload 10s 5", 'plugin/reload: time: missing unit in duration "5"', id="bad-jitter"),
        pytest.param("reload 10s 2s 1s",
                     "plugin/reload: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
                     "ending after '1s'", id="too-many-args"),
    ],
)
def test_setup_errors(body: str, message: str) -> None:
    with pytest.raises(PyCoreDNSError) as e:
        _load(body)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "interval, jitter, low, high",
    [
        pytest.param(30.0, 15.0, 22.5, 37.5, id="defaults"),
        pytest.param(2.0, 1.0, 1.5, 2.5, id="clamped"),
        pytest.param(10.0, 0.0, 10.0, 10.0, id="no-jitter"),
    ],
)
def test_effective_interval_range(interval: float, jitter: float, low: float, high: float) -> None:
    for _ in range(200):
        assert low <= effective_interval(interval, jitter) <= high


def test_digest_ignores_in_line_whitespace_and_comments_but_not_moved_lines() -> None:
    a = corefile_digest(".:53 {\n    whoami\n    reload\n}\n", "Corefile")
    assert corefile_digest(".:53 {\n    whoami   # hi\n\treload\n}\n", "Corefile") == a
    assert corefile_digest(".:53 {\n\n    whoami\n    reload\n}\n", "Corefile") != a
    assert corefile_digest(".:53 {\n    whoami\n    reload 3s\n}\n", "Corefile") != a
    assert len(a) == 128


def _corefile(extra: str = "") -> str:
    """Port 0: the kernel picks it; the listener keeps it across reloads, as its key stays."""
    return f"example.org:0 {{\n    whoami\n    reload 2s 0\n{extra}}}\n"


def _wait(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _metrics() -> str:
    return generate_latest(REGISTRY).decode()


def test_changed_corefile_is_swapped_in_without_losing_queries(
    dns_server: ServerFactory, dns_client: DNSClient, tmp_path: Path, coredns_log: CapturedLog
) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(_corefile())
    rs = dns_server("", conf=str(conf))
    first = rs.app.server.instance if rs.app.server else None
    assert _wait(lambda: "Running configuration SHA512 = " in coredns_log.text, 5)
    old_digest = corefile_digest(conf.read_text(), str(conf))
    assert f"[INFO] plugin/reload: Running configuration SHA512 = {old_digest}" in coredns_log.text

    lost: list[str] = []
    answered = [0]
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 20
        n = 0
        while not stop.is_set() and time.monotonic() < deadline and n < 20000:
            n += 1
            try:
                r = dns_client.query("example.org", "A", timeout=3)
                if r.header.rcode != dnslib.RCODE.NOERROR:
                    lost.append(f"rcode {r.header.rcode}")
                answered[0] += 1
            except Exception as e:  # a timeout is a lost query
                lost.append(repr(e))

    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.5)
    # A second zone on the same port: the listener stays, its dispatcher is replaced.
    conf.write_text(_corefile() + "example.net:0 {\n    whoami\n}\n")
    new_digest = corefile_digest(conf.read_text(), str(conf))
    swapped = _wait(lambda: rs.app.server is not None and rs.app.server.instance is not first)
    time.sleep(0.5)
    stop.set()
    t.join(30)
    assert swapped
    assert lost == []
    assert answered[0] > 0
    assert dns_client.query("www.example.net", "A").header.rcode == dnslib.RCODE.NOERROR
    text = _metrics()
    assert f'coredns_reload_version_info{{hash="sha512",value="{new_digest}"}} 1.0' in text
    assert old_digest not in text
    assert _wait(lambda: f"Running configuration SHA512 = {new_digest}" in coredns_log.text, 5)


def test_bad_corefile_keeps_running_config(
    dns_server: ServerFactory, dns_client: DNSClient, tmp_path: Path, coredns_log: CapturedLog
) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(_corefile())
    rs = dns_server("", conf=str(conf))
    first = rs.app.server.instance if rs.app.server else None
    failed_before = reload_metrics.FAILED._value.get()
    # Parses (so the digest changes) but fails at setup: unknown directive.
    conf.write_text(_corefile("    nosuchplugin\n"))
    assert _wait(lambda: "Corefile changed but reload failed" in coredns_log.text)
    assert "[ERROR] plugin/reload: Corefile changed but reload failed: " in coredns_log.text
    assert "Unknown directive 'nosuchplugin'" in coredns_log.text
    assert reload_metrics.FAILED._value.get() == failed_before + 1
    assert rs.app.server is not None and rs.app.server.instance is first
    assert dns_client.query("example.org", "A").header.rcode == dnslib.RCODE.NOERROR
    bad_digest = corefile_digest(conf.read_text(), str(conf))
    assert f'coredns_reload_version_info{{hash="sha512",value="{bad_digest}"}} 1.0' in _metrics()
    # Not retried while unchanged; an unparsable file is only a warning.
    time.sleep(2.5)
    assert reload_metrics.FAILED._value.get() == failed_before + 1
    conf.write_text(_corefile() + "example.net:0 { whoami }\n")
    assert _wait(lambda: "[WARNING] plugin/reload: Corefile parse failed: " in coredns_log.text)
    assert rs.app.server.instance is first
    # A fixed file is picked up.
    conf.write_text(_corefile() + "example.net:0 {\n    whoami\n}\n")
    assert _wait(lambda: rs.app.server is not None and rs.app.server.instance is not first)


def test_one_watcher_for_many_blocks(dns_server: ServerFactory, tmp_path: Path, coredns_log: CapturedLog) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(_corefile() + "example.net:0 {\n    whoami\n    reload 2s 0\n}\n")
    rs = dns_server("", conf=str(conf))
    assert _wait(lambda: "Running configuration SHA512" in coredns_log.text, 5)
    time.sleep(0.3)
    assert coredns_log.text.count("Running configuration SHA512") == 1
    state = rs.app.process.state.get(STATE)
    assert state is not None
    assert state.task is not None and not state.task.done()
