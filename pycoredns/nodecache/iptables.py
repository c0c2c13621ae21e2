"""node-cache's iptables rules, driven through the same command-line tools kubelet uses.

The backend (nft or legacy) is chosen the way ``kubernetes-sigs/iptables-wrappers`` chooses it in
node-cache's image, so our rules land where kubelet's and kube-proxy's are: nft if
``iptables-nft-save -t mangle`` (or the ip6 one) shows kubelet's ``KUBE-IPTABLES-HINT`` or
``KUBE-KUBELET-CANARY`` chain, else legacy if ``iptables-legacy-save`` (or ip6) shows one, else
nft. Commands have the Kubernetes runner's shape (``iptables -w 5 -C CHAIN -t TABLE ARGS``), and
the rules are exactly node-cache's, comments included, so either program can find and delete the
other's rules.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass

from pycoredns.errors import PyCoreDNSError

SKIP_CONNTRACK = "NodeLocal DNS Cache: skip conntrack"
ALLOW_TRAFFIC = "NodeLocal DNS Cache: allow DNS traffic"
LOCKED_TEXT = "holding the xtables lock"  # what iptables says when the lock wait runs out
COMMAND_TIMEOUT = 60.0  # seconds; -w bounds the lock wait, this bounds a stuck binary
_KUBELET_CHAINS = re.compile(r"^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\b", re.M)


class IptablesError(PyCoreDNSError):
    """An iptables command failed."""

    @property
    def locked(self) -> bool:
        """True when the failure was waiting for the xtables lock (errortype ``iptables_lock``)."""
        return LOCKED_TEXT in str(self)


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        # Go's %v of node-cache's iptablesRule, so log lines read the same.
        return f"{{{self.table} {self.chain} [{' '.join(self.args)}]}}"


def node_cache_rules(ip: str, dns_port: int = 53, health_port: int = 8080) -> list[Rule]:
    """The 12 rules node-cache keeps for one local IP, in node-cache's order."""
    p, h = str(dns_port), str(health_port)

    def r(table: str, chain: str, proto: str, way: str, port: str, target: str) -> Rule:
        addr_flag, port_flag = ("-d", "--dport") if way == "to" else ("-s", "--sport")
        comment = SKIP_CONNTRACK if target == "NOTRACK" else ALLOW_TRAFFIC
        args = ("-p", proto, addr_flag, ip, port_flag, port, "-j", target, "-m", "comment", "--comment", comment)
        return Rule(table, chain, args)

    return [
        r("raw", "PREROUTING", "tcp", "to", p, "NOTRACK"),
        r("raw", "PREROUTING", "udp", "to", p, "NOTRACK"),
        r("filter", "INPUT", "tcp", "to", p, "ACCEPT"),
        r("filter", "INPUT", "udp", "to", p, "ACCEPT"),
        r("raw", "OUTPUT", "tcp", "from", p, "NOTRACK"),
        r("raw", "OUTPUT", "udp", "from", p, "NOTRACK"),
        r("filter", "OUTPUT", "tcp", "from", p, "ACCEPT"),
        r("filter", "OUTPUT", "udp", "from", p, "ACCEPT"),
        r("raw", "OUTPUT", "tcp", "to", p, "NOTRACK"),  # host-network clients
        r("raw", "OUTPUT", "udp", "to", p, "NOTRACK"),
        r("raw", "OUTPUT", "tcp", "to", h, "NOTRACK"),  # kubelet's liveness probe to health
        r("raw", "OUTPUT", "tcp", "from", h, "NOTRACK"),
    ]


def is_ipv6(ip: str) -> bool:
    return ipaddress.ip_address(ip.split("%")[0]).version == 6


def _save_output(binary: str, *args: str) -> str:
    path = shutil.which(binary)
    if path is None:
        return ""
    try:
        done = subprocess.run([path, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


@functools.cache
def detect_mode() -> str:
    """``"nft"`` or ``"legacy"``: the backend kubelet uses here (once per process, like the wrapper).

    Errors are ignored on purpose, as the wrapper does: a probe that fails just does not match.
    ``-t mangle`` is not passed to legacy save, which would create the table in the kernel.
    """
    for binary in ("iptables-nft-save", "ip6tables-nft-save"):
        if _KUBELET_CHAINS.search(_save_output(binary, "-t", "mangle")):
            return "nft"
    for binary in ("iptables-legacy-save", "ip6tables-legacy-save"):
        if _KUBELET_CHAINS.search(_save_output(binary)):
            return "legacy"
    return "nft"


def binary_for(ipv6: bool, mode: str | None = None) -> str:
    """``iptables-nft``, ``ip6tables-legacy``...; plain ``iptables`` where the split tools are absent."""
    base = "ip6tables" if ipv6 else "iptables"
    mode = mode or detect_mode()
    return shutil.which(f"{base}-{mode}") or shutil.which(base) or base


def _wait_flags(version_text: str) -> list[str]:
    """The Kubernetes runner's lock flags: ``-w 5`` from 1.4.22, ``-w`` on 1.4.20-21, else none."""
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", version_text)
    if not m:
        return ["-w", "5"]  # unknown version text: assume a modern iptables
    version = tuple(int(x) for x in m.groups())
    if version >= (1, 4, 22):
        return ["-w", "5"]
    if version >= (1, 4, 20):
        return ["-w"]
    return []


class Iptables:
    """One iptables binary (one family, one backend): check, insert at the top, delete."""

    def __init__(self, ipv6: bool = False, mode: str | None = None) -> None:
        self.binary = binary_for(ipv6, mode)
        self._wait: list[str] | None = None

    def wait_flags(self) -> list[str]:
        if self._wait is None:
            done = self._exec(["--version"], wait=False)
            self._wait = _wait_flags(done.stdout + done.stderr) if done.returncode == 0 else ["-w", "5"]
        return self._wait

    def _exec(self, args: list[str], wait: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, *(self.wait_flags() if wait else []), *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise IptablesError(f"{' '.join(cmd)}: timed out after {COMMAND_TIMEOUT:g}s") from e
        except OSError as e:
            raise IptablesError(f"{self.binary}: {e.strerror or e}") from e

    def _run(self, op: str, rule: Rule) -> subprocess.CompletedProcess[str]:
        return self._exec([op, rule.chain, "-t", rule.table, *rule.args])

    def exists(self, rule: Rule) -> bool:
        done = self._run("-C", rule)
        if done.returncode == 0:
            return True
        if done.returncode == 1:  # iptables's "no such rule"; other codes are real failures
            return False
        raise IptablesError(f"error checking rule: exit status {done.returncode}: {_out(done)}")

    def insert(self, rule: Rule) -> None:
        done = self._run("-I", rule)
        if done.returncode != 0:
            raise IptablesError(f"error inserting rule: exit status {done.returncode}: {_out(done)}")

    def ensure(self, rule: Rule) -> bool:
        """Insert ``rule`` at the top of its chain unless present; True if it was there already."""
        if self.exists(rule):
            return True
        self.insert(rule)
        return False

    def delete(self, rule: Rule) -> bool:
        """Delete one copy of ``rule`` if there is one; True if one was deleted."""
        if not self.exists(rule):
            return False
        done = self._run("-D", rule)
        if done.returncode != 0:
            raise IptablesError(f"error deleting rule: exit status {done.returncode}: {_out(done)}")
        return True


def _out(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr or done.stdout).strip()
