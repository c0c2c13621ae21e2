"""bind's network setup for real, inside a namespace: interface, the 24 rules, sync, teardown."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.netns.conftest import PYTHON, Netns, ServerProcess
from tests.netns.saves import expected_tables, rules_by_table, ruleset
from tests.processes import wait_until

pytestmark = pytest.mark.netns

ADDRESSES = ["169.254.20.10", "10.96.0.10"]
COREFILE = """\
.:53 {
    bind 169.254.20.10 10.96.0.10 {
        interface nodelocaldns
        notrack
        sync 1s%s
    }
    whoami
}
"""


def interface_addresses(ns: Netns, name: str = "nodelocaldns") -> list[str] | None:
    done = ns.exec("ip", "-j", "addr", "show", "dev", name, check=False)
    if done.returncode != 0:
        return None
    info = json.loads(done.stdout)[0]
    return [f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"]]


def our_rules(save: str) -> dict[str, list[str]]:
    return {t: [ln for ln in rules if "NodeLocal DNS Cache" in ln] for t, rules in rules_by_table(save).items()}


def test_rules_interface_resync_and_teardown(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    ns = make_netns("node")
    before = ruleset(ns.iptables_save())
    server: ServerProcess = start_server(ns, COREFILE % "")

    assert rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES)
    assert interface_addresses(ns) == ["169.254.20.10/32", "10.96.0.10/32"]
    link = json.loads(ns.exec("ip", "-j", "link", "show", "dev", "nodelocaldns").stdout)[0]
    assert "UP" not in link["flags"]  # left down, as node-cache leaves it
    for ip in ADDRESSES:
        assert "ANSWER SECTION" not in ns.dig(ip, "whoami.example.") and "status: NOERROR" in ns.dig(
            ip, "whoami.example."
        )

    # A rule deleted by hand is back within one sync interval (1 s; the wait is generous for load).
    ns.exec(
        "iptables", "-w", "5", "-D", "PREROUTING", "-t", "raw", "-p", "udp", "-d", "10.96.0.10",
        "--dport", "53", "-j", "NOTRACK", "-m", "comment", "--comment", "NodeLocal DNS Cache: skip conntrack",
    )
    assert len(our_rules(ns.iptables_save())["raw"]) == 15
    assert wait_until(lambda: rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES), 10)
    assert (
        "[INFO] Added back nodelocaldns rule - {raw PREROUTING [-p udp -d 10.96.0.10 --dport 53 -j NOTRACK"
        " -m comment --comment NodeLocal DNS Cache: skip conntrack]}"
    ) in server.output

    # Killed without teardown (as an OOM kill would), then started again: nothing duplicated.
    server.kill()
    assert rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES)
    again: ServerProcess = start_server(ns, COREFILE % "")
    assert rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES)
    assert interface_addresses(ns) == ["169.254.20.10/32", "10.96.0.10/32"]
    assert "Added interface" not in again.output and "Added back" not in again.output

    # Duplicates (iptables-nft's flaky -C, kubernetes/dns#568) are all removed at teardown.
    ns.exec(
        "iptables", "-w", "5", "-I", "INPUT", "-t", "filter", "-p", "tcp", "-d", "169.254.20.10",
        "--dport", "53", "-j", "ACCEPT", "-m", "comment", "--comment", "NodeLocal DNS Cache: allow DNS traffic",
    )
    assert again.stop(signal.SIGTERM) == 0
    assert "[INFO] Tearing down" in again.output
    assert ruleset(ns.iptables_save()) == before
    assert interface_addresses(ns) is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_other_exit_signals_tear_down(make_netns, start_server, sig: int) -> None:  # type: ignore[no-untyped-def]
    ns = make_netns("node")
    server: ServerProcess = start_server(ns, COREFILE % "")
    assert our_rules(ns.iptables_save())["raw"]
    assert server.stop(sig) == 0
    assert our_rules(ns.iptables_save()) == {}
    assert interface_addresses(ns) is None


def test_keep_leaves_everything_in_place(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    ns = make_netns("node")
    server: ServerProcess = start_server(ns, COREFILE % "\n        keep")
    assert server.stop(signal.SIGTERM) == 0
    assert rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES)
    assert interface_addresses(ns) == ["169.254.20.10/32", "10.96.0.10/32"]


def test_legacy_backend_when_kubelet_uses_it(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    ns = make_netns("node")
    # kubelet's canary chain in legacy iptables is what the wrappers look for.
    ns.exec("iptables-legacy", "-w", "5", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY")
    server: ServerProcess = start_server(ns, COREFILE % "")
    assert rules_by_table(ns.iptables_save("iptables-legacy-save")).get("raw") == expected_tables(ADDRESSES)["raw"]
    assert our_rules(ns.iptables_save("iptables-nft-save")) == {}
    assert server.stop(signal.SIGTERM) == 0
    assert our_rules(ns.iptables_save("iptables-legacy-save")) == {}


def test_reload_hands_over_without_teardown(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    ns = make_netns("node")
    one = COREFILE.replace(" 10.96.0.10 {", " {") % ""
    server: ServerProcess = start_server(ns, one)
    assert rules_by_table(ns.iptables_save()) == expected_tables(["169.254.20.10"])

    server.conf.write_text(COREFILE % "")  # a second address: added, nothing removed meanwhile
    server.proc.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: rules_by_table(ns.iptables_save()) == expected_tables(ADDRESSES), 15)
    assert interface_addresses(ns) == ["169.254.20.10/32", "10.96.0.10/32"]
    assert "Tearing down" not in server.output

    server.conf.write_text(one)  # and back: only the dropped address's rules and /32 go
    server.proc.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: interface_addresses(ns) == ["169.254.20.10/32"], 15)
    assert wait_until(lambda: rules_by_table(ns.iptables_save()) == expected_tables(["169.254.20.10"]), 15)
    assert server.stop(signal.SIGTERM) == 0
    assert our_rules(ns.iptables_save()) == {} and interface_addresses(ns) is None


def test_rules_stay_through_lameduck_then_go_before_exit(make_netns, start_server) -> None:  # type: ignore[no-untyped-def]
    # CoreDNS's SIGTERM order: shutdown hooks (health's lameduck, DNS still answering), then the
    # exit hooks (the teardown), then the listeners close.
    ns = make_netns("node")
    corefile = COREFILE.replace("    whoami\n", "    whoami\n    health 127.0.0.1:8080 {\n        lameduck 2s\n    }\n")
    server: ServerProcess = start_server(ns, corefile % "")
    server.proc.send_signal(signal.SIGTERM)
    assert wait_until(lambda: "lameduck" in server.output, 10), server.output
    assert our_rules(ns.iptables_save())["raw"], "rules removed before the lameduck period ended"
    assert "status: NOERROR" in ns.dig("169.254.20.10", "whoami.example.")
    assert server.stop(signal.SIGTERM) == 0
    assert our_rules(ns.iptables_save()) == {} and interface_addresses(ns) is None
    out = server.output
    assert out.index("lameduck") < out.index("Tearing down")


# A reload whose setup succeeds and whose listeners then fail to open: a block on a port that
# another program holds (without SO_REUSEPORT, so the server cannot share it).
_HOLDER = "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.1', 5300))\n" \
          "print('bound', flush=True)\ntime.sleep(120)\n"
_BLOCKED = "127.0.0.1:5300 {\n    whoami\n}\n"


@pytest.mark.parametrize(
    ("first", "before"),
    [
        pytest.param(COREFILE.replace(" 10.96.0.10 {", " {") % "", ["169.254.20.10/32"], id="address-added"),
        pytest.param(".:53 {\n    bind 127.0.0.1\n    whoami\n}\n", None, id="interface-created"),
    ],
)
def test_reload_failing_after_setup_leaves_the_node_as_before(  # type: ignore[no-untyped-def]
    make_netns, start_server, first: str, before: list[str] | None
) -> None:
    ns = make_netns("node")
    server: ServerProcess = start_server(ns, first)
    rules = ns.iptables_save()
    holder = subprocess.Popen(["ip", "netns", "exec", ns.name, PYTHON, "-c", _HOLDER], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "bound"
        server.conf.write_text(COREFILE % "" + _BLOCKED)
        server.proc.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: "Restart failed" in server.output, 15), server.output
    finally:
        holder.kill()
        holder.wait(10)
    assert interface_addresses(ns) == before
    assert ruleset(ns.iptables_save()) == ruleset(rules)  # not the comments: they carry the time
    if before:
        assert "status: NOERROR" in ns.dig("169.254.20.10", "whoami.example.")
    assert server.stop(signal.SIGTERM) == 0
    assert our_rules(ns.iptables_save()) == {} and interface_addresses(ns) is None
