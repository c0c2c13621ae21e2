"""Resolving a name through the server's own chain (CoreDNS's ``plugin/pkg/upstream``).

The template plugin follows a CNAME it made, and rewrite's ``cname`` rule looks up the target it
rewrote, by asking the listener that received the query again, as if the same client had sent the
new question: zone routing and the whole chain run once more (rewrite and cache included), and the
reply comes back instead of being sent. Such internal queries are not seen by the observers
(metrics, log): they are not client queries.

CoreDNS has no bound on how deep such lookups nest (a rule whose lookup again matches a rule); a
runaway would exhaust the server, so here a lookup nested more than :data:`MAX_DEPTH` deep fails.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

from pycoredns import wire
from pycoredns.errors import UpstreamError
from pycoredns.request import Request

if TYPE_CHECKING:
    from pycoredns.server.config import Instance
    from pycoredns.server.dispatch import Dispatcher

MAX_DEPTH = 8

# How many lookups enclose the running code (a task inherits it from the lookup that made it).
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("pycoredns_upstream_depth", default=0)


class ChainUpstream:
    """The :class:`pycoredns.plugin.Upstream` of one loaded Corefile."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._dispatchers: dict[str, Dispatcher] = {}

    async def lookup(self, req: Request, name: str, qtype: int) -> bytes:
        depth = _depth.get()
        if depth >= MAX_DEPTH:
            raise UpstreamError(f"upstream lookups nested more than {MAX_DEPTH} deep")
        dispatcher = self._dispatcher(req.server)
        if dispatcher is None:
            raise UpstreamError("no full server is running")
        try:
            sub = req.with_question(name, qtype)
        except (wire.MalformedQuery, ValueError):  # a label over 63 octets, a name over 255
            raise UpstreamError(f"invalid name to look up: {name}") from None
        token = _depth.set(depth + 1)
        try:
            return await dispatcher.answer(sub)
        finally:
            _depth.reset(token)

    def _dispatcher(self, server: str) -> Dispatcher | None:
        found = self._dispatchers.get(server)
        if found is not None:
            return found
        from pycoredns.server.dispatch import Dispatcher  # dispatch imports config, config imports us

        instance = self._instance
        for key, sites in instance.listeners.items():
            if str(key) == server:
                found = self._dispatchers[server] = Dispatcher(key, sites, instance.dropped)
                return found
        return None
