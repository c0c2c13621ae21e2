"""Reading ``iptables-save`` output: the rules per table, and a ruleset comparable before/after."""

from __future__ import annotations

import re

from pycoredns.nodecache.iptables import Rule, node_cache_rules

_BUILTIN = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}


def rules_by_table(save: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    table = ""
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:]
            out.setdefault(table, [])
        elif line.startswith("-A "):
            out[table].append(line)
    return {t: rules for t, rules in out.items() if rules}


def ruleset(save: str) -> str:
    """The save text without comments and counters, and without tables that hold nothing.

    The nft backend keeps a table once anything created it; a table with no rule and only
    built-in chains at policy ACCEPT filters nothing, exactly like an absent one.
    """
    tables: list[list[str]] = []
    for line in save.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            tables.append([])
        tables[-1].append(re.sub(r" \[\d+:\d+\]$", "", line))
    kept = []
    for t in tables:
        chains = [ln[1:].split() for ln in t if ln.startswith(":")]
        empty = not any(ln.startswith("-A ") for ln in t)
        if empty and all(c[0] in _BUILTIN and c[1] == "ACCEPT" for c in chains):
            continue
        kept.append("\n".join(t))
    return "\n".join(kept)


def save_line(rule: Rule) -> str:
    """How iptables-save prints one of node-cache's rules."""
    a = list(rule.args)
    proto, addr_flag, ip, port_flag, port, target, comment = a[1], a[2], a[3], a[4], a[5], a[7], a[11]
    prefix = "/128" if ":" in ip else "/32"
    return (
        f"-A {rule.chain} {addr_flag} {ip}{prefix} -p {proto} -m {proto} {port_flag} {port}"
        f' -m comment --comment "{comment}" -j {target}'
    )


def expected_tables(addresses: list[str], dns_port: int = 53, health_port: int = 8080) -> dict[str, list[str]]:
    """The rules per table as node-cache leaves them: each inserted at the top, so reversed per chain."""
    rules = [r for ip in addresses for r in node_cache_rules(ip, dns_port, health_port)]
    out: dict[str, list[str]] = {}
    for table in ("raw", "filter"):
        lines: list[str] = []
        for chain in dict.fromkeys(r.chain for r in rules if r.table == table):
            lines += [save_line(r) for r in reversed(rules) if r.table == table and r.chain == chain]
        out[table] = lines
    return out
