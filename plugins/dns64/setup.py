"""Parse ``dns64 [PREFIX] { prefix PREFIX; translate_all; allow_ipv4 }`` as CoreDNS does.

The prefix is a CIDR as Go's ``net.ParseCIDR`` reads it; it must be IPv6 with a length of 32, 40,
48, 56, 64 or 96 (RFC 6052). As in CoreDNS, a line that gives PREFIX as an argument has its block
(if any) skipped, and a CIDR that does not parse is reported without a position.
"""

from __future__ import annotations

from pycoredns.plugin import ConfigError, Controller
from pycoredns.plugin import parse_cidr as go_parse_cidr
from pycoredns.plugins.dns64 import metrics
from pycoredns.plugins.dns64.handler import DNS64, Options, Prefix, go_ip

DEFAULT_PREFIX = "64:ff9b::/96"  # the well-known prefix


def parse_cidr(text: str) -> tuple[bytes, int, int]:
    """Go's ``net.ParseCIDR``: (network octets, prefix length, address length in bits)."""
    try:
        network = go_parse_cidr(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return network.network_address.packed, network.prefixlen, network.max_prefixlen


def parse_prefix(c: Controller, text: str) -> Prefix:
    network, length, size = parse_cidr(text)
    shown = f'"{go_ip(network)}/{length}"'
    if size != 128:
        raise c.errf("invalid netmask %d IPv6 address: %s", size, shown)
    if length % 8 != 0 or length < 32 or length > 96:
        raise c.errf("invalid prefix length %s", shown)
    return Prefix(network, length)


def parse(c: Controller) -> Options:
    opts = Options(prefix=parse_prefix(c, DEFAULT_PREFIX))
    while c.next():
        args = c.remaining_args(at_most=1)
        if args:
            opts.prefix = parse_prefix(c, args[0])
            continue  # as CoreDNS: a block after the argument is not read
        while c.next_block():
            option = c.val()
            if option == "prefix":
                opts.prefix = parse_prefix(c, c.one_arg())
            elif option == "translate_all":
                opts.translate_all = True
            elif option == "allow_ipv4":
                opts.allow_ipv4 = True
            else:
                raise c.unknown_property()
    return opts


def setup(c: Controller) -> None:
    opts = parse(c)
    metrics.register(c)
    upstream = c.upstream
    c.add_plugin(lambda next: DNS64(next, opts, upstream))
