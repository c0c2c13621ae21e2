"""bind's parsing: CoreDNS's listen-address semantics and errors, and the network-setup options.

Loading a Corefile runs setup only: no interface, no rule, no socket is touched here.
"""

from __future__ import annotations

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.nodecache.netsetup import NetSetupConfig
from pycoredns.plugins.bind import network
from pycoredns.plugins.bind.addresses import interface_table, is_ip, list_ip
from pycoredns.server import config
from pycoredns.server.config import Instance
from pycoredns.server.process import Process


def load(body: str, key: str = ".:53") -> Instance:
    return config.load(f"{key} {{\n{body}\n    whoami\n}}\n", "Corefile", process=Process())


def hosts(body: str) -> list[str]:
    return load(body).configs[0].listen_hosts


def lo_addresses() -> list[str]:
    return interface_table().get("lo", [])


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param("bind 1.2.3.4", ["1.2.3.4"], id="one-ip"),
        pytest.param("bind 1.2.3.4 ::5", ["1.2.3.4", "::5"], id="v4-and-v6"),
        pytest.param(
            "bind ::1 1.2.3.4 ::5 127.9.9.0", ["::1", "1.2.3.4", "::5", "127.9.9.0"], id="order-kept"
        ),
        pytest.param("bind 127.0.0.1\nbind ::1", ["127.0.0.1", "::1"], id="two-lines-unioned"),
        pytest.param("bind 0:0::1", ["0:0::1"], id="literal-kept-as-written"),
        pytest.param("bind 10.0.0.1 10.0.0.2 {\n except 10.0.0.2\n}", ["10.0.0.1"], id="except-ip"),
        pytest.param(
            "bind 10.0.0.1 {\n except 10.0.0.9\n}\nbind 10.0.0.9", ["10.0.0.1", "10.0.0.9"],
            id="except-only-its-own-line",
        ),
    ],
)
def test_listen_hosts(body: str, want: list[str]) -> None:
    assert hosts(body) == want


def test_interface_name_expands_to_its_addresses() -> None:
    lo = lo_addresses()
    if "127.0.0.1" not in lo:
        pytest.skip("lo has no 127.0.0.1 in this namespace")
    assert hosts("bind 1.2.3.4 lo") == ["1.2.3.4", *lo]
    assert hosts("bind lo {\n except 127.0.0.1\n}") == [a for a in lo if a != "127.0.0.1"]


def test_ipv6_link_local_gets_its_zone() -> None:
    table = {"eth9": ["10.1.1.1", "fe80::1%eth9"]}
    assert list_ip(["eth9", "::1"], table) == ["10.1.1.1", "fe80::1%eth9", "::1"]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        pytest.param("1.2.3.4", True, id="v4"),
        pytest.param("::ffff:1.2.3.4", True, id="mapped"),
        pytest.param("1.2.3.invalid", False, id="bad-v4"),
        pytest.param("fe80::1%eth0", False, id="zone-not-a-literal"),
        pytest.param("[::1]", False, id="brackets"),
        pytest.param("10.0.0.0/8", False, id="prefix"),
        pytest.param("010.0.0.1", False, id="leading-zero"),
    ],
)
def test_ip_literals_as_go_parses_them(text: str, ok: bool) -> None:
    assert is_ip(text) is ok


def test_every_address_excluded_leaves_no_listener() -> None:
    inst = load("bind 10.0.0.1 {\n except 10.0.0.1\n}")
    assert inst.configs[0].listen_hosts == []
    assert inst.listeners == {}


def test_repeated_address_is_already_defined() -> None:
    with pytest.raises(PyCoreDNSError) as e:
        load("bind 127.0.0.1\nbind 127.0.0.1")
    assert str(e.value) == "cannot serve dns://.:53 on 127.0.0.1 - it is already defined"


