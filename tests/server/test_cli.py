"""The pycoredns command: -validate, -plugins, -version, Go flag rules (third-party plugins: test_registry.py,
and tests/packaging/test_example_plugin.py installs one)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query, wait_dns_port

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "pycoredns", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


@pytest.mark.parametrize(
    ("corefile", "error"),
    [
        pytest.param(
            ". {\n    whoami\n    foo\n}\n", "Corefile:3 - Error during parsing: Unknown directive 'foo'", id="unknown"
        ),
        pytest.param(
            ". {\n    whoami\n", "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'", id="eof"
        ),
        pytest.param(
            ". {\n    whoami extra\n}\n",
            "plugin/whoami: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after"
            " 'extra'",
            id="plugin-args",
        ),
        pytest.param(":53 {\n    whoami\n}\n", "error inspecting server blocks: ", id="empty-zone"),
        pytest.param(
            "example.org:1053 {\n    whoami\n}\nexample.org:1053 {\n    whoami\n}\n",
            "cannot serve dns://example.org.:1053 - it is already defined",
            id="duplicate",
        ),
    ],
)
def test_validate_reports_the_first_error(tmp_path: Path, corefile: str, error: str) -> None:
    (tmp_path / "Corefile").write_text(corefile)
    r = run("-validate", "-conf", "Corefile", cwd=tmp_path)
    assert r.returncode == 1
    assert error in r.stderr


def test_validate_ok(tmp_path: Path) -> None:
    (tmp_path / "Corefile").write_text("example.org:1053 {\n    whoami\n}\n")
    r = run("-validate", "-conf", str(tmp_path / "Corefile"))
    assert r.returncode == 0, r.stderr


def test_version_and_plugins() -> None:
    r = run("-version")
    assert r.returncode == 0 and "CoreDNS-1.14.7" in r.stdout
    r = run("-plugins")
    assert r.returncode == 0 and "  dns.whoami" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["-nosuchflag"], "flag provided but not defined: -nosuchflag", id="unknown"),
        pytest.param(["-conf"], "flag needs an argument: -conf", id="missing-value"),
        pytest.param(["-quiet=maybe"], 'invalid boolean value "maybe" for -quiet', id="bad-bool"),
        pytest.param(["-dns.port", "x"], 'invalid value "x" for flag -dns.port', id="bad-port"),
    ],
)
def test_go_flag_errors_exit_2(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Usage of pycoredns:" in r.stderr


def test_extra_arguments_are_rejected() -> None:
    r = run("-quiet", "false")
    assert r.returncode == 1
    assert "extra command line arguments: ['false']" in r.stderr


def test_default_corefile_serves_whoami_on_dns_port(tmp_path: Path) -> None:
    p = subprocess.Popen([PY, "-m", "pycoredns", "-dns.port", "0"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_dns_port(p.pid, host="0.0.0.0")  # no Corefile: every address, as CoreDNS's .:53
        r = _wait_answer("example.org", "A", port)
        assert r.header.rcode == 0 and any(rr.rtype == dnslib.QTYPE.SRV for rr in r.ar)
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=20)
    assert p.returncode == 0
    assert ".:0\n" in out and "CoreDNS-1.14.7" in out  # the banner shows the Corefile's port


def test_the_open_files_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    # As Go's runtime does for CoreDNS: a low soft limit would let a connection flood take every
    # file the upstream sockets need.
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"the hard limit on open files is already {hard}")

    def low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    p = subprocess.Popen([PY, "-m", "pycoredns", "-dns.port", "0"], cwd=tmp_path, preexec_fn=low,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_dns_port(p.pid, host="0.0.0.0")
        (line,) = [ln for ln in Path(f"/proc/{p.pid}/limits").read_text().splitlines() if "open files" in ln]
        soft = line.split()[3]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    assert soft == ("unlimited" if hard == resource.RLIM_INFINITY else str(hard))


def _wait_answer(name: str, qtype: str, port: int, deadline: float = 15.0) -> dnslib.DNSRecord:
    end = time.monotonic() + deadline
    while True:
        try:
            return query(name, qtype, port, timeout=0.5)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)
