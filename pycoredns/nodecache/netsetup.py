"""The node's network setup for NodeLocal DNSCache: interface, NOTRACK/ACCEPT rules, sync, teardown.

Used by the node-cache program (from its flags) and by the bind plugin (from its block options).
The order is node-cache's: the interface before the listeners bind (``ensure_interface``), the
rules only once they are up (``ensure_rules``), both re-checked every sync interval (``run``),
and on exit every rule, duplicates too, then the interface removed (``teardown``). Failures are
logged as node-cache logs them and counted in ``coredns_nodecache_setup_errors_total``; none
is ever raised to the caller, because DNS on the node must keep running.

The methods block (netlink, iptables subprocesses, the xtables lock wait): async code calls them
through ``asyncio.to_thread``, as ``run`` does. One lock serialises them, so a teardown waits for
a sync pass in flight (which stops early once teardown has begun) and never overlaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pycoredns.nodecache import errors_metric, netif
from pycoredns.nodecache.iptables import Iptables, IptablesError, Rule, is_ipv6, node_cache_rules

if TYPE_CHECKING:
    from pycoredns.server.instances import NodeRegistry

log = logging.getLogger("pycoredns.nodecache")

MAX_DUPLICATES = 10_000  # bounds the delete loop should a "deleted" rule never go away


@dataclass
class NetSetupConfig:
    addresses: list[str]  # local IPs (node-cache: all one family; here each picks its own tool)
    interface: str = "nodelocaldns"
    setup_interface: bool = True
    setup_iptables: bool = True
    dns_port: int = 53
    health_port: int = 8080
    sync_interval: float = 60.0  # seconds
    teardown: bool = True  # False = -skipteardown
    # Which iptables backend; None = detect as kubelet's wrapper does (the normal case).
    iptables_mode: str | None = None


class NetSetup:
    @staticmethod
    def expose_errors() -> None:
        """Export coredns_nodecache_setup_errors_total on the process registry (idempotent)."""
        errors_metric.register()

    def __init__(self, cfg: NetSetupConfig, share: NodeRegistry | None = None) -> None:
        self.cfg = cfg
        # The instances on this node that share the interface and rules (-instancedir): every
        # pass takes the node lock, and the last instance out removes them.
        self.share = share
        self._lock = threading.RLock()
        self._closed = False
        self._torn_down = False
        self._tools: dict[bool, Iptables] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # What the ensure passes changed on the node: the link if one made it, the addresses they
        # put on it (what :meth:`withdraw` takes back).
        self._created = False
        self._added: list[str] = []

    # -- the rule list -------------------------------------------------------------------------
    def rules(self) -> list[tuple[str, Rule]]:
        """``(address, rule)`` for every address, 12 each, in node-cache's order."""
        out = []
        for ip in self.cfg.addresses:
            bare = ip.split("%")[0]
            out += [(bare, r) for r in node_cache_rules(bare, self.cfg.dns_port, self.cfg.health_port)]
        return out

    @contextlib.contextmanager
    def _node(self) -> Iterator[None]:
        """The node-wide lock when instances share this setup, then this object's own."""
        with self.share.locked() if self.share is not None else contextlib.nullcontext(), self._lock:
            yield

    def _tool(self, ip: str) -> Iptables:
        v6 = is_ipv6(ip)
        tool = self._tools.get(v6)
        if tool is None:
            tool = self._tools[v6] = Iptables(v6, self.cfg.iptables_mode)
        return tool

    # -- ensure --------------------------------------------------------------------------------
    def ensure_interface(self) -> None:
        """Create (kind dummy) or reuse the interface and add each address as /32 or /128."""
        if not self.cfg.setup_interface:
            return
        with self._node():
            if self._closed:
                return
            name = self.cfg.interface
            error: netif.InterfaceError | None = None
            added: list[str] = []
            try:
                existed = netif.ensure(name, self.cfg.addresses, added)
            except netif.InterfaceError as e:
                existed, error = False, e  # node-cache: only a link it could not find fails
            self._added.extend(a for a in added if a not in self._added)
            if not existed:
                self._created = True  # made here, or half made: either way it was not there
                if error is not None:
                    log.error("[ERROR] Failed to add non-existent interface %s: %s", name, error)
                    errors_metric.count(errors_metric.INTERFACE_ADD)
                log.info("[INFO] Added interface - %s", name)
            if error is not None:
                log.error("[ERROR] Error checking dummy device %s - %s", name, error)
                errors_metric.count(errors_metric.INTERFACE_CHECK)

    def ensure_rules(self) -> None:
        """Check every rule; insert at the top of its chain what is missing (logged like node-cache)."""
        if not self.cfg.setup_iptables:
            return
        with self._node():
            for ip, rule in self.rules():
                if self._closed:  # teardown has begun: stop adding
                    return
                try:
                    existed = self._tool(ip).ensure(rule)
                except IptablesError as e:
                    log.error("[ERROR] Error checking/adding iptables rule %s, error - %s", rule, e)
                    _count(e)
                    continue
                if existed:
                    log.debug("[DEBUG] iptables rule %s for nodelocaldns already exists", rule)
                else:
                    log.info("[INFO] Added back nodelocaldns rule - %s", rule)

    def sync(self) -> None:
        """One periodic pass: rules, then the interface (node-cache's order)."""
        self.ensure_rules()
        self.ensure_interface()

    async def run(self) -> None:
        """Every ``sync_interval``: :meth:`sync`. Ends when :meth:`teardown` or :meth:`stop` is called.

        The first pass comes one interval after the call (node-cache's ticker); call
        :meth:`ensure_rules` first for an immediate install.
        """
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not self._closed:
                # Not wait_for: Python 3.11's loses a cancel that comes as the wait ends, and the
                # sync loop would then outlive its shutdown.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.cfg.sync_interval):
                        await self._wake.wait()
                if self._closed:
                    break
                await asyncio.to_thread(self.sync)
        finally:
            log.warning("[WARNING] Exiting iptables/interface check goroutine")

    # -- the end -------------------------------------------------------------------------------
    def stop(self) -> None:
        """End :meth:`run` and any further ensure, without removing anything."""
        self._closed = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop closed meanwhile
                pass

    def teardown(self) -> None:
        """Delete every rule (duplicates too) and then the interface; idempotent.

        With ``teardown=False`` (-skipteardown) this only stops the sync loop. When instances
        share the setup, this instance leaves the node's registry first, under the node lock, and
        removes nothing while another live instance remains.
        """
        self.stop()
        with self._node():
            others = self.share.leave() if self.share is not None else []
            if not self.cfg.teardown or self._torn_down:
                return
            self._torn_down = True
            if others:
                log.info("[INFO] Not tearing down: %d other instance(s) on this node still use the interface and "
                         "rules (%s)", len(others), ", ".join(str(m.get("id")) for m in others))
                return
            log.info("[INFO] Tearing down")
            if self.cfg.setup_iptables:
                self.delete_rules(self.rules())
            if self.cfg.setup_interface:
                try:
                    netif.remove(self.cfg.interface)
                except netif.InterfaceError as e:
                    log.error("[ERROR] %s", e)

    def withdraw(self) -> None:
        """Undo this setup's interface changes and stop it: a reload that prepared it failed.

        The node goes back to what it was before: a link this setup created is removed, else the
        addresses it added (not those it found in place) are taken off. Rules are only installed
        once a configuration serves, so there are none to undo.
        """
        self.stop()
        with self._node():
            if self._created:
                try:
                    netif.remove(self.cfg.interface)
                except netif.InterfaceError as e:
                    log.error("[ERROR] %s", e)
            elif self._added:
                try:
                    netif.remove_addresses(self.cfg.interface, self._added)
                except netif.InterfaceError as e:
                    log.error("[ERROR] %s", e)
            self._created, self._added = False, []

    def delete_rules(self, rules: list[tuple[str, Rule]]) -> None:
        """Delete every copy of each rule; errors logged and counted, never raised."""
        with self._lock:
            for ip, rule in rules:
                try:
                    for _ in range(MAX_DUPLICATES):
                        if not self._tool(ip).delete(rule):
                            break
                except IptablesError as e:
                    log.error("[ERROR] Failed deleting iptables rule %s, error - %s", rule, e)
                    _count(e)

    def retire(self, successor: NetSetup | None) -> None:
        """Hand over to ``successor`` (a reload changed the setup): stop, and remove what it no longer wants.

        Rules and addresses the successor keeps stay in place, so traffic is never dropped.
        """
        self.stop()
        if successor is None or successor.cfg.interface != self.cfg.interface:
            self.teardown()
            return
        if not self.cfg.teardown:
            return
        with self._lock:
            keep = set(successor.rules()) if successor.cfg.setup_iptables else set()
            if self.cfg.setup_iptables:
                self.delete_rules([r for r in self.rules() if r not in keep])
            gone = [a for a in self.cfg.addresses if a not in successor.cfg.addresses]
            if self.cfg.setup_interface and gone:
                try:
                    netif.remove_addresses(self.cfg.interface, gone)
                except netif.InterfaceError as e:
                    log.error("[ERROR] %s", e)


def _count(e: IptablesError) -> None:
    errors_metric.count(errors_metric.IPTABLES_LOCK if e.locked else errors_metric.IPTABLES)
