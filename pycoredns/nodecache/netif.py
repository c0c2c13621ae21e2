"""The node-local interface: a ``dummy`` link, left down, holding each local IP as a host route.

node-cache's ``pkg/netif`` with pyroute2: an existing link of that name (of any kind) is reused
and only gets the missing addresses; a missing one is created with just a name and kind. The
kernel delivers traffic to addresses on a down device locally, so the link is never set up.

Kernels built without the ``dummy`` kind refuse to create one; ``PYCOREDNS_INTERFACE_KIND``
overrides the kind for those (tests use ``bridge``, whose down state behaves the same way). It
is an explicit override, never a silent fallback: production always asks for ``dummy``.
"""

from __future__ import annotations

import errno
import ipaddress
import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pycoredns.errors import PyCoreDNSError
from pycoredns.threads import off_loop

__all__ = ["InterfaceError", "ensure", "exists", "interface_kind", "off_loop", "remove",
           "remove_addresses"]

DEFAULT_KIND = "dummy"
KIND_ENV = "PYCOREDNS_INTERFACE_KIND"
IFA_F_NODAD = 0x02  # IPv6: usable at once, no duplicate address detection on a down link


class InterfaceError(PyCoreDNSError):
    """The node-local interface could not be checked, created, changed or removed."""


def interface_kind() -> str:
    """The link kind to create: ``dummy`` unless ``PYCOREDNS_INTERFACE_KIND`` says otherwise."""
    return os.environ.get(KIND_ENV, "").strip() or DEFAULT_KIND


def host_prefix(ip: str) -> tuple[str, int, int]:
    """``(address, prefixlen, family)``: /32 for IPv4, /128 for IPv6 (zone dropped)."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    if addr.version == 4:
        return str(addr), 32, 2  # AF_INET
    return str(addr), 128, 10  # AF_INET6


def _error(action: str, name: str, e: NetlinkError | OSError) -> InterfaceError:
    code = e.code if isinstance(e, NetlinkError) else e.errno
    text = os.strerror(code) if code else str(e)
    return InterfaceError(f"{action} {name}: {text}")


def link_index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


@off_loop
def exists(name: str) -> bool:
    with IPRoute() as ipr:
        return link_index(ipr, name) is not None


@off_loop
def ensure(name: str, addresses: list[str], added: list[str] | None = None) -> bool:
    """Make ``name`` exist and hold ``addresses``; True if it already existed.

    Existing link: every address is added, errors ignored (EEXIST is the usual one), as
    node-cache does. New link: created with the configured kind, then each address; the first
    failure raises. Raises :class:`InterfaceError`. The addresses this call put on the link (not
    those it found there) are appended to ``added``, so the caller can take them back.
    """
    put = added if added is not None else []
    with IPRoute() as ipr:
        try:
            index = link_index(ipr, name)
        except (NetlinkError, OSError) as e:
            raise _error("checking interface", name, e) from e
        if index is not None:
            for ip in addresses:
                try:
                    _add_address(ipr, index, ip)
                except (NetlinkError, OSError):
                    continue
                put.append(ip)
            return True
        kind = interface_kind()
        try:
            ipr.link("add", ifname=name, kind=kind)
            index = link_index(ipr, name)
        except (NetlinkError, OSError) as e:
            if isinstance(e, NetlinkError) and e.code == errno.EOPNOTSUPP:
                raise InterfaceError(
                    f"adding interface {name}: the kernel has no {kind!r} link type"
                    f" (set {KIND_ENV} to use another kind)"
                ) from e
            raise _error("adding interface", name, e) from e
        if index is None:
            raise InterfaceError(f"adding interface {name}: link not found after creation")
        for ip in addresses:
            try:
                _add_address(ipr, index, ip)
            except (NetlinkError, OSError) as e:
                raise _error(f"adding address {ip} to", name, e) from e
            put.append(ip)
        return False


def _add_address(ipr: IPRoute, index: int, ip: str) -> None:
    address, prefixlen, family = host_prefix(ip)
    if family == 10:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, family=family, flags=IFA_F_NODAD)
    else:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, family=family)


@off_loop
def remove_addresses(name: str, addresses: list[str]) -> None:
    """Take ``addresses`` off ``name`` (absent ones and an absent link are fine)."""
    with IPRoute() as ipr:
        index = link_index(ipr, name)
        if index is None:
            return
        for ip in addresses:
            address, prefixlen, family = host_prefix(ip)
            try:
                ipr.addr("del", index=index, address=address, prefixlen=prefixlen, family=family)
            except NetlinkError as e:
                if e.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                    raise _error(f"removing address {ip} from", name, e) from e


@off_loop
def remove(name: str) -> bool:
    """Delete the link ``name`` (whoever created it); False if there was none."""
    with IPRoute() as ipr:
        try:
            index = link_index(ipr, name)
            if index is None:
                return False
            ipr.link("del", index=index)
        except (NetlinkError, OSError) as e:
            raise _error("removing interface", name, e) from e
        return True
