"""The running server: opens listeners for an instance, swaps instances on reload, stops cleanly."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from pycoredns import COREDNS_VERSION, __version__
from pycoredns import log as clog
from pycoredns.errors import ServerConfigError
from pycoredns.plugin import Hook
from pycoredns.server.config import Instance, ListenerKey
from pycoredns.server.dispatch import INFLIGHT, Dispatcher
from pycoredns.server.listener import (
    DispatcherHolder,
    TCPAcceptor,
    UDPProtocol,
    bind_targets,
    tcp_socket,
    udp_socket,
)
from pycoredns.server.steering import Steering, detach, leave, pending_bytes

log = logging.getLogger("pycoredns")


@dataclass
class Listener:
    key: ListenerKey
    holder: DispatcherHolder
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    acceptors: list[TCPAcceptor] = field(default_factory=list)
    addresses: list[tuple[Any, ...]] = field(default_factory=list)  # bound (host, port) per socket
    udp: list[socket.socket] = field(default_factory=list)  # the UDP sockets, for steering and leaving

    async def close(self) -> None:
        for t in self.transports:
            t.close()
        await self.stop_accepting()

    async def stop_accepting(self) -> None:
        """Close the TCP listening sockets (connections already accepted stay open)."""
        for a in self.acceptors:
            a.close()
        self.acceptors.clear()


class Server:
    """Owns the sockets. Instances come and go (reload); the sockets stay where they can."""

    def __init__(self, instance: Instance, *, quiet: bool = False, steering: Steering | None = None) -> None:
        self.instance = instance
        self.quiet = quiet
        self.steering = steering
        self.listeners: dict[ListenerKey, Listener] = {}
        self.stopping = False

    # ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._run_hooks(self.instance.lifecycle.startup, "startup", fatal=True)
        for key in self.instance.listeners:
            self.listeners[key] = await self._open(key, self._dispatcher(self.instance, key))
        await self._run_hooks(self.instance.lifecycle.listen, "listen")
        if not self.quiet:
            self.banner(self.instance)

    def _dispatcher(self, instance: Instance, key: ListenerKey) -> Dispatcher:
        dispatcher = Dispatcher(key, instance.listeners[key], instance.dropped)
        instance.upstream.serve_on(dispatcher.server, dispatcher)  # lookups of this listener's queries
        return dispatcher

    async def _open(self, key: ListenerKey, dispatcher: Dispatcher) -> Listener:
        if key.transport != "dns":
            raise ServerConfigError(f"transport {key.transport}:// is not supported by this build")
        if key.port == 0 and self.steering is not None:
            # Each worker would get its own port from the kernel: no group to share, no steering.
            raise ServerConfigError(f"listen {key}: port 0 cannot be shared by workers: give a port")
        # Port 0 (tests, -dns.port 0) lets the kernel pick the UDP port; TCP and the other family
        # must then get the same one, which may be taken: pick again a few times.
        for attempt in range(8):
            try:
                return await self._open_once(key, dispatcher)
            except OSError as e:
                if key.port != 0 or e.errno != errno.EADDRINUSE or attempt == 7:
                    raise ServerConfigError(f"listen {key}: {e.strerror or e}") from e
        raise AssertionError("unreachable")

    async def _open_once(self, key: ListenerKey, dispatcher: Dispatcher) -> Listener:
        loop = asyncio.get_running_loop()
        listener = Listener(key, DispatcherHolder(dispatcher))
        port = key.port
        try:
            for family, addr in bind_targets(key.host):
                usock = udp_socket(family, addr, port, key.host, reuse_port=key.port != 0)
                port = usock.getsockname()[1]
                listener.udp.append(usock)
                if self.steering is not None:
                    self.steering.opened(usock)
                try:
                    tsock = tcp_socket(family, addr, port, key.host, reuse_port=key.port != 0)
                except OSError:
                    usock.close()
                    raise
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: UDPProtocol(listener.holder), sock=usock
                )
                listener.transports.append(transport)
                listener.acceptors.append(TCPAcceptor(listener.holder, tsock))
                listener.addresses.append(usock.getsockname()[:2])
        except OSError:
            await listener.close()
            raise
        return listener

    def banner(self, instance: Instance) -> None:
        lines = []
        for key, sites in instance.listeners.items():
            for zone in sites:
                prefix = "" if key.transport == "dns" else f"{key.transport}://"
                lines.append(f"{prefix}{zone}:{key.port}" + (f" on {key.host}" if key.host else ""))
        for line in sorted(lines):
            clog.out(line)
        clog.out(f"CoreDNS-{COREDNS_VERSION}")
        clog.out(f"linux/{_arch()}, python{sys.version.split()[0]}, pycoredns-{__version__}")

    # ------------------------------------------------------------------------------------------
    async def reload(self, new: Instance) -> None:
        """Swap in a new instance: set up completely first, then switch sockets over, then retire.

        Sockets whose (transport, address, port) stays are kept open and only get the new
        dispatcher, so no query is lost across the swap.
        """
        old = self.instance
        opened: dict[ListenerKey, Listener] = {}
        try:
            await self._run_hooks(new.lifecycle.startup, "startup", fatal=True)
            for key in new.listeners:
                if key not in self.listeners:
                    opened[key] = await self._open(key, self._dispatcher(new, key))
        except Exception:
            for listener in opened.values():
                await listener.close()
            await self._run_hooks(new.lifecycle.shutdown, "shutdown")
            raise
        if self.stopping:
            # SIGTERM arrived while the new config was starting: retire it, never block the stop.
            for listener in opened.values():
                await listener.close()
            await self._run_hooks(new.lifecycle.shutdown, "shutdown")
            return
        for key, listener in self.listeners.items():
            if key in new.listeners:
                listener.holder.dispatcher = self._dispatcher(new, key)
        for key in [k for k in self.listeners if k not in new.listeners]:
            await self.listeners.pop(key).close()
        self.listeners.update(opened)
        self.instance = new
        await self._run_hooks(old.lifecycle.shutdown, "shutdown")
        await self._run_hooks(new.lifecycle.listen, "listen")
        if not self.quiet:
            self.banner(new)

    async def stop(self, before_close: Hook | None = None) -> None:
        """Stop in CoreDNS's order: shutdown hooks (health's lameduck, DNS still answering), then
        ``before_close`` (the process-exit hooks: node-cache's teardown, so traffic falls back to
        kube-dns while this server still answers), then the sockets, then final hooks."""
        self.stopping = True
        await self._run_hooks(self.instance.lifecycle.shutdown, "shutdown")
        if before_close is not None:
            await self._run_hooks([before_close], "exit")
        for listener in self.listeners.values():
            await listener.close()
        self.listeners.clear()
        await self._run_hooks(self.instance.lifecycle.final_shutdown, "final shutdown")

    def udp_sockets(self) -> list[socket.socket]:
        return [s for listener in self.listeners.values() for s in listener.udp]

    async def leave(self, max_wait: float = 5.0) -> None:
        """Hand the traffic to the other instance on these addresses, then wait until the queries
        already here are answered (see :mod:`pycoredns.server.steering`).

        The group's program goes first (a connected socket cannot detach it), then every UDP
        socket is connected to itself, so the kernel picks only the other instance's sockets, and
        the TCP listening sockets close. What is queued is still read and answered; this returns
        once the receive queues are empty and no query is in flight (at most ``max_wait``).
        """
        socks = self.udp_sockets()
        for s in socks:
            try:
                detach(s)
            except OSError as e:
                log.warning("[WARNING] Cannot detach the steering program: %s", e)
        for s in socks:
            try:
                leave(s)
            except OSError as e:
                log.warning("[WARNING] Cannot take %s out of its reuseport group: %s", s.getsockname(), e)
        for listener in self.listeners.values():
            await listener.stop_accepting()
        await self.drain(socks, max_wait)

    async def drain(self, socks: list[socket.socket], max_wait: float) -> None:
        deadline = time.monotonic() + max_wait
        await asyncio.sleep(0.05)  # datagrams the kernel steered just before the switch
        quiet = 0
        while quiet < 3 and time.monotonic() < deadline:
            busy = INFLIGHT[0] > 0 or any(_queued(s) for s in socks)
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(0.02)

    async def _run_hooks(self, hooks: list[Any], what: str, fatal: bool = False) -> None:
        for hook in hooks:
            try:
                await hook()
            except Exception as e:
                if fatal:
                    raise
                log.error("[ERROR] %s hook failed: %s", what, e)

    def port_of(self, key: ListenerKey | None = None) -> int:
        """The bound port of a listener (useful when the Corefile asked for port 0)."""
        listener = self.listeners[key] if key else next(iter(self.listeners.values()))
        return int(listener.addresses[0][1])


def _queued(s: socket.socket) -> bool:
    try:
        return pending_bytes(s) > 0
    except OSError:
        return False


def _arch() -> str:
    import platform

    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)

