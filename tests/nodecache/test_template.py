"""Corefile generation against node-cache's worked example (spec 4.5) and its kube-dns translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.corefile import parse
from pycoredns.nodecache.kubedns import KubeDNSConfig
from pycoredns.nodecache.template import (
    TemplateValues,
    render,
    service_env_name,
    stub_blocks,
    upstream_service_ip,
)
from pycoredns.testing.logs import CapturedLog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "corefiles" / "node-local-dns.Corefile").read_text()


def sed_iptables_mode(text: str) -> str:
    """The manifest's deploy-time sed for kube-proxy iptables mode (kubernetes.io task page)."""
    return (
        text.replace("__PILLAR__LOCAL__DNS__", "169.254.20.10")
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace("__PILLAR__DNS__SERVER__", "10.0.0.10")
    )


def sed_ipvs_mode(text: str) -> str:
    return (
        text.replace("__PILLAR__LOCAL__DNS__", "169.254.20.10")
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace(",__PILLAR__DNS__SERVER__", "")
        .replace("__PILLAR__CLUSTER__DNS__", "10.0.0.10")
    )


IPTABLES_VALUES = TemplateValues(local_ips=["169.254.20.10", "10.0.0.10"], cluster_dns="10.0.0.50")

EXPECTED_IPTABLES_MODE = """cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . 10.0.0.50 {
            force_tcp
    }
    prometheus :9253
    health 169.254.20.10:8080
    }
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . 10.0.0.50 {
            force_tcp
    }
    prometheus :9253
    }
ip6.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . 10.0.0.50 {
            force_tcp
    }
    prometheus :9253
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.0.0.10
    forward . /etc/resolv.conf
    prometheus :9253
    }
"""


def test_worked_example_iptables_mode() -> None:
    out = render(sed_iptables_mode(TEMPLATE), KubeDNSConfig(), IPTABLES_VALUES)
    assert out.text == EXPECTED_IPTABLES_MODE
    assert out.stub_domains == 0 and out.upstream_servers == "/etc/resolv.conf"
    assert "__PILLAR__" not in out.text


def test_worked_example_ipvs_mode() -> None:
    # IPVS: -localip has only the link-local IP; sed put kube-dns into __PILLAR__CLUSTER__DNS__ and
    # left __PILLAR__DNS__SERVER__ in the bind lines, which node-cache blanks.
    out = render(sed_ipvs_mode(TEMPLATE), KubeDNSConfig(), TemplateValues(local_ips=["169.254.20.10"]))
    assert "bind 169.254.20.10 \n" in out.text
    assert "__PILLAR__" not in out.text
    assert out.text.count("forward . 10.0.0.10 {\n            force_tcp\n    }") == 3


def test_raw_template_all_placeholders_filled_at_runtime() -> None:
    # Without the deploy-time sed node-cache fills LOCAL__DNS, CLUSTER__DNS, DNS__SERVER and
    # UPSTREAM__SERVERS; DNS__DOMAIN is left for sed (node-cache never touches it).
    out = render(TEMPLATE, KubeDNSConfig(), IPTABLES_VALUES)
    assert out.text.count("bind 169.254.20.10 10.0.0.10 10.0.0.10") == 0
    assert out.text.count("bind 169.254.20.10 10.0.0.10 \n") == 4
    assert out.text.startswith("__PILLAR__DNS__DOMAIN__:53 {")
    for placeholder in ("__PILLAR__LOCAL__DNS__", "__PILLAR__CLUSTER__DNS__", "__PILLAR__DNS__SERVER__",
                        "__PILLAR__UPSTREAM__SERVERS__"):
        assert placeholder not in out.text


def test_prometheus_endpoint_placeholder() -> None:
    base = ".:53 {\n    prometheus __PROMETHEUS__ENDPOINT__\n}\n"
    values = TemplateValues(local_ips=["169.254.20.10"], prometheus_endpoint="10.1.1.1:9253")
    out = render(base, KubeDNSConfig(), values)
    assert out.text == ".:53 {\n    prometheus 10.1.1.1:9253\n}\n"
    default = render(base, KubeDNSConfig(), TemplateValues(local_ips=["169.254.20.10"]))
    assert "prometheus :9253" in default.text


