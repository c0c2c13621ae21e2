"""forward's TO arguments: IPs with a scheme and port, resolv.conf-style files, hostnames.

Follows CoreDNS HEAD (plugin/forward/setup.go, resolve.go and plugin/pkg/parse): each argument is
one *entry* (a file or hostname counts once however many addresses it gives; a file without
nameservers is skipped), addresses are de-duplicated on ``ip:port`` (first wins), and every error
reads as CoreDNS's.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import dnslib

from pycoredns.plugin import ConfigError, go_strconv_quote, is_domain_name, split_host_port

DEFAULT_PORTS = {"dns": "53", "tls": "853", "https": "443", "quic": "853", "grpc": "443"}
SCHEMES = ("tls", "dns", "quic", "grpc", "https3", "https", "unix")


class NoNameservers(Exception):
    """no nameservers found"""


@dataclass(frozen=True)
class Upstream:
    """One upstream after expansion: transport, host (no brackets), port and TLS server name."""

    transport: str
    host: str
    port: int
    server_name: str = ""

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def split_transport(text: str) -> tuple[str, str]:
    """``(transport, rest)`` as ``parse.Transport``: the scheme, or ``dns`` when there is none."""
    for scheme in SCHEMES:
        if text.startswith(scheme + "://"):
            return scheme, text[len(scheme) + 3 :]
    return "dns", text


def split_zone(text: str) -> tuple[str, str]:
    """CoreDNS's ``splitZone``: ``tls://1.2.3.4%name:853`` -> (``tls://1.2.3.4:853``, ``name``)."""
    trans, sep, host = text.partition("://")
    if not sep:
        host, trans = trans, ""
    new_host, zone = host, ""
    if "%" in host:
        cut = host.rfind("%")
        new_host, zone = host[:cut], host[cut + 1 :]
        if new_host.startswith("["):
            new_host += "]"
        if ":" in zone:
            colon = zone.rfind(":")
            new_host += zone[colon:]
            zone = zone[:colon].removesuffix("]")
    return (f"{trans}://{new_host}" if trans else new_host), zone


def is_ip(text: str) -> bool:
    """An IP literal (an IPv6 zone is accepted)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _strip_zone(host: str) -> str:
    return host[: host.rfind("%")] if "%" in host else host


def _join(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def read_resolv_conf(path: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf-style file as ``ip:53``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise ConfigError(
            f'failed to open file "{path}": "open {path}: no such file or directory"'
        ) from None
    except OSError as e:
        raise ConfigError(f"read {path}: {(e.strerror or str(e)).lower()}") from None
    servers = []
    for line in lines:
        fields = line.split()
        if len(fields) > 1 and fields[0] == "nameserver":
            servers.append(_join(_strip_zone(fields[1]), "53"))
    return servers


class NotIPOrFile(Exception):
    """The argument is neither an IP address nor a readable file."""


def host_port_or_file(text: str) -> list[str]:
    """``parse.HostPortOrFile`` for one argument: addresses with their scheme, or a file's."""
    trans, host = split_transport(text)
    if not host:
        raise ConfigError(f"invalid address: {go_strconv_quote(text)}")
    if trans == "unix":
        return [f"unix://{host}"]
    try:
        addr, _port = split_host_port(host)
    except ValueError:
        bare = host.strip("[]")
        if not is_ip(_strip_zone(bare)):
            return _file(bare)
        if trans == "dns":
            return [_join(bare, "53")]
        if trans in DEFAULT_PORTS:
            return [f"{trans}://" + _join(bare, DEFAULT_PORTS[trans])]
        return [""]  # https3 has no default port in CoreDNS: rejected later as a transport
    if not is_ip(_strip_zone(addr)):
        return _file(host)
    return [text]


def _file(path: str) -> list[str]:
    try:
        servers = read_resolv_conf(path)
    except ConfigError as e:
        raise NotIPOrFile(f"not an IP address or file {go_strconv_quote(path)}: {e}") from None
    if not servers:
        raise NoNameservers()
    return servers


@dataclass(frozen=True)
class HostEntry:
    hostname: str
    port: str
    transport: str
    zone: str


def host_entry(text: str) -> HostEntry | None:
    """A TO that names a host to resolve (CoreDNS's ``parseAsHostEntry``), or None."""
    clean, zone = split_zone(text)
    trans, host = split_transport(clean)
    if trans not in ("dns", "tls", "https"):
        return None
    hostname, port = host, DEFAULT_PORTS[trans]
    try:
        hostname, port = split_host_port(host)
    except ValueError:
        pass
    hostname = hostname.strip("[]")
    if not hostname or not is_domain_name(hostname) or is_ip(hostname):
        return None
    return HostEntry(hostname, port, trans, zone)