def test_listener_label_carries_the_bound_address() -> None:
    inst = load("bind 127.0.0.1 ::1", key=".:1053")
    assert [str(k) for k in inst.listeners] == ["dns://127.0.0.1:1053", "dns://[::1]:1053"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("bind", "plugin/bind: at least one address or interface name is expected", id="no-args"),
        pytest.param(
            "bind 1.2.3.invalid", 'plugin/bind: not a valid IP address or interface name: "1.2.3.invalid"',
            id="bad-ip",
        ),
        pytest.param(
            "bind ::1 1.2.3.4 noone", 'plugin/bind: not a valid IP address or interface name: "noone"',
            id="unknown-interface",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n except\n}",
            "plugin/bind: at least one address or interface must be given to except subdirective",
            id="empty-except",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n except 1.2.3.4.5\n}",
            'plugin/bind: not a valid IP address or interface name: "1.2.3.4.5"', id="bad-except",
        ),
        pytest.param("bind 1.2.3.4 {\n foo\n}", 'plugin/bind: invalid option "foo"', id="invalid-option"),
        pytest.param(
            "bind 1.2.3.4 { except 1.2.3.4 }",
            'plugin/bind: not a valid IP address or interface name: "}"', id="one-line-block-swallows-brace",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n interface\n}",
            "plugin/bind: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after 'interface'", id="interface-needs-a-name",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n interface a b\n}",
            "plugin/bind: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after 'b'", id="interface-one-name",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n interface averyveryverylongname\n}",
            'plugin/bind: Corefile:3 - Error during parsing: invalid interface name "averyveryverylongname"',
            id="interface-name-too-long",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n notrack 0\n}",
            "plugin/bind: Corefile:3 - Error during parsing: value 0 is below the minimum 1", id="health-port-0",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n notrack 80 81\n}",
            "plugin/bind: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after '81'", id="notrack-one-port",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n sync 10\n}",
            'plugin/bind: Corefile:3 - Error during parsing: time: missing unit in duration "10"',
            id="sync-needs-unit",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n sync 0s\n}",
            "plugin/bind: Corefile:3 - Error during parsing: sync interval must be positive: 0s", id="sync-zero",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n keep now\n}",
            "plugin/bind: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after 'now'", id="keep-no-args",
        ),
        pytest.param(
            "bind 1.2.3.4 {\n notrack\n}\nbind 1.2.3.5 {\n notrack 9090\n}",
            "plugin/bind: Corefile:5 - Error during parsing: conflicting network setup options for notrack"
            " without interface", id="conflicting-lines",
        ),
    ],
)
def test_errors(body: str, message: str) -> None:
    with pytest.raises(PyCoreDNSError) as e:
        load(body)
    assert str(e.value) == message


def test_two_ports_with_notrack_is_an_error() -> None:
    with pytest.raises(PyCoreDNSError) as e:
        config.load(".:53 .:5353 {\n bind 1.2.3.4 {\n  notrack\n }\n}\n", "Corefile", process=Process())
    assert str(e.value) == (
        "plugin/bind: Corefile:3 - Error during parsing: notrack needs the server block on a single port,"
        " found 53, 5353"
    )


def plans(inst: Instance) -> dict[str, NetSetupConfig]:
    state = inst.process.state.get(network.STATE)
    assert state is not None
    return dict(state.plans[inst.generation])


def test_network_options_build_the_setup() -> None:
    inst = load(
        "bind 169.254.20.10 10.96.0.10 {\n interface nodelocaldns\n notrack 9254\n sync 1s\n keep\n}",
        key=".:5300",
    )
    assert inst.configs[0].listen_hosts == ["169.254.20.10", "10.96.0.10"]
    assert plans(inst) == {
        "nodelocaldns": NetSetupConfig(
            addresses=["169.254.20.10", "10.96.0.10"], interface="nodelocaldns", setup_interface=True,
            setup_iptables=True, dns_port=5300, health_port=9254, sync_interval=1.0, teardown=False,
        )
    }


def test_defaults_and_blocks_merge_per_interface() -> None:
    # node-local-dns's Corefile repeats one bind in every block: one setup, addresses unioned.
    text = "".join(
        f"{zone}:53 {{\n bind 169.254.20.10 {extra}{{\n  interface nodelocaldns\n  notrack\n }}\n whoami\n}}\n"
        for zone, extra in (("cluster.local", ""), ("in-addr.arpa", "10.96.0.10 "), (".", ""))
    )
    inst = config.load(text, "Corefile", process=Process())
    assert plans(inst) == {
        "nodelocaldns": NetSetupConfig(addresses=["169.254.20.10", "10.96.0.10"], interface="nodelocaldns")
    }


def test_interface_only_and_rules_only() -> None:
    inst = load("bind 10.0.0.1 {\n interface cache0\n}\nbind 10.0.0.2 {\n notrack\n}")
    got = plans(inst)
    assert got["cache0"].setup_interface and not got["cache0"].setup_iptables
    assert got[""].setup_iptables and not got[""].setup_interface
    assert got[""].addresses == ["10.0.0.2"]


def test_plain_bind_sets_nothing_up() -> None:
    inst = load("bind 127.0.0.1")
    state = inst.process.state.get(network.STATE)
    assert state is None or not state.hooked
    assert inst.lifecycle.startup == [] and inst.lifecycle.listen == []


def test_conflicting_blocks_are_an_error() -> None:
    text = (
        "a.:53 {\n bind 10.0.0.1 {\n  interface x0\n }\n whoami\n}\n"
        "b.:53 {\n bind 10.0.0.1 {\n  interface x0\n  keep\n }\n whoami\n}\n"
    )
    with pytest.raises(PyCoreDNSError) as e:
        config.load(text, "Corefile", process=Process())
    assert str(e.value) == (
        "plugin/bind: Corefile:8 - Error during parsing: conflicting network setup options for interface x0"
    )
