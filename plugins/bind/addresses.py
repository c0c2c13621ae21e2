"""Turn bind's ADDRESS|IFACE arguments into listen addresses, as CoreDNS's ``listIP`` does.

An argument naming an interface expands to every address on it, IPv4 then IPv6 in the kernel's
order, IPv6 link-local ones with their zone (``fe80::1%eth0``); anything else must be an IP
literal and is kept exactly as written.
"""

from __future__ import annotations

import ipaddress
import logging

from pycoredns.plugin import ConfigError, go_strconv_quote, off_loop

log = logging.getLogger("pycoredns")

Interfaces = dict[str, list[str]]
_LINK_LOCAL_MULTICAST = ipaddress.ip_network("ff02::/16")


@off_loop
def interface_table() -> Interfaces:
    """Every interface's addresses, read once per setup (CoreDNS reads them at setup and reload).

    A failure is a warning, as in CoreDNS: binding by interface name is then impossible, but IP
    literals still work.
    """
    table: Interfaces = {}
    try:
        # Netlink through pyroute2, imported here: it weighs about 20 MB of RSS, which a server
        # that binds only IP literals (every process, every worker) does without.
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            names = {int(link["index"]): str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()}
            for name in names.values():
                table[name] = []
            for a in ipr.get_addr():
                owner = names.get(int(a["index"]))
                ip = a.get_attr("IFA_ADDRESS")
                if owner is not None and ip:
                    table[owner].append(_with_zone(ip, owner))
    except Exception as e:  # netlink unavailable: CoreDNS only warns here
        log.warning(
            "[WARNING] plugin/bind: failed to get interfaces list, cannot bind by interface name: %s", e
        )
        return {}
    return table


def _with_zone(ip: str, iface: str) -> str:
    addr = ipaddress.ip_address(ip)
    # Go zones IPv6 link-local unicast (fe80::/10) and link-local multicast (ff02::/16).
    if addr.version == 6 and (addr.is_link_local or addr in _LINK_LOCAL_MULTICAST):
        return f"{addr}%{iface}"
    return str(addr)


def is_ip(text: str) -> bool:
    """An IP literal as Go's ``net.ParseIP`` accepts it (no zone, no brackets, no prefix)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def names_interfaces(args: list[str]) -> bool:
    """Whether any argument can only be an interface name (so the interface list is needed)."""
    return any(not is_ip(a) for a in args)


def list_ip(args: list[str], interfaces: Interfaces) -> list[str]:
    """The addresses ``args`` stand for; raises with CoreDNS's message on a bad argument."""
    out: list[str] = []
    for arg in args:
        if arg in interfaces:
            out.extend(interfaces[arg])
        elif is_ip(arg):
            out.append(arg)
        else:
            raise ConfigError(f"not a valid IP address or interface name: {go_strconv_quote(arg)}")
    return out