def resolve(entry: HostEntry, resolvers: list[str]) -> list[str]:
    """The entry's addresses, formatted as TO arguments (CoreDNS's ``formatResolvedAddr``)."""
    try:
        ips = _lookup(entry.hostname, resolvers)
    except OSError as e:
        raise ConfigError(f"failed to resolve {go_strconv_quote(entry.hostname)}: {e}") from None
    out = []
    for ip in ips:
        if entry.transport in ("tls", "https") and entry.zone:
            host = f"[{ip}%{entry.zone}]" if ":" in ip else f"{ip}%{entry.zone}"
            out.append(f"{entry.transport}://{host}:{entry.port}")
        elif entry.transport in ("tls", "https"):
            out.append(f"{entry.transport}://{_join(ip, entry.port)}")
        else:
            out.append(_join(ip, entry.port))
    return out


def _lookup(hostname: str, resolvers: list[str]) -> list[str]:
    if not resolvers:
        try:
            infos = socket.getaddrinfo(hostname, None, proto=socket.IPPROTO_UDP)
        except socket.gaierror as e:
            raise OSError(f"lookup {hostname}: {e.strerror}") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not found:
            raise OSError(f"no addresses found for {go_strconv_quote(hostname)}")
        return found
    last: OSError | None = None
    for resolver in resolvers:
        try:
            host, port = split_host_port(resolver)
        except ValueError:
            host, port = resolver, "53"
        ips: list[str] = []
        for qtype in ("A", "AAAA"):
            try:
                ips.extend(_ask(hostname, qtype, host.strip("[]"), int(port)))
            except OSError as e:
                if not ips:
                    last = e
                break
        if ips:
            return ips
    if last is not None:
        raise OSError(f"no addresses found for {go_strconv_quote(hostname)}: {last}")
    raise OSError(f"no addresses found for {go_strconv_quote(hostname)}")


def _ask(hostname: str, qtype: str, host: str, port: int) -> list[str]:
    """One blocking UDP question to a configured resolver (setup time only, 2 s timeout)."""
    q = dnslib.DNSRecord.question(hostname.rstrip(".") + ".", qtype)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.connect((host, port))
        s.send(q.pack())
        while True:
            try:
                data = s.recv(65535)
            except TimeoutError:
                raise OSError(f"read udp {host}:{port}: i/o timeout") from None
            try:
                r = dnslib.DNSRecord.parse(data)
            except dnslib.DNSError:
                continue
            if r.header.id == q.header.id:
                break
    want = dnslib.QTYPE.A if qtype == "A" else dnslib.QTYPE.AAAA
    return [str(rr.rdata) for rr in r.rr if rr.rtype == want]


def expand(args: list[str], resolvers: list[str]) -> tuple[int, list[str]]:
    """(number of TO entries, de-duplicated addresses) for the TO arguments."""
    entries: list[list[str] | HostEntry] = []
    for arg in args:
        try:
            entries.append(host_port_or_file(arg))
            continue
        except NoNameservers:
            continue  # an empty file is skipped
        except NotIPOrFile:
            pass
        entry = host_entry(arg)
        if entry is None:
            raise ConfigError(f"not an IP address, file, or valid domain: {go_strconv_quote(arg)}")
        entries.append(entry)
    seen: set[str] = set()
    result: list[str] = []
    for e in entries:
        addrs = resolve(e, resolvers) if isinstance(e, HostEntry) else e
        for addr in addrs:
            key = split_transport(split_zone(addr)[0])[1]
            if key not in seen:
                seen.add(key)
                result.append(addr)
    return len(entries), result


def to_upstream(addr: str) -> Upstream:
    """An expanded address as an upstream; unsupported transports get CoreDNS's error."""
    host, server_name = split_zone(addr)
    trans, hostport = split_transport(host)
    if trans not in ("dns", "tls", "https"):
        raise ConfigError(f"'{trans}' is not supported as a destination protocol in forward: {host}")
    try:
        h, port = split_host_port(hostport)
    except ValueError:
        h, port = hostport.strip("[]"), DEFAULT_PORTS[trans]
    return Upstream(trans, _strip_zone(h), int(port or DEFAULT_PORTS[trans]),
                    server_name if trans == "tls" else "")
