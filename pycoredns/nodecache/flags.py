"""node-cache's command line: its own flags and CoreDNS's in one Go-style flag set, then validation.

node-cache registers its flags in the same global ``flag`` set CoreDNS uses, so one command line
carries both (``-localip ... -conf /etc/Corefile -pidfile ...``). Syntax errors and unknown flags
are the flag package's (usage, exit 2); the checks node-cache makes afterwards are fatal errors
with its own messages (``Error parsing flags - <reason>, Exiting``, exit 1).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from dataclasses import dataclass, field
from typing import TextIO

from pycoredns import COREDNS_VERSION
from pycoredns.cli import coredns_flags, instance_flags
from pycoredns.corefile import parse_duration
from pycoredns.goflags import FlagSet

DEFAULT_BASE_COREFILE = "/etc/coredns/Corefile.base"
DEFAULT_METRICS_ADDRESS = "0.0.0.0:9353"
DEFAULT_PROMETHEUS_ADDRESS = ":9253"
_BARE_INT = re.compile(r"[0-9]+")


class FlagValidationError(ValueError):
    """A flag value node-cache rejects after parsing (fatal, exit 1)."""


def parse_sync_interval(text: str) -> float:
    """Seconds between network checks.

    node-cache declares the flag as a Go duration and multiplies it by one second, so its default
    ``60`` (60ns) means 60 s and users had to write ``30ns`` for 30 s. We accept a bare integer as
    seconds, keep ``Nns`` meaning N seconds for command lines written for node-cache, and read any
    other Go duration (``30s``, ``1m``) as what it says.
    """
    if _BARE_INT.fullmatch(text):
        seconds = float(int(text))
    elif text.endswith("ns") and _BARE_INT.fullmatch(text[:-2]):
        seconds = float(int(text[:-2]))
    else:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise ValueError("parse error") from None
    if seconds <= 0:
        raise ValueError("parse error")
    return seconds


class NodeCacheFlagSet(FlagSet):
    """A FlagSet whose usage text is node-cache's (it names the CoreDNS version it runs)."""

    def usage(self, out: TextIO | None = None) -> None:
        out = out or sys.stderr
        print(f"Usage of {self.program}:", file=out)
        print(f"Runs CoreDNS v{COREDNS_VERSION} as a nodelocal cache listening on the specified ip:port\n", file=out)
        for name in sorted(self.flags):
            f = self.flags[name]
            kind = "" if f.kind == "bool" else (" string" if f.kind == "string" else " value")
            print(f"  -{name}{kind}", file=out)
            default = "" if f.default in ("", False, None) else f" (default {_go_default(f.default)})"
            print(f"    \t{f.usage}{default}", file=out)


