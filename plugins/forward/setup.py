"""Parse ``forward FROM TO... { options }``: every stanza of a block, chained in file order.

Options, defaults and error texts are CoreDNS HEAD's (plugin/forward/setup.go). Errors CoreDNS
builds with ``c.ArgErr``/``c.Errf`` carry the position; the ones it builds with ``fmt.Errorf`` or
returns from a parser do not, so they are raised here as ``ConfigError`` (the cursor's value
helpers with ``plain=True``).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from pycoredns.plugin import (
    ConfigError,
    Controller,
    Handler,
    dns,
    go_duration,
    go_strconv_quote,
    is_domain_name,
    normalize_name,
    normalize_zone,
    split_host_port,
)
from pycoredns.plugins.forward import addresses
from pycoredns.plugins.forward.handler import Forward, Options
from pycoredns.plugins.forward.health import HealthChecker
from pycoredns.plugins.forward.metrics import register
from pycoredns.plugins.forward.policy import POLICIES, Policy, RandomPolicy
from pycoredns.plugins.forward.proxy import Proxy

MAX_UPSTREAMS = 15
log = logging.getLogger("pycoredns.forward")


@dataclass
class Stanza:
    """One ``forward`` line and its block, parsed."""

    opts: Options = field(default_factory=Options)
    to: list[str] = field(default_factory=list)
    entries: int = 0
    upstreams: list[addresses.Upstream] = field(default_factory=list)
    policy: Policy = field(default_factory=RandomPolicy)
    expire: float = 10.0
    max_age: float = 0.0
    max_idle_conns: int = 0
    read_timeout: float = 2.0
    tls: ssl.SSLContext | None = None
    tls_paths: list[str] = field(default_factory=list)
    tls_server_name: str = ""
    doh_method: str = "POST"
    hc_recursion_desired: bool = True
    hc_domain: str = "."
    resolvers: list[str] = field(default_factory=list)
    source_address: str | None = None


def setup(c: Controller) -> None:
    stanzas = []
    while c.next():
        stanzas.append(parse_stanza(c))
    for s in stanzas:
        if s.entries > MAX_UPSTREAMS:
            raise ConfigError(f"more than {MAX_UPSTREAMS} TOs configured: {s.entries}")
    register(c)
    c.accept_any_class()  # forward answers any class, as CoreDNS's server.go lets it
    for s in stanzas:
        fwd = build(s)
        # Added in file order, so each forward's next is the following one (CoreDNS chains them).
        c.add_plugin(functools.partial(_attach, fwd))
        c.on_startup(fwd.start)
        c.on_shutdown(fwd.stop)


def _attach(fwd: Forward, next: Handler | None) -> Forward:
    fwd.next = next
    return fwd


def parse_stanza(c: Controller) -> Stanza:
    s = Stanza()
    origin = c.one_arg()
    zones = normalize_zone(origin)
    if not zones:
        raise ConfigError(f"unable to normalize '{origin}'")
    s.opts.from_zone = zones[0]  # only the first zone of a CIDR expansion is used, as CoreDNS
    if len(zones) > 1:
        log.warning("[WARNING] plugin/forward: Unsupported CIDR notation: '%s' expands to multiple zones. "
                    "Using only '%s'.", origin, zones[0])
    s.to = c.remaining_args(at_least=1)
    while c.next_block():
        parse_option(c, s)
    if s.max_age > 0 and s.max_age < s.expire:
        raise ConfigError(f"max_age ({go_duration(s.max_age)}) must not be less than expire "
                          f"({go_duration(s.expire)})")
    for arg in s.to:
        trans, host = addresses.split_transport(arg)
        if trans == "https" and "/" in host:
            raise ConfigError("paths are not allowed in HTTPS upstream addresses (the /dns-query path is "
                              f"used by default): {arg}")
    s.entries, expanded = addresses.expand(s.to, s.resolvers)
    if not expanded:
        raise ConfigError("no valid upstream addresses found")
    for addr in expanded:
        up = addresses.to_upstream(addr)
        if up.transport == "tls" and up.server_name and s.tls_server_name:
            host = addresses.split_zone(addr)[0]
            raise ConfigError(f"both forward ('{s.tls_server_name}') and proxy level ('{up.server_name}') "
                              f"TLS servernames are set for upstream proxy '{host}'")
        s.upstreams.append(up)
    return s


def _rcodes(c: Controller, *, failover: bool) -> frozenset[int]:
    out = set()
    for text in c.remaining_args(at_least=1):
        rc = dns.RCODES.get(text.upper())  # dns.StringToRcode[strings.ToUpper(text)]
        if rc is None:
            raise ConfigError(f"{text} is not a valid rcode")
        if failover and rc == 0:
            raise ConfigError("NoError cannot be used in failover")
        out.add(rc)
    return frozenset(out)


# -- options: one function each, as CoreDNS's parseBlock cases ------------------------------------
def _except(c: Controller, s: Stanza) -> None:
    for name in c.remaining_args(at_least=1):
        s.opts.ignored.extend(normalize_zone(name))


def _max_fails(c: Controller, s: Stanza) -> None:
    s.opts.max_fails = c.unsigned(c.one_arg(), bits=32, plain=True)


def _max_connect_attempts(c: Controller, s: Stanza) -> None:
    s.opts.max_connect_attempts = c.unsigned(c.one_arg(), bits=32, plain=True)


def _health_check(c: Controller, s: Stanza) -> None:
    interval = c.duration(c.one_arg(), plain=True)
    if interval < 0:
        raise ConfigError(f"health_check can't be negative: {round(interval * 1e9)}")
    s.opts.hc_interval = interval
    s.hc_domain = "."
    while c.next_arg():
        word = c.val()
        if word == "no_rec":
            s.hc_recursion_desired = False
        elif word == "domain":
            domain = c.one_arg()
            if not is_domain_name(domain):
                raise ConfigError(f"health_check: invalid domain name {domain}")
            s.hc_domain = normalize_name(domain)
        else:
            raise ConfigError(f"health_check: unknown option {word}")


def _force_tcp(c: Controller, s: Stanza) -> None:
    c.no_args()
    s.opts.force_tcp = True


def _prefer_udp(c: Controller, s: Stanza) -> None:
    c.no_args()
    s.opts.prefer_udp = True


def _tls(c: Controller, s: Stanza) -> None:
    s.tls_paths = [c.root_path(a) for a in c.remaining_args(at_most=3)]
    s.tls = tls_context(s.tls_paths)


def _tls_servername(c: Controller, s: Stanza) -> None:
    s.tls_server_name = c.one_arg()


def _not_negative(c: Controller, option: str) -> float:
    value = c.duration(c.one_arg(), plain=True)
    if value < 0:
        raise ConfigError(f"{option} can't be negative: {go_duration(value)}")
    return value


def _expire(c: Controller, s: Stanza) -> None:
    s.expire = _not_negative(c, "expire")


def _max_age(c: Controller, s: Stanza) -> None:
    s.max_age = _not_negative(c, "max_age")


def _max_idle_conns(c: Controller, s: Stanza) -> None:
    n = c.integer(c.one_arg(), plain=True)
    if n < 0:
        raise ConfigError(f"max_idle_conns can't be negative: {n}")
    s.max_idle_conns = n


def _read_timeout(c: Controller, s: Stanza) -> None:
    value = c.duration(c.one_arg(), plain=True)
    if value <= 0:
        raise ConfigError(f"read_timeout must be positive: {go_duration(value)}")
    s.read_timeout = value


def _doh_method(c: Controller, s: Stanza) -> None:
    method = c.one_arg()
    if method not in ("POST", "GET"):
        raise ConfigError("doh_method must be either POST or GET")
    s.doh_method = method


def _policy(c: Controller, s: Stanza) -> None:
    name = c.one_arg()
    policy = POLICIES.get(name)
    if policy is None:
        raise c.errf("unknown policy '%s'", name)
    s.policy = policy()


def _max_concurrent(c: Controller, s: Stanza) -> None:
    text = c.one_arg()
    n = c.integer(text, plain=True)
    if n < 0:
        raise ConfigError(f"max_concurrent can't be negative: {n}")
    s.opts.max_concurrent = n
    s.opts.limit_message = "concurrent queries exceeded maximum " + text


def _next(c: Controller, s: Stanza) -> None:
    s.opts.next_rcodes = s.opts.next_rcodes | _rcodes(c, failover=False)


def _next_on_nodata(c: Controller, s: Stanza) -> None:
    c.no_args()
    s.opts.next_on_nodata = True


def _failfast(c: Controller, s: Stanza) -> None:
    c.remaining_args(at_most=0)
    s.opts.failfast = True


def _failover(c: Controller, s: Stanza) -> None:
    s.opts.failover_rcodes = s.opts.failover_rcodes | _rcodes(c, failover=True)


def _resolver(c: Controller, s: Stanza) -> None:
    args = c.remaining_args(at_least=1)
    for arg in args:
        host = arg
        try:
            host = split_host_port(arg)[0]
        except ValueError:
            pass
        if not addresses.is_ip(host):
            raise ConfigError(f"resolver must be an IP address or IP:port: {go_strconv_quote(arg)}")
    s.resolvers = args


def _source_address(c: Controller, s: Stanza) -> None:
    addr = c.one_arg()
    if not addresses.is_ip(addr):
        raise c.errf("invalid IP address: %s", addr)
    s.source_address = str(ipaddress.ip_address(addr))


_OPTIONS: dict[str, Callable[[Controller, Stanza], None]] = {
    "except": _except,
    "max_fails": _max_fails,
    "max_connect_attempts": _max_connect_attempts,
    "health_check": _health_check,
    "force_tcp": _force_tcp,
    "prefer_udp": _prefer_udp,
    "tls": _tls,
    "tls_servername": _tls_servername,
    "expire": _expire,
    "max_age": _max_age,
    "max_idle_conns": _max_idle_conns,
    "read_timeout": _read_timeout,
    "doh_method": _doh_method,
    "policy": _policy,
    "max_concurrent": _max_concurrent,
    "next": _next,
    "next_on_nodata": _next_on_nodata,
    "failfast_all_unhealthy_upstreams": _failfast,
    "failover": _failover,
    "resolver": _resolver,
    "source_address": _source_address,
}


def parse_option(c: Controller, s: Stanza) -> None:
    option = _OPTIONS.get(c.val())
    if option is None:
        raise c.unknown_property()
    option(c, s)


def tls_context(paths: list[str]) -> ssl.SSLContext:
    """CoreDNS's ``NewTLSConfigFromArgs`` for a client: [CA] or CERT KEY [CA], TLS 1.2 at least.

    Relative paths were resolved against the block's root by the caller."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ca = paths[0] if len(paths) == 1 else (paths[2] if len(paths) == 3 else "")
    if len(paths) >= 2:
        try:
            ctx.load_cert_chain(paths[0], paths[1])
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"could not load TLS cert: {e}") from None
    if ca:
        try:
            with open(ca, "rb") as f:
                pem = f.read()
        except OSError as e:
            raise ConfigError(f"error reading {ca}: {e.strerror or e}") from None
        try:
            ctx.load_verify_locations(cadata=pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError):
            raise ConfigError("could not read root certs: %!s(<nil>)") from None
    else:
        ctx.load_default_certs()
    return ctx


