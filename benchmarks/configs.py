"""What the benchmark feeds its servers: query files, Corefiles, unbound.conf and dnsmasq flags.

Everything here is pure text generation (no processes, no sockets), so the smoke test can check
it in milliseconds.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from pathlib import Path

BENCH_DOMAIN = "bench.test"
BENCH_ADDRESS = "192.0.2.1"  # what the upstreams answer for every name under BENCH_DOMAIN
UPSTREAM_TTL = 3600
LOOPBACK = "127.0.0.1"


def hit_names(count: int = 100) -> list[str]:
    """A small fixed set of names: after one warm-up pass every query for them is a cache hit."""
    return [f"host{i}.{BENCH_DOMAIN}" for i in range(count)]


def unique_names(count: int, seed: int) -> list[str]:
    """``count`` distinct random names under the bench domain, each to be queried once (misses)."""
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + string.digits
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choices(alphabet, k=14)) + "." + BENCH_DOMAIN
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def query_file_text(names: Iterable[str], qtype: str = "A") -> str:
    """dnsperf's input format: one ``name type`` per line."""
    return "".join(f"{name} {qtype}\n" for name in names)


def write_query_file(path: Path, names: Iterable[str], qtype: str = "A") -> Path:
    path.write_text(query_file_text(names, qtype))
    return path


def read_query_file(path: Path) -> list[tuple[str, str]]:
    """The (name, type) pairs of a dnsperf query file; blank lines and comments skipped."""
    pairs = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            pairs.append((fields[0], fields[1] if len(fields) > 1 else "A"))
    return pairs


# ------------------------------------------------------------------------------------------------
def upstream_argv(python: str, script: str, port: int) -> list[str]:
    """The shared upstream (benchmarks/upstream.py): every name under the bench domain gets
    ``BENCH_ADDRESS`` with ``UPSTREAM_TTL``, over UDP and over TCP (several queries in flight on
    one connection answered as they come, as CoreDNS and unbound do). Loopback only."""
    return [python, script, str(port), str(UPSTREAM_TTL)]


def upstream_dnsmasq_args(port: int) -> list[str]:
    """dnsmasq as an upstream answering every name under the bench domain, nothing else (the
    reliability commands' upstream, which adds its own ``--address`` lines).

    No cache of its own (cache-size=0) and no resolv.conf, so it never sends anything off the host.
    dnsmasq answers ``address=`` names with --local-ttl, 0 by default; a zero TTL is never cached.
    """
    return [
        *_dnsmasq_common(port),
        "--cache-size=0",
        f"--local-ttl={UPSTREAM_TTL}",
        f"--address=/{BENCH_DOMAIN}/{BENCH_ADDRESS}",
        "--dns-forward-max=10000",
    ]


def _dnsmasq_common(port: int) -> list[str]:
    """Foreground, no config file, no resolv.conf or hosts, bound to loopback only."""
    return [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--pid-file",
        "--user=root",
        "--log-facility=-",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        f"--listen-address={LOOPBACK}",
        f"--port={port}",
    ]


def dnsmasq_cache_args(port: int, upstream_port: int, cache_size: int = 10000) -> list[str]:
    """dnsmasq under test: a caching forwarder to the upstream."""
    return [
        *_dnsmasq_common(port),
        f"--cache-size={cache_size}",
        f"--server={LOOPBACK}#{upstream_port}",
        "--dns-forward-max=10000",
    ]


def unbound_conf(port: int, upstream_port: int, workdir: Path, *, tcp_upstream: bool = False) -> str:
    """unbound under test: one thread, a caching forwarder for everything to the upstream.

    ``test.`` is one of unbound's built-in local zones (RFC 6761), so it is switched off; the
    validator is left out of the modules (no trust anchor, nothing to validate on a test domain).
    ``tcp_upstream`` asks the upstream over TCP only (``tcp-upstream: yes``), as node-local-dns's
    ``force_tcp`` does.
    """
    tcp = "    tcp-upstream: yes\n" if tcp_upstream else ""
    return f"""server:
{tcp}
    interface: {LOOPBACK}
    port: {port}
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{workdir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    prefetch: no
    minimal-responses: yes
    msg-cache-size: 64m
    rrset-cache-size: 128m
    local-zone: "test." nodefault
    domain-insecure: "test."
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: {LOOPBACK}@{upstream_port}
"""


def corefile(
    port: int,
    upstream_port: int | None,
    *,
    cache_capacity: int | None = None,
    cache: bool = True,
    bind: bool = True,
    prometheus_port: int | None = None,
    errors: bool = False,
    force_tcp: bool = False,
) -> str:
    """A one-block Corefile for pycoredns on loopback.

    ``cache_capacity`` raises both success and denial capacities (CoreDNS's default is 9984 each),
    for the memory scenario.
    """
    lines = [f".:{port} {{"]
    if bind:
        lines.append(f"    bind {LOOPBACK}")
    if errors:
        lines.append("    errors")
    if prometheus_port is not None:
        lines.append(f"    prometheus {LOOPBACK}:{prometheus_port}")
    if cache:
        if cache_capacity is None:
            lines.append("    cache")
        else:
            lines += [
                "    cache {",
                f"        success {cache_capacity}",
                f"        denial {cache_capacity}",
                "    }",
            ]
    if upstream_port is not None:
        if force_tcp:
            lines += [f"    forward . {LOOPBACK}:{upstream_port} {{", "        force_tcp", "    }"]
        else:
            lines.append(f"    forward . {LOOPBACK}:{upstream_port}")
    lines.append("}")
    return "\n".join(lines) + "\n"


NODE_LOCAL_DNS = Path(__file__).resolve().parent.parent / "corefiles" / "node-local-dns.Corefile"


def nodelocal_corefile(port: int, upstream_port: int, prometheus_port: int, health_port: int) -> str:
    """The node-local-dns ConfigMap's Corefile on loopback: its four blocks and eight plugins, every
    listener on 127.0.0.1 and the given ports, every forward to the upstream (for a worker's RSS)."""
    up = f"{LOOPBACK}:{upstream_port}"
    return (
        NODE_LOCAL_DNS.read_text()
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace("__PILLAR__LOCAL__DNS__:8080", f"{LOOPBACK}:{health_port}")
        .replace("__PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__", LOOPBACK)
        .replace("__PILLAR__CLUSTER__DNS__", up)
        .replace("__PILLAR__UPSTREAM__SERVERS__", up)
        .replace(":53 {", f":{port} {{")
        .replace("prometheus :9253", f"prometheus {LOOPBACK}:{prometheus_port}")
    )


def nodelocal_block(port: int, upstream_port: int, metrics_port: int, *, tcp: bool, bind: bool = True) -> str:
    """One block of the node-local-dns Corefile: errors, cache, forward, prometheus (what every
    answer of node-cache pays), without reload, loop and health (idle on the query path).
    ``tcp``: the cluster block (``cache { success 9984 30; denial 9984 5 }``, forward
    with ``force_tcp``); else the ``.:53`` block (``cache 30``, forward over UDP)."""
    lines = [f".:{port} {{"]
    if bind:
        lines.append(f"    bind {LOOPBACK}")
    lines.append("    errors")
    if tcp:
        lines += ["    cache {", "        success 9984 30", "        denial 9984 5", "    }"]
        lines += [f"    forward . {LOOPBACK}:{upstream_port} {{", "        force_tcp", "    }"]
    else:
        lines += ["    cache 30", f"    forward . {LOOPBACK}:{upstream_port}"]
    lines += [f"    prometheus {LOOPBACK}:{metrics_port}", "}"]
    return "\n".join(lines) + "\n"