def _go_default(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_flagset(program: str = "/node-cache") -> NodeCacheFlagSet:
    fs = NodeCacheFlagSet(program)
    fs.string("localip", "", "comma-separated string of ip addresses to bind dnscache to")
    fs.bool("setupinterface", True, "indicates whether network interface should be setup")
    fs.string("interfacename", "nodelocaldns", "name of the interface to be created")
    fs.value("syncinterval", 60.0, "interval(in seconds) to check for iptables rules", parse_sync_interval)
    fs.string("metrics-listen-address", DEFAULT_METRICS_ADDRESS, "address to serve metrics on")
    fs.string(
        "prometheus-listen-address",
        DEFAULT_PROMETHEUS_ADDRESS,
        "address substituted for __PROMETHEUS__ENDPOINT__ in the Corefile template",
    )
    fs.bool("setupiptables", True, "indicates whether iptables rules should be setup")
    fs.string("basecorefile", DEFAULT_BASE_COREFILE, "Path to the template Corefile for node-cache")
    # Dead in node-cache: always overwritten by -conf. Kept so existing command lines parse.
    fs.string("corefile", "/etc/Corefile", "Path to the Corefile to be used by node-cache")
    fs.string("kubednscm", "", "Path where the kube-dns configmap will be mounted")
    fs.string("upstreamsvc", "kube-dns", "Service name whose cluster IP is upstream for node-cache")
    fs.string("health-port", "8080", "port used by health plugin")
    fs.bool("skipteardown", False, "indicates whether iptables rules should be torn down on exit")
    fs.bool("reloadwithsignal", False, "use SIGUSR1 on self to reload CoreDNS")
    # Removed from node-cache in 1.19.0; accepted and ignored so old manifests still start.
    fs.bool("setupebtables", False, "ignored (removed from node-cache)")
    coredns_flags(fs)
    instance_flags(fs)
    return fs


@dataclass
class NodeCacheParams:
    """What node-cache takes from its command line, validated."""

    local_ip_str: str
    local_ips: list[str]
    local_port: str
    setup_interface: bool = True
    interface_name: str = "nodelocaldns"
    sync_interval: float = 60.0
    metrics_listen_address: str = DEFAULT_METRICS_ADDRESS
    prometheus_listen_address: str = DEFAULT_PROMETHEUS_ADDRESS
    setup_iptables: bool = True
    base_corefile: str = DEFAULT_BASE_COREFILE
    corefile: str = ""
    kubedns_cm_path: str = ""
    upstream_svc: str = "kube-dns"
    health_port: str = "8080"
    skip_teardown: bool = False
    reload_with_signal: bool = False
    pidfile: str = ""
    quiet: bool = False
    workers: int = 1  # 0: auto
    instance_dir: str = ""  # -instancedir: the host folder the instances on the node share
    extra_args: list[str] = field(default_factory=list)

    @property
    def ipv6(self) -> bool:
        return bool(self.local_ips) and ":" in self.local_ips[0]


def go_parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP as Go's ``net.ParseIP`` accepts it (no zone, no surrounding spaces), or None."""
    if not text or "%" in text or text.strip() != text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _go_atoi(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?[0-9]+", text))


def validate(fs: FlagSet) -> NodeCacheParams:
    """node-cache's checks after parsing, in its order; raises FlagValidationError with its text."""
    local_ip_str = fs["localip"]
    ips: list[str] = []
    parsed = []
    for item in local_ip_str.split(","):
        ip = go_parse_ip(item)
        if ip is None:
            raise FlagValidationError(f'invalid localip specified - "{item}"')
        ips.append(item)
        parsed.append(ip)
    want_v6 = parsed[0].version == 6
    for ip in parsed:
        if (ip.version == 6) != want_v6:
            raise FlagValidationError(
                f'unexpected IP Family for localIP - "{ip}", want IPv6={"true" if want_v6 else "false"}'
            )
    port = fs["dns.port"]
    if not _go_atoi(port):
        raise FlagValidationError(f'invalid port specified - "{port}"')
    health = fs["health-port"]
    if not _go_atoi(health):
        raise FlagValidationError(f'invalid healthcheck port specified - "{health}"')
    return NodeCacheParams(
        local_ip_str=local_ip_str,
        local_ips=ips,
        local_port=port,
        setup_interface=fs["setupinterface"],
        interface_name=fs["interfacename"],
        sync_interval=fs["syncinterval"],
        metrics_listen_address=fs["metrics-listen-address"],
        prometheus_listen_address=fs["prometheus-listen-address"],
        setup_iptables=fs["setupiptables"],
        base_corefile=fs["basecorefile"],
        # node-cache overwrites its -corefile with CoreDNS's -conf: the file it writes is the one served.
        corefile=fs["conf"],
        kubedns_cm_path=fs["kubednscm"],
        upstream_svc=fs["upstreamsvc"],
        health_port=health,
        skip_teardown=fs["skipteardown"],
        reload_with_signal=fs["reloadwithsignal"],
        pidfile=fs["pidfile"],
        quiet=fs["quiet"],
        workers=fs["workers"],
        instance_dir=fs["instancedir"],
        extra_args=list(fs.args),
    )
