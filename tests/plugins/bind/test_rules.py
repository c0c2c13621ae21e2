"""node-cache's rule list, its log form, the lock flags and the error counter (no iptables run)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pycoredns.nodecache import errors_metric
from pycoredns.nodecache.iptables import IptablesError, Rule, _wait_flags, node_cache_rules
from pycoredns.nodecache.netsetup import NetSetup, NetSetupConfig

C1 = "NodeLocal DNS Cache: skip conntrack"
C2 = "NodeLocal DNS Cache: allow DNS traffic"


def test_the_twelve_rules_in_node_cache_order() -> None:
    L = "169.254.20.10"
    want = [
        ("raw", "PREROUTING", f"-p tcp -d {L} --dport 53 -j NOTRACK", C1),
        ("raw", "PREROUTING", f"-p udp -d {L} --dport 53 -j NOTRACK", C1),
        ("filter", "INPUT", f"-p tcp -d {L} --dport 53 -j ACCEPT", C2),
        ("filter", "INPUT", f"-p udp -d {L} --dport 53 -j ACCEPT", C2),
        ("raw", "OUTPUT", f"-p tcp -s {L} --sport 53 -j NOTRACK", C1),
        ("raw", "OUTPUT", f"-p udp -s {L} --sport 53 -j NOTRACK", C1),
        ("filter", "OUTPUT", f"-p tcp -s {L} --sport 53 -j ACCEPT", C2),
        ("filter", "OUTPUT", f"-p udp -s {L} --sport 53 -j ACCEPT", C2),
        ("raw", "OUTPUT", f"-p tcp -d {L} --dport 53 -j NOTRACK", C1),
        ("raw", "OUTPUT", f"-p udp -d {L} --dport 53 -j NOTRACK", C1),
        ("raw", "OUTPUT", f"-p tcp -d {L} --dport 8080 -j NOTRACK", C1),
        ("raw", "OUTPUT", f"-p tcp -s {L} --sport 8080 -j NOTRACK", C1),
    ]
    got = node_cache_rules(L)
    assert [(r.table, r.chain, r.args) for r in got] == [
        (t, c, (*a.split(), "-m", "comment", "--comment", cm)) for t, c, a, cm in want
    ]


def test_ports_and_addresses_follow_the_config() -> None:
    ns = NetSetup(NetSetupConfig(["169.254.20.10", "fd00::10"], dns_port=5353, health_port=9254))
    rules = ns.rules()
    assert len(rules) == 24
    assert [ip for ip, _ in rules] == ["169.254.20.10"] * 12 + ["fd00::10"] * 12
    assert rules[12][1].args[:6] == ("-p", "tcp", "-d", "fd00::10", "--dport", "5353")
    assert rules[23][1].args[:6] == ("-p", "tcp", "-s", "fd00::10", "--sport", "9254")


def test_rule_logs_like_go() -> None:
    rule = node_cache_rules("169.254.20.10")[0]
    assert str(rule) == (
        "{raw PREROUTING [-p tcp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment"
        " NodeLocal DNS Cache: skip conntrack]}"
    )
    assert str(Rule("filter", "INPUT", ("-j", "ACCEPT"))) == "{filter INPUT [-j ACCEPT]}"


@pytest.mark.parametrize(
    ("version", "flags"),
    [
        pytest.param("iptables v1.8.9 (nf_tables)", ["-w", "5"], id="1.8-nft"),
        pytest.param("iptables v1.4.22", ["-w", "5"], id="1.4.22"),
        pytest.param("iptables v1.4.21", ["-w"], id="1.4.21"),
        pytest.param("iptables v1.4.20", ["-w"], id="1.4.20"),
        pytest.param("iptables v1.4.19", [], id="1.4.19"),
    ],
)
def test_lock_flags_by_version(version: str, flags: list[str]) -> None:
    assert _wait_flags(version) == flags


def test_lock_errors_are_told_apart() -> None:
    locked = IptablesError(
        "error checking rule: exit status 4: Another app is currently holding the xtables lock. Stopped waiting"
    )
    assert locked.locked
    assert not IptablesError("error checking rule: exit status 2: Bad argument").locked


def test_error_counter_is_preinitialised_with_node_cache_labels() -> None:
    reg = CollectorRegistry()
    errors_metric.register(reg)
    text = generate_latest(reg).decode()
    assert "# HELP coredns_nodecache_setup_errors_total The number of errors during periodic network setup" \
        " for node-cache" in text
    for label in ("iptables", "iptables_lock", "interface_add", "interface_check", "configmap"):
        assert f'coredns_nodecache_setup_errors_total{{errortype="{label}"}}' in text
    before = errors_metric.value("configmap")
    errors_metric.count("configmap")
    assert errors_metric.value("configmap") == before + 1
