"""A tiny asyncio HTTP/1.1 server for the side endpoints: /metrics, /health and /ready.

CoreDNS runs one HTTP listener per address and lets several server blocks (and successive
configurations across a reload) share it. Here :func:`server_for` hands out the listener for an
address from the process-wide state, opening it on first use; each user registers its routes
with :meth:`HTTPServer.acquire` and calls :meth:`HTTPServer.release` when its configuration
retires. The listener closes when its last user has gone, so a reload that keeps the address
never drops the endpoint.

Listeners use SO_REUSEPORT (two pycoredns processes on one node can share the port, as with
CoreDNS) and 5 s read and write timeouts. Only what probes and scrapers send is understood: a
request line, headers, an optional body (read and ignored), keep-alive. A route gets the method
and the headers; one wrapped in :class:`WithQuery` gets the query string's parameters too.

A listener may carry an exporter-toolkit web configuration (:mod:`pycoredns.webconfig`, the
*prometheus* plugin's ``tls CONFIG_FILE``): then it serves TLS, checks basic auth, adds the
configured headers and rate-limits, for every route on it, as the toolkit wraps Go's whole mux.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import cast
from urllib.parse import parse_qsl

from pycoredns.corefile import Dispenser, split_host_port
from pycoredns.errors import ServerConfigError
from pycoredns.state import Key, Store
from pycoredns.webconfig import WebConfig

log = logging.getLogger("pycoredns")

TIMEOUT = 5.0  # CoreDNS's http.Server ReadTimeout/WriteTimeout for health and metrics
MAX_HEADER = 16 * 1024


def address_arg(c: Dispenser, default: str) -> str:
    """The one optional ADDRESS on an HTTP plugin's line (health, ready, prometheus).

    More than one argument is an argument error; the address must split as host:port, with
    net.SplitHostPort's error unwrapped, as CoreDNS returns it.
    """
    args = c.remaining_args(at_most=1)
    if not args:
        return default
    c.host_port(args[0], plain=True)
    return args[0]
MAX_BODY = 64 * 1024
_REASONS = {
    200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()  # more header lines (Location, Content-Disposition)


Handle = Callable[[str, dict[str, str]], Response | Awaitable[Response]]  # (method, headers)
QueryHandle = Callable[[str, dict[str, str], dict[str, str]], Response | Awaitable[Response]]


@dataclass(frozen=True)
class WithQuery:
    """A route that reads the query string: ``handle(method, headers, query)``, where ``query``
    holds each parameter's first value (Go's ``FormValue``)."""

    handle: QueryHandle


Route = Handle | WithQuery


class HTTPServer:
    """One listening address and the routes served on it."""

    def __init__(self, address: str, registry: dict[str, HTTPServer] | None = None) -> None:
        self.address = address
        self._registry = registry if registry is not None else {}
        host, port = split_host_port(address)
        self.host = host
        self.port = int(port) if port.isdigit() else -1  # -1: refused when the listener opens
        self.routes: dict[str, Route] = {}
        self.users: set[int] = set()
        self.web: WebConfig | None = None
        self._web_owners: dict[int, WebConfig | None] = {}  # users that set it, in arrival order
        self._server: asyncio.Server | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        if not 0 <= self.port <= 65535:
            raise ServerConfigError(f"listen tcp {self.address}: unknown port")
        context = self.web.server_context() if self.web is not None else None
        try:
            self._server = await loop.create_server(
                lambda: _HTTPProtocol(self),
                host=self.host or None,  # "" = every interface, as Go's ":port"
                port=self.port,
                reuse_address=True,
                reuse_port=True,
                ssl=context,
                ssl_handshake_timeout=TIMEOUT if context is not None else None,
            )
        except OSError as e:
            raise ServerConfigError(f"listen tcp {self.address}: {e.strerror or e}") from None

    async def acquire(
        self, user: object, routes: dict[str, Route], web: WebConfig | None = None, *, sets_web: bool = False
    ) -> None:
        """Serve ``routes`` for ``user``, opening the listener if nobody has yet.

        A user with ``sets_web`` (*prometheus*) decides the listener's web configuration, ``web``
        or none: the first such user still there wins, as in CoreDNS the first *prometheus* of an
        address starts its listener. Users without it (*health*, *ready*) take the listener as it
        is. When the deciding user changes (a reload that adds, changes or drops ``tls``, once
        the old configuration is gone) the listener reopens; SO_REUSEPORT lets it bind again.
        """
        self._registry[self.address] = self
        self.routes.update(routes)
        self.users.add(id(user))
        if sets_web:
            self._web_owners[id(user)] = web
        await self._apply_web()
        try:
            await self.start()
        except ServerConfigError:
            self.users.discard(id(user))
            if not self.users:
                self._registry.pop(self.address, None)
            raise

    async def release(self, user: object) -> None:
        """``user`` no longer needs the listener; the last one out closes it."""
        self.users.discard(id(user))
        self._web_owners.pop(id(user), None)
        if not self.users:
            if self._registry.get(self.address) is self:
                self._registry.pop(self.address, None)
            self.web = None
            await self.close()
            return
        await self._apply_web()
        if self._server is None:
            try:
                await self.start()
            except ServerConfigError as e:
                log.error("[ERROR] http %s: %s", self.address, e)

    async def _apply_web(self) -> None:
        wanted = next(iter(self._web_owners.values()), None)
        if _web_key(wanted) != _web_key(self.web):
            self.web = wanted
            if self._server is not None:
                await self.close()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except (TimeoutError, OSError):
            pass

    async def respond(self, method: str, path: str, headers: dict[str, str]) -> Response:
        if self.web is None:
            return await self._route(method, path, headers)
        # The toolkit's handler: rate limit, then its headers on every answer, then basic auth.
        web = self.web.current()
        if web.error:
            return Response(500, b"Internal Server Error\n", headers=(("X-Content-Type-Options", "nosniff"),))
        if web.rate_limited():
            return Response(429, b"Too Many Requests\n", headers=(("X-Content-Type-Options", "nosniff"),))
        extra = tuple(web.headers.items())
        if not await web.authorized(headers.get("authorization", "")):
            return Response(401, b"Unauthorized\n", headers=(*extra, ("WWW-Authenticate", "Basic"),
                                                             ("X-Content-Type-Options", "nosniff")))
        resp = await self._route(method, path, headers)
        if not extra:
            return resp
        names = {name.lower() for name, _ in extra}
        kept = tuple(h for h in resp.headers if h[0].lower() not in names)
        return dataclasses.replace(resp, headers=(*extra, *kept))

    async def _route(self, method: str, path: str, headers: dict[str, str]) -> Response:
        path, _, raw_query = path.partition("?")
        route = self.routes.get(path)
        if route is None:
            return Response(404, b"404 page not found\n")
        if isinstance(route, WithQuery):
            query: dict[str, str] = {}
            for name, value in parse_qsl(raw_query, keep_blank_values=True):
                query.setdefault(name, value)
            got = route.handle(method, headers, query)
        else:
            got = route(method, headers)
        if inspect.isawaitable(got):
            got = await got
        return got


def _web_key(web: WebConfig | None) -> str | None:
    return None if web is None else web.path


SERVERS: Key[dict[str, HTTPServer]] = Key("http.servers")


def server_for(state: Store, address: str) -> HTTPServer:
    """The process's listener for ``address``, made (not yet opened) on first use."""
    servers = state.setdefault(SERVERS, dict)
    server = servers.get(address)
    if server is None:
        server = servers[address] = HTTPServer(address, servers)
    return server


