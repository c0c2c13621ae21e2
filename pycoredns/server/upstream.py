"""Resolving a name through the server's own chain (CoreDNS's ``plugin/pkg/upstream``).

The template plugin follows a CNAME it made, and rewrite's ``cname`` rule looks up the target it
rewrote, by asking the listener that received the query again, as if the same client had sent the
new question: zone routing, the whole chain (rewrite and cache included) and the observers run
once more, and the reply comes back instead of being sent. As in CoreDNS, whose metrics and log
plugins sit in the chain, the lookup is counted and logged like any query. When the chain answers
at once (a cache hit) so does the lookup: no coroutine, no Task.

Each loaded Corefile has one :class:`ChainUpstream`; the runner tells it which dispatcher answers
for each of its listeners as it opens them (or swaps them in on reload). A Corefile loaded but not
served (``-validate``, a setup test) has none, and a lookup fails as CoreDNS's does without a
running server.

CoreDNS has no bound on how deep such lookups nest (a rule whose lookup again matches a rule); a
runaway would exhaust the server, so here a lookup nested more than :data:`MAX_DEPTH` deep fails.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pycoredns import wire
from pycoredns.errors import UpstreamError
from pycoredns.request import Request

MAX_DEPTH = 8

# How many lookups enclose the running code (a task inherits it from the lookup that made it).
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("pycoredns_upstream_depth", default=0)


class Answerer(Protocol):
    """A listener's query path (the Dispatcher): answers by calling ``send``, at once or later."""

    def handle(
        self, local: Any, proto: str, send: Callable[[bytes, Any], None], data: bytes, remote: Any
    ) -> None: ...


class ChainUpstream:
    """The :class:`pycoredns.plugin.Upstream` of one loaded Corefile."""

    def __init__(self) -> None:
        self._listeners: dict[str, Answerer] = {}

    def serve_on(self, server: str, answerer: Answerer) -> None:
        """Queries that came to listener ``server`` (a request's ``server``) are looked up there."""
        self._listeners[server] = answerer

    def lookup(self, req: Request, name: str, qtype: int) -> bytes | Awaitable[bytes]:
        depth = _depth.get()
        if depth >= MAX_DEPTH:
            raise UpstreamError(f"upstream lookups nested more than {MAX_DEPTH} deep")
        try:
            sub = req.with_question(name, qtype)
        except (wire.MalformedQuery, ValueError):  # a label over 63 octets, a name over 255
            raise UpstreamError(f"invalid name to look up: {name}") from None
        listener = self._listeners.get(req.server)
        if listener is None:
            raise UpstreamError("no full server is running")
        got: list[bytes] = []
        later: list[asyncio.Future[bytes]] = []

        def send(reply: bytes, _remote: Any = None) -> None:
            if later:
                if not later[0].done():
                    later[0].set_result(reply)
            elif not got:
                got.append(reply)

        # Tasks and callbacks the chain makes now copy the context: their own lookups nest.
        token = _depth.set(depth + 1)
        try:
            listener.handle(req.local, req.proto, send, sub.wire, req.remote)
        finally:
            _depth.reset(token)
        if got:
            return got[0]
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        later.append(fut)
        return fut
