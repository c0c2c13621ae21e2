"""Corefile generation: node-cache's runtime placeholder substitution and stub-domain blocks.

The node-local-dns ConfigMap's Corefile is a template. The deploy-time ``sed`` of the manifest
fills some ``__PILLAR__`` placeholders; node-cache fills the rest at runtime, exactly as below,
and appends one server block per kube-dns stub domain. Text replacements are plain and global
(``bytes.Replace(..., -1)`` in node-cache), in node-cache's order.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from pycoredns.nodecache.flags import go_parse_ip
from pycoredns.nodecache.kubedns import KubeDNSConfig

log = logging.getLogger("pycoredns.nodecache")

UPSTREAM_SERVERS = "__PILLAR__UPSTREAM__SERVERS__"
CLUSTER_DNS = "__PILLAR__CLUSTER__DNS__"
LOCAL_DNS = "__PILLAR__LOCAL__DNS__"
DNS_SERVER = "__PILLAR__DNS__SERVER__"
PROMETHEUS_ENDPOINT = "__PROMETHEUS__ENDPOINT__"
DEFAULT_RESOLV_CONF = "/etc/resolv.conf"
STUB_CACHE_TTL = 30

# The TCP forward block of older templates; custom upstreams are switched to UDP by replacing it.
UPSTREAM_TCP_BLOCK = f"\n    forward . {UPSTREAM_SERVERS} {{\n            force_tcp\n    }}\n"
UPSTREAM_UDP_BLOCK = f"\n    forward . {UPSTREAM_SERVERS}\n"
STUB_DOMAIN_BLOCK = """
{domain}:{port} {{
    errors
    cache {ttl}
    bind {local_ips}
    forward . {servers}
}}
"""


@dataclass(frozen=True)
class TemplateValues:
    """What the runtime substitution needs from flags and environment."""

    local_ips: list[str]
    local_port: str = "53"
    cluster_dns: str = "<nil>"
    prometheus_endpoint: str = ":9253"
    resolv_conf: str = DEFAULT_RESOLV_CONF


@dataclass(frozen=True)
class Rendered:
    text: str
    stub_domains: int
    upstream_servers: str


def service_env_name(service: str) -> str:
    """The environment variable kubelet sets to a Service's ClusterIP (``kube-dns-upstream`` ->
    ``KUBE_DNS_UPSTREAM_SERVICE_HOST``)."""
    return service.replace("-", "_").upper() + "_SERVICE_HOST"


def upstream_service_ip(service: str, env: dict[str, str] | None = None) -> str:
    """The upstream Service's IP from the environment, or Go's rendering of no IP (``<nil>``)."""
    environ = os.environ if env is None else env
    var = service_env_name(service)
    value = environ.get(var, "")
    ip = go_parse_ip(value)
    if ip is None:
        log.warning(
            "[WARNING] Unable to lookup IP address of Upstream service %s, env $%s `%s`", service, var, value
        )
        return "<nil>"
    return str(ip)


def stub_blocks(stub_domains: dict[str, list[str]], values: TemplateValues) -> str:
    """One block per stub domain, sorted (node-cache's order is Go's random map order)."""
    local = " ".join(values.local_ips)
    return "".join(
        STUB_DOMAIN_BLOCK.format(
            domain=domain, port=values.local_port, ttl=STUB_CACHE_TTL, local_ips=local, servers=" ".join(servers)
        )
        for domain, servers in sorted(stub_domains.items())
    )


def render(base: str, config: KubeDNSConfig, values: TemplateValues) -> Rendered:
    """The Corefile node-cache writes for template ``base`` and kube-dns config ``config``."""
    text = base
    upstream = " ".join(config.upstream_nameservers)
    if not upstream:
        upstream = values.resolv_conf
        text = text.replace(UPSTREAM_SERVERS, upstream)
    else:
        # Custom upstreams are dialled over UDP: drop force_tcp where the template has the known block.
        text = text.replace(UPSTREAM_TCP_BLOCK, UPSTREAM_UDP_BLOCK.replace(UPSTREAM_SERVERS, upstream))
        if UPSTREAM_SERVERS in text:
            log.warning("[WARNING] Did not find TCP upstream block to replace, assuming upstreams already use UDP.")
            text = text.replace(UPSTREAM_SERVERS, upstream)
    text = text.replace(CLUSTER_DNS, values.cluster_dns)
    text = text.replace(LOCAL_DNS, " ".join(values.local_ips))
    # Blanked last: in IPVS mode the manifest's sed leaves it in bind lines.
    text = text.replace(DNS_SERVER, "")
    text = text.replace(PROMETHEUS_ENDPOINT, values.prometheus_endpoint)
    text += stub_blocks(config.stub_domains, values)
    return Rendered(text, len(config.stub_domains), upstream)