class _HTTPProtocol(asyncio.Protocol):
    """One connection: requests are handled one after the other (keep-alive)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.data = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses
        web = self.server.web
        if web is not None and not web.current().peer_allowed(transport.get_extra_info("peercert")):
            # client_allowed_sans: Go fails the handshake; here it has just completed, so close
            log.debug("[DEBUG] http %s: client certificate has none of the allowed SANs", self.server.address)
            self.transport.close()
            return
        self.task = asyncio.ensure_future(self._serve())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_HEADER + MAX_BODY and self.transport is not None:
            self.transport.close()
        self.data.set()

    def eof_received(self) -> bool | None:
        self.closed = True
        self.data.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.data.set()

    async def _read_until(self, ready: Callable[[], int]) -> int:
        """Wait (at most TIMEOUT) until ``ready()`` returns a positive end offset."""
        while True:
            end = ready()
            if end > 0:
                return end
            if self.closed:
                return -1
            self.data.clear()
            try:
                async with asyncio.timeout(TIMEOUT):  # not wait_for: it can lose a cancel (3.11)
                    await self.data.wait()
            except TimeoutError:
                return -1

    async def _serve(self) -> None:
        transport = self.transport
        assert transport is not None
        try:
            while True:
                end = await self._read_until(self._header_end)
                if end < 0:
                    return
                head = bytes(self.buf[:end]).decode("latin-1")
                del self.buf[:end]
                lines = head.split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    transport.write(_render(Response(400, b"400 Bad Request"), keep_alive=False))
                    return
                method, path, version = parts
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or "0")
                if length > MAX_BODY:
                    return
                if length and await self._read_until(partial(self._body_end, length)) < 0:
                    return
                del self.buf[:length]
                conn = headers.get("connection", "").lower()
                keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
                resp = await self.server.respond(method, path, headers)
                if transport.is_closing():
                    return  # the client gave up waiting (a slow /health, /ready or scrape)
                transport.write(_render(resp, keep_alive, head_only=method == "HEAD"))
                if not keep_alive:
                    return
        except (ValueError, ConnectionError) as e:
            log.debug("[DEBUG] http %s: %s", self.server.address, e)
        except Exception as e:  # an endpoint must never take the process down
            log.error("[ERROR] http %s: %s", self.server.address, e)
        finally:
            transport.close()  # asyncio flushes what is buffered before it closes

    def _body_end(self, length: int) -> int:
        return length if len(self.buf) >= length else 0

    def _header_end(self) -> int:
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            if len(self.buf) > MAX_HEADER and self.transport is not None:
                self.transport.close()
            return 0
        return i + 4


def _render(resp: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = _REASONS.get(resp.status, "")
    head = (
        f"HTTP/1.1 {resp.status} {reason}\r\n"
        f"Content-Type: {resp.content_type}\r\n"
        f"Content-Length: {len(resp.body)}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in resp.headers)
        + f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else resp.body)
