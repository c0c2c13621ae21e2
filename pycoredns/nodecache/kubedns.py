"""The kube-dns ConfigMap as node-cache reads it: a mounted folder of JSON values, validated.

kubelet mounts a ConfigMap as one file per key (plus hidden ``..data`` links for atomic
updates). A folder's *version* is a SHA-256 over the visible files' names and contents, so a
poller can tell a change without comparing contents. Validation has two layers, as in
kubernetes/dns: the kube-dns rules (DNS-1123 domains, at most three upstreams, IP[:port]) and
node-cache's own check that every nameserver is something the forward plugin can dial.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pycoredns.nodecache.flags import go_parse_ip

DEFAULT_KUBEDNS_CM_PATH = "/etc/kube-dns"
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)


class ConfigMapError(ValueError):
    """A ConfigMap folder could not be read, or its content is not a valid kube-dns config."""


@dataclass(frozen=True)
class DirSnapshot:
    """The visible files of a ConfigMap folder and a version string ("" when empty)."""

    version: str
    data: dict[str, str]


@dataclass
class KubeDNSConfig:
    """stubDomains, upstreamNameservers and federations (the last only validated, never used)."""

    stub_domains: dict[str, list[str]] = field(default_factory=dict)
    upstream_nameservers: list[str] = field(default_factory=list)
    federations: dict[str, str] = field(default_factory=dict)


def read_dir(path: str) -> DirSnapshot:
    """Read a ConfigMap folder: non-recursive, hidden names skipped, symlinks followed, UTF-8 only."""
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise ConfigMapError(f'config path "{path}" is not a directory')
        raise ConfigMapError(f"lstat {path}: no such file or directory")
    hasher = hashlib.sha256()
    data: dict[str, str] = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full) or name.startswith("."):
            continue
        try:
            with open(full, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise ConfigMapError(f"open {full}: {(e.strerror or str(e)).lower()}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigMapError(f"non-utf8 data in {full}") from None
        hasher.update(name.encode() + b"\0" + raw + b"\0")
        data[name] = text
    return DirSnapshot(hasher.hexdigest() if data else "", data)


def _is_subdomain(name: str) -> bool:
    return len(name) <= 253 and _DNS1123_SUBDOMAIN.fullmatch(name) is not None


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def parse_config(data: dict[str, str]) -> KubeDNSConfig:
    """The kube-dns config in a folder's files; raises ConfigMapError as kube-dns rejects it."""
    cfg = KubeDNSConfig()
    if "federations" in data:
        cfg.federations = _parse_federations(data["federations"])
    if "stubDomains" in data:
        value = _json(data["stubDomains"])
        if value is None:
            value = {}
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) or v is None for v in value.values()
        ):
            raise ConfigMapError(f'Invalid configuration for stubDomains, ignoring update: invalid JSON {value!r}')
        cfg.stub_domains = {str(k): list(v or []) for k, v in value.items()}
    if "upstreamNameservers" in data:
        value = _json(data["upstreamNameservers"])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise ConfigMapError(
                f"Invalid configuration for upstreamNameservers, ignoring update: invalid JSON {value!r}"
            )
        cfg.upstream_nameservers = list(value)
    _validate(cfg)
    return cfg


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigMapError(f'Invalid JSON "{text}": {e}') from None


def _parse_federations(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text.strip():
        return out
    for item in text.split(","):
        name, sep, domain = item.strip().partition("=")
        if not sep:
            raise ConfigMapError("invalid format, must be key=value")
        name, domain = name.strip(), domain.strip()
        if len(name) > 63 or not _DNS1123_LABEL_RE.fullmatch(name):
            raise ConfigMapError(f'"{name}" not a valid federation name')
        if not _is_subdomain(domain):
            raise ConfigMapError(f'"{domain}" not a valid domain name')
        out[name] = domain
    return out


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort, None on error."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            return None
        host, port = text[1:end], text[end + 2 :]
        if "]" in port or "[" in port:
            return None
        return host, port
    if text.count(":") != 1:
        return None
    host, port = text.split(":")
    return host, port


def _validate(cfg: KubeDNSConfig) -> None:
    """kube-dns's Validate: domain names, nameserver syntax, at most three upstreams."""
    for domain, servers in cfg.stub_domains.items():
        if not _is_subdomain(domain):
            raise ConfigMapError(f'invalid domain name: "{domain}"')
        for ns in servers:
            split = _split_host_port(ns)
            host, port = split if split else (ns, "")
            if port and not (port.isdigit() and int(port) < 65536):
                raise ConfigMapError(f'invalid nameserver: "{ns}"')
            if go_parse_ip(host) is None and not _is_subdomain(ns):
                raise ConfigMapError(f'invalid nameserver: "{ns}"')
    if len(cfg.upstream_nameservers) > 3:
        raise ConfigMapError("upstreamNameserver cannot have more than three entries")
    for ns in cfg.upstream_nameservers:
        if go_parse_ip(ns) is not None:
            continue
        split = _split_host_port(ns)
        if split is None:
            raise ConfigMapError(f"address {ns}: missing port in address")
        host, port = split
        if go_parse_ip(host) is None:
            raise ConfigMapError(f'bad IP address: "{host}"')
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ConfigMapError(f'bad port number: "{port}"')


def validate_for_node_cache(cfg: KubeDNSConfig) -> None:
    """node-cache's check that every nameserver is a forward target (IP, IP:port, file; dns or tls)."""
    for domain, servers in cfg.stub_domains.items():
        reason = _forward_targets_error(servers)
        if reason:
            raise ConfigMapError(f"invalid nameservers {_go_list(servers)} for the stub domain {domain}: {reason}")
    reason = _forward_targets_error(cfg.upstream_nameservers)
    if reason:
        raise ConfigMapError(f"invalid upstream nameservers {_go_list(cfg.upstream_nameservers)}: {reason}")


_TRANSPORTS = ("tls", "dns", "quic", "grpc", "https3", "https", "unix")


def _forward_targets_error(servers: list[str]) -> str:
    """Why the forward plugin could not use ``servers`` ("" when it could)."""
    for raw in servers:
        transport, host = "dns", raw
        for t in _TRANSPORTS:
            if raw.startswith(f"{t}://"):
                transport, host = t, raw[len(t) + 3 :]
                break
        if not host:
            return f'invalid address: "{raw}"'
        if transport not in ("dns", "tls"):
            return f"unsupported transport {transport} of nameserver {raw}"
        split = _split_host_port(host)
        addr = split[0] if split else host.strip("[]")
        if go_parse_ip(addr.split("%")[0]) is not None:
            continue
        if os.path.isfile(host):
            continue
        return f'not an IP address or file "{host}": failed to open file "{host}"'
    return ""