def build(s: Stanza) -> Forward:
    """The handler and its upstreams for one parsed stanza."""
    base_tls = s.tls
    if base_tls is None and any(u.transport == "tls" for u in s.upstreams):
        base_tls = tls_context([])  # no ``tls`` option: the system's roots
    proxies: list[Proxy] = []
    for up in s.upstreams:
        if up.transport == "https":
            proxies.append(_doh_proxy(s, up))
            continue
        tls = base_tls if up.transport == "tls" else None
        server_name = (s.tls_server_name or up.server_name or None) if tls is not None else None
        if tls is not None:
            proto = "tcp-tls"
        else:
            proto = "tcp" if s.opts.force_tcp else "udp"
        health = HealthChecker(
            (up.host, up.port), proto, recursion_desired=s.hc_recursion_desired, domain=s.hc_domain,
            ssl_context=tls, server_name=server_name, local=s.source_address,
        )
        proxies.append(Proxy(
            up.host, up.port, tls=tls, server_name=server_name, expire=s.expire, max_age=s.max_age,
            max_idle_conns=s.max_idle_conns, read_timeout=s.read_timeout, local=s.source_address,
            health=health,
        ))
    return Forward(None, s.opts, proxies, s.policy)


def _doh_proxy(s: Stanza, up: addresses.Upstream) -> Proxy:
    """An https:// upstream. Its TLS context is its own (built from the same ``tls`` arguments):
    DoH offers h2 in ALPN, which a DNS-over-TLS upstream must not be offered."""
    from pycoredns.plugins.forward import doh

    ctx = doh.doh_context(tls_context(s.tls_paths))
    server_name = s.tls_server_name or None
    health = doh.DoHHealthChecker((up.host, up.port), ssl_context=ctx, server_name=server_name,
                                  recursion_desired=s.hc_recursion_desired, domain=s.hc_domain,
                                  local=s.source_address)
    return doh.DoHProxy(up.host, up.port, tls=ctx, server_name=server_name, method=s.doh_method,
                        max_idle_conns=s.max_idle_conns, local=s.source_address, health=health)
