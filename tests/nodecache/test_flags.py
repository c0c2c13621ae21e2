"""node-cache's command line: Go flag rules over node-cache's and CoreDNS's flags, then its checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pycoredns.goflags import FlagError
from pycoredns.nodecache.flags import (
    FlagValidationError,
    build_flagset,
    parse_sync_interval,
    validate,
)

CANONICAL = ["-localip", "169.254.20.10,10.0.0.10", "-conf", "/etc/Corefile", "-upstreamsvc",
             "kube-dns-upstream", "-pidfile", "/tmp/node-cache.pid"]


def _params(argv: list[str]):  # type: ignore[no-untyped-def]
    fs = build_flagset()
    fs.parse(argv)
    return validate(fs)


def test_defaults_with_only_localip() -> None:
    p = _params(["-localip", "169.254.20.10"])
    assert p.local_ips == ["169.254.20.10"]
    assert p.local_port == "53"
    assert (p.setup_interface, p.setup_iptables, p.skip_teardown, p.reload_with_signal) == (True, True, False, False)
    assert p.interface_name == "nodelocaldns"
    assert p.sync_interval == 60.0
    assert p.metrics_listen_address == "0.0.0.0:9353"
    assert p.prometheus_listen_address == ":9253"
    assert p.base_corefile == "/etc/coredns/Corefile.base"
    assert p.kubedns_cm_path == ""
    assert p.upstream_svc == "kube-dns"
    assert p.health_port == "8080"
    assert p.corefile == "" and p.pidfile == ""


def test_instancedir_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The manifest sets it as an environment variable: an image without the flag still starts.
    assert _params(["-localip", "169.254.20.10"]).instance_dir == ""
    monkeypatch.setenv("PYCOREDNS_INSTANCEDIR", "/run/node-local-dns")
    assert _params(["-localip", "169.254.20.10"]).instance_dir == "/run/node-local-dns"
    assert _params(["-localip", "169.254.20.10", "-instancedir", ""]).instance_dir == ""


def test_canonical_manifest_args() -> None:
    p = _params(CANONICAL)
    assert p.local_ips == ["169.254.20.10", "10.0.0.10"]
    assert p.corefile == "/etc/Corefile"
    assert p.upstream_svc == "kube-dns-upstream"
    assert p.pidfile == "/tmp/node-cache.pid"


@pytest.mark.parametrize(
    "argv, attr, want",
    [
        pytest.param(["-setupinterface=false"], "setup_interface", False, id="bool-equals-false"),
        pytest.param(["--setupiptables=false"], "setup_iptables", False, id="double-dash-bool"),
        pytest.param(["-skipteardown"], "skip_teardown", True, id="bare-bool"),
        pytest.param(["-skipteardown=true"], "skip_teardown", True, id="bool-equals-true"),
        pytest.param(["-reloadwithsignal"], "reload_with_signal", True, id="reloadwithsignal"),
        pytest.param(["-interfacename", "nld0"], "interface_name", "nld0", id="interfacename"),
        pytest.param(["-interfacename=nld1"], "interface_name", "nld1", id="string-equals"),
        pytest.param(["--basecorefile", "/x/Corefile.base"], "base_corefile", "/x/Corefile.base", id="double-dash"),
        pytest.param(["-kubednscm", "/etc/kd"], "kubedns_cm_path", "/etc/kd", id="kubednscm"),
        pytest.param(["-upstreamsvc", "coredns"], "upstream_svc", "coredns", id="upstreamsvc"),
        pytest.param(["-health-port", "9254"], "health_port", "9254", id="health-port"),
        pytest.param(["-metrics-listen-address", "127.0.0.1:1"], "metrics_listen_address", "127.0.0.1:1",
                     id="metrics-listen-address"),
        pytest.param(["-prometheus-listen-address", "10.0.0.1:9253"], "prometheus_listen_address",
                     "10.0.0.1:9253", id="prometheus-listen-address"),
        pytest.param(["-conf", "/etc/Corefile"], "corefile", "/etc/Corefile", id="conf-is-output"),
        pytest.param(["-corefile", "/other", "-conf", "/etc/Corefile"], "corefile", "/etc/Corefile",
                     id="corefile-overwritten-by-conf"),
        pytest.param(["-dns.port", "1053"], "local_port", "1053", id="dns.port"),
        pytest.param(["-p", "2053"], "local_port", "2053", id="p-alias"),
        pytest.param(["-pidfile", "/tmp/p"], "pidfile", "/tmp/p", id="pidfile"),
        pytest.param(["-quiet"], "quiet", True, id="quiet"),
        pytest.param(["-workers", "3"], "workers", 3, id="workers"),
        pytest.param(["-workers=auto"], "workers", 0, id="workers-auto"),
        pytest.param(["-instancedir", "/run/node-local-dns"], "instance_dir", "/run/node-local-dns",
                     id="instancedir"),
        pytest.param(["-syncinterval", "30"], "sync_interval", 30.0, id="syncinterval-bare-int-seconds"),
        pytest.param(["-syncinterval", "30ns"], "sync_interval", 30.0, id="syncinterval-ns-is-seconds"),
        pytest.param(["-syncinterval=2m"], "sync_interval", 120.0, id="syncinterval-go-duration"),
        pytest.param(["-setupebtables"], "setup_iptables", True, id="setupebtables-accepted-ignored"),
        pytest.param(["-skipteardown", "false"], "extra_args", ["false"], id="bool-takes-no-separate-value"),
        pytest.param(["--", "-quiet"], "extra_args", ["-quiet"], id="double-dash-ends-flags"),
    ],
)
def test_each_flag(argv: list[str], attr: str, want: object) -> None:
    p = _params(["-localip", "169.254.20.10", *argv])
    assert getattr(p, attr) == want


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["-nosuchflag"], "flag provided but not defined: -nosuchflag", id="unknown"),
        pytest.param(["-localip"], "flag needs an argument: -localip", id="missing-value"),
        pytest.param(["-skipteardown=maybe"], 'invalid boolean value "maybe" for -skipteardown: parse error',
                     id="bad-bool"),
        pytest.param(["-syncinterval", "soon"], 'invalid value "soon" for flag -syncinterval: parse error',
                     id="bad-syncinterval"),
        pytest.param(["-syncinterval", "0"], 'invalid value "0" for flag -syncinterval: parse error',
                     id="zero-syncinterval"),
        pytest.param(["-dns.port", "x53"], 'invalid value "x53" for flag -dns.port: parse error', id="bad-port"),
    ],
)
def test_flag_syntax_errors(argv: list[str], message: str) -> None:
    fs = build_flagset()
    with pytest.raises(FlagError) as e:
        fs.parse(argv)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "localip, message",
    [
        pytest.param("", 'invalid localip specified - ""', id="empty"),
        pytest.param("169.254.20.10,", 'invalid localip specified - ""', id="trailing-comma-ipvs-sed"),
        pytest.param("169.254.20.10, 10.0.0.10", 'invalid localip specified - " 10.0.0.10"', id="space"),
        pytest.param("nodelocal", 'invalid localip specified - "nodelocal"', id="name"),
        pytest.param("__PILLAR__LOCAL__DNS__", 'invalid localip specified - "__PILLAR__LOCAL__DNS__"',
                     id="unsubstituted-pillar"),
        pytest.param("169.254.20.10,fd00::10", 'unexpected IP Family for localIP - "fd00::10", want IPv6=false',
                     id="mixed-v4-first"),
        pytest.param("fd00::10,169.254.20.10", 'unexpected IP Family for localIP - "169.254.20.10", want IPv6=true',
                     id="mixed-v6-first"),
    ],
)
def test_localip_validation(localip: str, message: str) -> None:
    fs = build_flagset()
    fs.parse(["-localip", localip])
    with pytest.raises(FlagValidationError) as e:
        validate(fs)
    assert str(e.value) == message


def test_health_port_must_be_integer() -> None:
    fs = build_flagset()
    fs.parse(["-localip", "169.254.20.10", "-health-port", "http"])
    with pytest.raises(FlagValidationError) as e:
        validate(fs)
    assert str(e.value) == 'invalid healthcheck port specified - "http"'


def test_ipv6_family() -> None:
    p = _params(["-localip", "fd00::10,fd00::53"])
    assert p.ipv6 and p.local_ips == ["fd00::10", "fd00::53"]


@pytest.mark.parametrize(
    "text, seconds",
    [
        pytest.param("60", 60.0, id="default"),
        pytest.param("1", 1.0, id="one"),
        pytest.param("45ns", 45.0, id="ns-compat"),
        pytest.param("1m30s", 90.0, id="duration"),
        pytest.param("500ms", 0.5, id="sub-second"),
    ],
)
def test_sync_interval_values(text: str, seconds: float) -> None:
    assert parse_sync_interval(text) == seconds


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from pycoredns.nodecache.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)


def test_program_unknown_flag_prints_usage_and_exits_2() -> None:
    r = _run(["-localip", "169.254.20.10", "-bogus"])
    assert r.returncode == 2
    assert "flag provided but not defined: -bogus" in r.stderr
    assert "Usage of /node-cache:" in r.stderr
    assert "Runs CoreDNS v" in r.stderr
    assert "-localip string" in r.stderr


def test_program_invalid_localip_is_fatal_with_node_cache_message() -> None:
    r = _run(["-localip", "169.254.20.10,", "-conf", "/nonexistent/Corefile"])
    assert r.returncode == 1
    assert '[FATAL] Error parsing flags - invalid localip specified - "", Exiting' in r.stderr
    assert "[INFO] Starting node-cache image:" in r.stderr


def test_program_extra_arguments_are_fatal() -> None:
    r = _run(["-localip", "169.254.20.10", "-skipteardown", "false"])
    assert r.returncode == 1
    assert "extra command line arguments: [false]" in r.stderr
