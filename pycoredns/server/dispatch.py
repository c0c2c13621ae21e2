"""One listener's query path: read the question, route to a zone, run the chain, reply, observe.

This is the hot path. A synchronous handler result (the cache hit) is sent and observed without a
coroutine or Task; only a handler that returns an awaitable costs one. A block with a tracing
sampler has its queries counted by C iterators (:func:`_picker`), so the queries it does not
sample run the same Python code as those of a block without one.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain as chain_iterables
from itertools import cycle, repeat
from time import perf_counter
from typing import Any

from pycoredns import counters, wire
from pycoredns.dns import zone_to_wire
from pycoredns.errors import HandlerError
from pycoredns.plugin import DroppedObserver, Handler, Result, Sampler
from pycoredns.request import Request, truncate
from pycoredns.results import Deferred, then
from pycoredns.server.config import ListenerKey, Site, tcp_limits

log = logging.getLogger("pycoredns")

Send = Callable[[bytes, Any], None]

class Route:
    """What the query path needs of a matched zone, flattened for the hot path."""

    __slots__ = ("zone", "chain", "observers", "on_reply", "debug", "pick")

    def __init__(self, site: Site) -> None:
        self.zone = site.zone
        self.chain = site.config.chain
        self.pick = _picker(self.chain, site.config.sampler)
        self.observers = tuple(site.config.observers)
        # What sees a reply without an error (not the errors plugin), as one call: the observer
        # itself when there is one (prometheus, in a node cache's blocks), no loop per query.
        replying = tuple(o for o in self.observers if not getattr(o, "only_errors", False))
        self.on_reply: Callable[[Request, bytes, int, None], None] | None = (
            None if not replying
            else replying[0].observe if len(replying) == 1
            else partial(_observe_each, replying)
        )
        self.debug = site.config.debug


def _observe_each(
    observers: tuple[Any, ...], req: Request, reply: bytes, rcode: int, err: BaseException | None
) -> None:
    for o in observers:
        o.observe(req, reply, rcode, err)


def _picker(chain: Handler | None, sampler: Sampler | None) -> Callable[[], Callable[[Request], Result]]:
    """What serves the route's next query, as a C iterator's ``__next__``: the chain's ``serve``
    every time, or with a tracing sampler ``serve`` every-1 times and then the sampler's
    ``sample``, round and round. The count lives in the iterators, so a query the sampler skips
    runs exactly the Python code of one on a route without a sampler."""
    if chain is None:
        return repeat(_no_chain).__next__
    serve = chain.serve
    every = sampler.every if sampler is not None else 0
    if sampler is None or every <= 0:
        return repeat(serve).__next__
    sample = partial(sampler.sample, chain=chain)
    if every == 1:
        return repeat(sample).__next__
    steps: tuple[Callable[[Request], Result], ...] = (serve, sample)
    rounds = map(repeat, cycle(steps), cycle((min(every - 1, sys.maxsize), 1)))
    picks: Iterator[Callable[[Request], Result]] = chain_iterables.from_iterable(rounds)
    return picks.__next__


_QUESTIONS = wire.QUESTIONS
_new = object.__new__

# Queries of this process waiting on an awaitable (a miss), counted for draining. A one-item
# list, not a class attribute: assigning an attribute of a class invalidates the interpreter's
# cached lookups on that class (and its instances' methods), twice per miss.
INFLIGHT = [0]


def _no_chain(req: Request) -> Result:  # never called: a route without a chain is refused first
    return wire.REFUSED


class Dispatcher:
    """Routes a listener's queries to the zones its server blocks serve."""

    def __init__(
        self, key: ListenerKey, sites: dict[str, Site], dropped: list[DroppedObserver] | None = None
    ) -> None:
        self.key = key
        self.server = str(key)
        # Zones in wire form, lower-cased: b"\x07example\x03org\x00" -> Route.
        self.routes: dict[bytes, Route] = {zone_to_wire(z): Route(s) for z, s in sites.items()}
        self.root = self.routes.get(b"\x00")
        # A listener serving only "." (a plain caching resolver) needs no suffix walk: every query
        # goes to that route, when it has a chain, without a check.
        root = self.root
        self.only = root if len(self.routes) == 1 and root is not None and root.chain is not None else None
        # A plugin of any block on the listener can open it to every class (CoreDNS's server.go).
        self.any_class = any(s.config.any_class for s in sites.values())
        self.dropped: list[DroppedObserver] = dropped or []
        # What the TCP listener applies to each new connection (the timeouts plugin).
        self.tcp = tcp_limits(sites)
        # Bound once: every Deferred result continues with them.
        self._on_answer = self._answer
        self._on_fail = self._fail

    # ------------------------------------------------------------------------------------------
    def handle(self, local: Any, proto: str, send: Send, data: bytes, remote: Any) -> None:
        """Answer one query. ``send(reply, remote)`` writes a reply (UDP: the transport's sendto).

        The listener's own arguments come first, the query's last: a UDP socket binds its three
        once (a ``functools.partial``, see listener.UDPProtocol) and the transport calls that with
        each datagram and its sender, no Python call in between. ``local`` is the socket's (or the
        TCP connection's) own address object, the same one for each of its queries (Request)."""
        # wire.read_question, in place: a call fewer for every query.
        tail = data[2:]
        q = _QUESTIONS.get(tail)
        if q is None:
            try:
                q = wire.parse_question(data)
            except wire.ShortQuestion as e:
                self.handle(local, proto, send, e.wire, remote)  # served as miekg/dns reads it
                return
            except wire.MalformedQuery as e:
                if e.rcode is not None:
                    reply = wire.error_reply(data, e.rcode, e.question_end, False, 512, False)
                    send(reply, remote)
                    self._drop(None, proto, reply)
                return
            if len(_QUESTIONS) >= wire.QUESTIONS_MAX:
                _QUESTIONS.clear()
            _QUESTIONS[tail] = q
        # Request(data, q, proto, remote, local, self.server), its fields set here: a class
        # called with a Python __init__ costs a frame the interpreter does not inline.
        req = _new(Request)
        req.wire = data
        req.q = q
        req.lname = q.lname
        req.key = q.key
        req.proto = proto
        req.remote = remote
        req.local = local
        req.server = self.server
        req.start = perf_counter()
        req.answered_by = ""
        req.error = None
        req.meta = None
        req.span = None
        req._msg = None
        req._qname = None
        if q.qclass != 1 and not self.any_class:
            req.zone = "."
            self._refuse(req, send)
            return
        if q.edns_version and q.edns:
            # Answered before any zone or plugin, neither counted nor logged (CoreDNS's server).
            send(wire.error_reply(data, wire.BADVERS, q.end, True, q.udp_size, q.do), remote)
            return
        route = self.only
        if route is None:
            route = self.route(req)
            if route is None or route.chain is None:
                req.zone = "."
                self._refuse(req, send)
                return
        req.zone = route.zone
        try:
            result = route.pick()(req)  # the chain's serve, or every Nth time the sampler's
        except HandlerError as e:
            # Its traceback goes: never printed (an rcode and a message), and a plugin that passed
            # the error on by raising it again from a function holds it in that frame's locals, a
            # cycle per failure. At 2,500 refusals a second (max_concurrent in an upstream outage)
            # the collector freed 50,000 objects of them every second, 30-100 ms each time.
            e.__traceback__ = None
            self._finish(req, route.observers, e.rcode, send, e)
            return
        except Exception as e:  # the one error boundary: never let a query take the server down
            self._panic(req, route.debug, e)
            self._finish(req, route.observers, wire.SERVFAIL, send, e)
            return
        if type(result) is bytes:
            # req.q, not q: a plugin may have lowered the query's EDNS size (bufsize).
            if len(result) > req.q.udp_size and proto == "udp":
                result = truncate(result, req.q.udp_size)
            send(result, remote)
            if req.error is None:
                on_reply = route.on_reply
                if on_reply is not None:
                    on_reply(req, result, result[3] & 0xF, None)
            else:
                _observe_each(route.observers, req, result, result[3] & 0xF, req.error)
            return
        if type(result) is int:
            self._finish(req, route.observers, result, send, req.error)
            return
        if isinstance(result, Deferred):
            # Settled in the call that reads the upstream's reply: answered there, no loop hop.
            INFLIGHT[0] += 1
            # Deferred.step, inlined for its usual case: the cache's step waits on forward's
            # exchange already, so its step list is there (see Deferred._steps).
            steps = result._steps
            if steps is not None:
                steps.append((self._on_answer, self._on_fail, (req, route, send)))
            else:
                result.step(self._on_answer, self._on_fail, (req, route, send))
            return
        if isinstance(result, (bytes, bytearray)):
            self._reply(req, route.observers, bytes(result), send)
            return
        self._await(result, req, route, send)

    # ------------------------------------------------------------------------------------------
    def route(self, req: Request) -> Route | None:
        """The zone that answers: the longest matching suffix (for DS the shortest), else "."."""
        routes = self.routes
        q = req.q
        lname = req.lname
        found = None
        for off in q.labels:
            route = routes.get(lname[off - 12 :])
            if route is not None:
                if q.qtype != 43:  # DS: keep looking, the parent zone answers (CoreDNS)
                    return route
                found = route
        return found or self.root

    def _answer(self, result: Any, req: Request, route: Route, send: Send) -> None:
        """Send and observe what a Deferred result settled with."""
        INFLIGHT[0] -= 1
        if type(result) is bytes:
            # The size first: it is nearly always within the client's, and a TCP reply is never cut.
            if len(result) > req.q.udp_size and req.proto == "udp":
                result = truncate(result, req.q.udp_size)
            send(result, req.remote)
            # What handle does after a reply is sent, inlined here too: one call less per miss.
            if req.error is None:
                on_reply = route.on_reply
                if on_reply is not None:
                    on_reply(req, result, result[3] & 0xF, None)
            else:  # a reply that carries an error: every observer sees it (the errors plugin too)
                _observe_each(route.observers, req, result, result[3] & 0xF, req.error)
        elif type(result) is int:
            self._finish(req, route.observers, result, send, req.error)
        elif isinstance(result, (bytes, bytearray)):
            self._reply(req, route.observers, bytes(result), send)
        elif isinstance(result, Deferred):  # a continuation that answers later still
            INFLIGHT[0] += 1
            then(result, self._answer, req, route, send, on_error=self._fail)
        else:
            self._await(result, req, route, send)

    def _await(self, result: Any, req: Request, route: Route, send: Send) -> None:
        """Answer once an awaitable result is done. A method of its own, not a lambda in the
        callers: a lambda would make their variables cells, built on every call of the common path."""
        fut = asyncio.ensure_future(result)
        INFLIGHT[0] += 1
        fut.add_done_callback(partial(self._done, req, route, send))

    def _fail(self, error: Exception, req: Request, route: Route, send: Send) -> None:
        INFLIGHT[0] -= 1
        if isinstance(error, HandlerError):
            self._finish(req, route.observers, error.rcode, send, error)
        else:
            self._panic(req, route.debug, error)
            self._finish(req, route.observers, wire.SERVFAIL, send, error)

    def _done(self, req: Request, route: Route, send: Send, fut: asyncio.Future[Any]) -> None:
        """Send and observe what an awaitable result ended with (the future last: a done callback)."""
        INFLIGHT[0] -= 1
        if fut.cancelled():
            return
        observers = route.observers
        # Read, not raised: raising would add this frame, which holds the future, to the error's
        # traceback, and the future holds the error (a cycle per failed query; see results.then).
        e = fut.exception()
        if e is not None:
            if isinstance(e, HandlerError):
                self._finish(req, observers, e.rcode, send, e)
            elif isinstance(e, Exception):
                self._panic(req, route.debug, e)
                self._finish(req, observers, wire.SERVFAIL, send, e)
            return
        result = fut.result()
        if isinstance(result, (bytes, bytearray)):
            self._reply(req, observers, bytes(result), send)
        else:
            self._finish(req, observers, int(result), send, req.error)

    def _reply(self, req: Request, observers: Any, result: bytes, send: Send) -> None:
        if req.proto == "udp" and len(result) > req.q.udp_size:
            result = truncate(result, req.q.udp_size)
        send(result, req.remote)
        _observe_each(observers, req, result, result[3] & 0xF, req.error)

    def _finish(self, req: Request, observers: Any, rcode: int, send: Send, err: BaseException | None) -> None:
        reply = req.error_reply(rcode)
        send(reply, req.remote)
        _observe_each(observers, req, reply, rcode, err)

    def _refuse(self, req: Request, send: Send) -> None:
        reply = req.error_reply(wire.REFUSED)
        send(reply, req.remote)
        self._drop(req, req.proto, reply)

    def _drop(self, req: Request | None, proto: str, reply: bytes | None) -> None:
        for d in self.dropped:
            d.observe_dropped(req, self.server, proto, reply)

    def _panic(self, req: Request, debug: bool, e: BaseException) -> None:
        counters.panics += 1
        log.error("[ERROR] Recovered from panic in server: %r %s: %s", self.server, req.qname, e, exc_info=e)
        if debug:
            log.debug("[DEBUG] panic while serving %s", req.qname)

