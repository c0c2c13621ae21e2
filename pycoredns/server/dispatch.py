"""One listener's query path: read the question, route to a zone, run the chain, reply, observe.

This is the hot path. A synchronous handler result (the cache hit) is sent and observed without a
coroutine or Task; only a handler that returns an awaitable costs one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pycoredns import wire
from pycoredns.plugin import HandlerError
from pycoredns.request import Request, truncate
from pycoredns.server.config import ListenerKey, Site

log = logging.getLogger("pycoredns")

Send = Callable[[bytes], None]

# Plugins that make a listener accept classes other than IN (CoreDNS's server.go).
_ANY_CLASS_PLUGINS = frozenset(("chaos", "forward", "proxy"))


class Stats:
    """Process-wide counters the server itself keeps (plain integers: read on scrape)."""

    panics = 0


class DroppedObserver:
    """Receives queries no chain handled (CoreDNS's zone="dropped" accounting)."""

    def observe_dropped(self, req: Request | None, server: str, proto: str, reply: bytes | None) -> None: ...


class Dispatcher:
    """Routes a listener's queries to the zones its server blocks serve."""

    def __init__(self, key: ListenerKey, sites: dict[str, Site], dropped: list[Any] | None = None) -> None:
        self.key = key
        self.server = str(key)
        # Zones in wire form, lower-cased: b"\x07example\x03org\x00" -> Site.
        self.sites: dict[bytes, Site] = {_zone_wire(z): s for z, s in sites.items()}
        self.root = self.sites.get(b"\x00")
        self.any_class = any(
            name in _ANY_CLASS_PLUGINS for s in sites.values() for name in s.config.directives
        )
        self.dropped: list[Any] = dropped or []

    # ------------------------------------------------------------------------------------------
    def handle(self, data: bytes, remote: tuple[Any, ...], local: tuple[Any, ...], proto: str, send: Send) -> None:
        try:
            q = wire.read_question(data)
        except wire.MalformedQuery as e:
            if e.rcode is not None:
                reply = wire.error_reply(data, e.rcode, e.question_end, False, 512, False)
                send(reply)
                self._drop(None, proto, reply)
            return
        req = Request(data, q, proto, remote, local, self.server)
        if q.edns and q.edns_version != 0:
            reply = wire.error_reply(data, wire.BADVERS, q.end, True, q.udp_size, q.do)
            send(reply)
            self._drop(req, proto, reply)
            return
        if q.qclass != wire.CLASS_IN and not self.any_class:
            self._refuse(req, send)
            return
        site = self._route(data, q)
        if site is None:
            self._refuse(req, send)
            return
        cfg = site.config
        req.zone = site.zone
        chain = cfg.chain
        if chain is None:
            self._refuse(req, send)
            return
        try:
            result = chain.serve(req)
        except HandlerError as e:
            self._finish(req, cfg.observers, e.rcode, send, e)
            return
        except Exception as e:  # the one error boundary: never let a query take the server down
            self._panic(req, cfg.debug, e)
            self._finish(req, cfg.observers, wire.SERVFAIL, send, e)
            return
        if type(result) is bytearray:
            result = bytes(result)
        if type(result) is bytes:
            if proto == "udp" and len(result) > q.udp_size:
                result = truncate(result, q.udp_size)
            send(result)
            if cfg.observers:
                rcode = result[3] & 0xF
                err = req.error
                for o in cfg.observers:
                    o.observe(req, result, rcode, err)
            return
        if type(result) is int:
            self._finish(req, cfg.observers, result, send, req.error)
            return
        fut = asyncio.ensure_future(result)  # type: ignore[arg-type]
        fut.add_done_callback(lambda f: self._done(f, req, cfg.observers, cfg.debug, send))

    # ------------------------------------------------------------------------------------------
    def _route(self, data: bytes, q: wire.Question) -> Site | None:
        sites = self.sites
        name_end = q.name_end
        found = None
        for off in q.labels:
            site = sites.get(data[off:name_end].lower())
            if site is not None:
                if q.qtype != 43:  # DS: keep looking, the parent zone answers (CoreDNS)
                    return site
                found = site
        return found or self.root

    def _done(self, fut: asyncio.Future[Any], req: Request, observers: list[Any], debug: bool, send: Send) -> None:
        try:
            result = fut.result()
        except HandlerError as e:
            self._finish(req, observers, e.rcode, send, e)
            return
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._panic(req, debug, e)
            self._finish(req, observers, wire.SERVFAIL, send, e)
            return
        if isinstance(result, (bytes, bytearray)):
            result = bytes(result)
            if req.proto == "udp" and len(result) > req.q.udp_size:
                result = truncate(result, req.q.udp_size)
            send(result)
            rcode = result[3] & 0xF
            for o in observers:
                o.observe(req, result, rcode, req.error)
        else:
            self._finish(req, observers, int(result), send, req.error)

    def _finish(self, req: Request, observers: list[Any], rcode: int, send: Send, err: BaseException | None) -> None:
        reply = req.error_reply(rcode)
        send(reply)
        for o in observers:
            o.observe(req, reply, rcode, err)

    def _refuse(self, req: Request, send: Send) -> None:
        reply = req.error_reply(wire.REFUSED)
        send(reply)
        self._drop(req, req.proto, reply)

    def _drop(self, req: Request | None, proto: str, reply: bytes | None) -> None:
        for d in self.dropped:
            d.observe_dropped(req, self.server, proto, reply)

    def _panic(self, req: Request, debug: bool, e: BaseException) -> None:
        Stats.panics += 1
        log.error("[ERROR] Recovered from panic in server: %r %s: %s", self.server, req.qname, e, exc_info=e)
        if debug:
            log.debug("[DEBUG] panic while serving %s", req.qname)


def _zone_wire(zone: str) -> bytes:
    if zone == ".":
        return b"\x00"
    out = bytearray()
    for label in zone.rstrip(".").split("."):
        raw = label.encode("idna") if not label.isascii() else label.encode()
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out.lower())
