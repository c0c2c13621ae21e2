"""Parse ``bind``: CoreDNS's listen addresses, plus the optional network setup for them.

    bind ADDRESS|IFACE... {
        except ADDRESS|IFACE...
        interface NAME          # node-local interface holding the addresses (kind dummy)
        notrack [HEALTH_PORT]   # node-cache's 12 NOTRACK/ACCEPT rules per address
        sync DURATION           # re-check interval, default 60s
        keep                    # leave interface and rules in place at exit (-skipteardown)
    }

CoreDNS's own errors keep CoreDNS's text (no position, as its ``plugin.Error``); the network
options report the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pycoredns import plugin as api
from pycoredns.plugin import ConfigError, Controller, go_strconv_quote
from pycoredns.plugins.bind import network
from pycoredns.plugins.bind.addresses import Interfaces, interface_table, list_ip, names_interfaces

if TYPE_CHECKING:
    from pycoredns.plugin import NetSetupConfig

IFNAMSIZ = 16  # Linux interface names hold at most 15 bytes


@dataclass
class BindLine:
    addrs: list[str]
    except_: list[str] = field(default_factory=list)
    interface: str | None = None
    notrack: bool = False
    health_port: int = 8080
    sync: float = 60.0
    keep: bool = False

    @property
    def wants_network(self) -> bool:
        return self.interface is not None or self.notrack


def setup(c: Controller) -> None:
    interfaces: Interfaces | None = None  # read once, and only when an argument names an interface
    hosts: list[str] = []
    plans: dict[str, NetSetupConfig] = {}
    where = ""
    while c.next():
        line_no = c.line()
        b = parse(c)
        if interfaces is None and names_interfaces(b.addrs + b.except_):
            interfaces = interface_table()
        ips = list_ip(b.addrs, interfaces or {})
        excluded = list_ip(b.except_, interfaces or {})
        # Concatenated, not de-duplicated, as CoreDNS: a repeat fails later as "already defined".
        kept = [ip for ip in ips if ip not in excluded]
        hosts.extend(kept)
        if b.wants_network and kept:
            where = where or f"{c.file()}:{line_no}"
            network.merge(plans, _net_config(c, b, kept), f"{c.file()}:{line_no}")
    c.set_listen_hosts(hosts)
    if not c.runtime.worker.primary:
        plans = {}  # with workers, the primary one sets the node's network up, for the instance
    network.register(c, plans, where)


def parse(c: Controller) -> BindLine:
    args = c.remaining_args()
    if not args:
        raise ConfigError("at least one address or interface name is expected")
    b = BindLine(args)
    while c.next_block():
        option = c.val()
        if option == "except":
            b.except_ = c.remaining_args()
            if not b.except_:
                raise ConfigError("at least one address or interface must be given to except subdirective")
        elif option == "interface":
            name = c.one_arg()
            c.no_args()
            b.interface = _interface_name(c, name)
        elif option == "notrack":
            rest = c.remaining_args(at_most=1)
            b.notrack = True
            ports = _ports(c)
            if len(ports) != 1:
                found = ", ".join(map(str, ports))
                raise c.err(f"notrack needs the server block on a single port, found {found}")
            if rest:
                b.health_port = c.integer(rest[0], minimum=1, maximum=65535)
        elif option == "sync":
            text = c.one_arg()
            c.no_args()
            b.sync = c.duration(text)
            if b.sync <= 0:
                raise c.err(f"sync interval must be positive: {text}")
        elif option == "keep":
            c.no_args()
            b.keep = True
        else:
            raise ConfigError(f"invalid option {go_strconv_quote(option)}")
    return b


def _interface_name(c: Controller, name: str) -> str:
    if not name or len(name.encode()) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise c.err(f"invalid interface name {go_strconv_quote(name)}")
    for ch in name:
        if ch.isspace() or ch == ":":
            raise c.err(f"invalid interface name {go_strconv_quote(name)}")
    return name


def _ports(c: Controller) -> list[int]:
    return sorted({int(a.port) for a in c.addresses})


def _net_config(c: Controller, b: BindLine, addresses: list[str]) -> NetSetupConfig:
    ports = _ports(c)
    return api.NetSetupConfig(
        addresses=list(dict.fromkeys(a.split("%")[0] for a in addresses)),
        interface=b.interface or "nodelocaldns",
        setup_interface=b.interface is not None,
        setup_iptables=b.notrack,
        dns_port=ports[0] if ports else 53,
        health_port=b.health_port,
        sync_interval=b.sync,
        teardown=not b.keep,
    )