def test_upstream_nameservers_replace_resolv_conf_plain() -> None:
    cfg = KubeDNSConfig(upstream_nameservers=["10.1.1.1", "10.1.1.2:5353"])
    out = render(sed_iptables_mode(TEMPLATE), cfg, IPTABLES_VALUES)
    assert "    forward . 10.1.1.1 10.1.1.2:5353\n    prometheus :9253\n    }\n" in out.text
    assert out.upstream_servers == "10.1.1.1 10.1.1.2:5353"
    assert "/etc/resolv.conf" not in out.text


def test_upstream_nameservers_switch_tcp_block_to_udp() -> None:
    base = ".:53 {\n    errors\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}\n"
    out = render(base, KubeDNSConfig(upstream_nameservers=["10.1.1.1"]), IPTABLES_VALUES)
    assert out.text == ".:53 {\n    errors\n    forward . 10.1.1.1\n}\n"


def test_udp_fallback_is_logged(coredns_log: CapturedLog) -> None:
    render(sed_iptables_mode(TEMPLATE), KubeDNSConfig(upstream_nameservers=["10.1.1.1"]), IPTABLES_VALUES)
    assert "Did not find TCP upstream block to replace, assuming upstreams already use UDP." in coredns_log.text


def test_stub_domain_blocks_appended_sorted() -> None:
    cfg = KubeDNSConfig(stub_domains={"widget.local": ["2.2.2.2:10053", "3.3.3.3"], "acme.local": ["1.2.3.4"]})
    out = render(sed_iptables_mode(TEMPLATE), cfg, IPTABLES_VALUES)
    tail = """
acme.local:53 {
    errors
    cache 30
    bind 169.254.20.10 10.0.0.10
    forward . 1.2.3.4
}

widget.local:53 {
    errors
    cache 30
    bind 169.254.20.10 10.0.0.10
    forward . 2.2.2.2:10053 3.3.3.3
}
"""
    assert out.text == EXPECTED_IPTABLES_MODE + tail
    assert out.stub_domains == 2
    # And the result is a Corefile CoreDNS's parser accepts.
    blocks = parse(out.text, "Corefile", directives=None)
    assert [b.key_texts for b in blocks][-2:] == [["acme.local:53"], ["widget.local:53"]]


def test_stub_block_uses_dns_port() -> None:
    text = stub_blocks({"corp.example": ["10.2.2.2"]}, TemplateValues(local_ips=["169.254.20.10"], local_port="1053"))
    assert text.startswith("\ncorp.example:1053 {\n")


@pytest.mark.parametrize(
    "service, var",
    [
        pytest.param("kube-dns-upstream", "KUBE_DNS_UPSTREAM_SERVICE_HOST", id="upstream"),
        pytest.param("kube-dns", "KUBE_DNS_SERVICE_HOST", id="kube-dns"),
        pytest.param("coredns", "COREDNS_SERVICE_HOST", id="coredns"),
    ],
)
def test_service_env_name(service: str, var: str) -> None:
    assert service_env_name(service) == var


def test_upstream_service_ip_from_env() -> None:
    assert upstream_service_ip("kube-dns-upstream", {"KUBE_DNS_UPSTREAM_SERVICE_HOST": "10.0.0.50"}) == "10.0.0.50"


@pytest.mark.parametrize("value", [pytest.param("", id="missing"), pytest.param("kube-dns", id="not-an-ip")])
def test_upstream_service_ip_missing_is_nil_and_warned(value: str, coredns_log: CapturedLog) -> None:
    env = {"KUBE_DNS_UPSTREAM_SERVICE_HOST": value} if value else {}
    assert upstream_service_ip("kube-dns-upstream", env) == "<nil>"
    assert (
        "Unable to lookup IP address of Upstream service kube-dns-upstream, "
        f"env $KUBE_DNS_UPSTREAM_SERVICE_HOST `{value}`"
    ) in coredns_log.text
