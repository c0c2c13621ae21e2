"""DNS over HTTPS upstreams (RFC 8484): ``forward . https://IP[:PORT]``, as CoreDNS's proxy does it.

A query is sent with ID 0 to ``https://IP:PORT/dns-query`` by POST (the default) or GET
(``doh_method GET``: ``?dns=`` with the message in unpadded base64url), with ``Content-Type`` and
``Accept`` ``application/dns-message``, the ``Host`` (``:authority``) being the upstream's
``IP:PORT``; the reply's body is the answer. TLS verifies the server's certificate against the
``tls`` CA (or the system's) and ``tls_servername`` (or the IP); ALPN offers ``h2`` and
``http/1.1``, and the server's choice decides: over HTTP/2 every query is a stream of one
connection per upstream, over HTTP/1.1 each connection carries one request at a time and idle ones
are kept for the next (at most ``max_idle_conns``, Go's default of 2 when 0). A request has 2 s
(CoreDNS's client timeout, ``read_timeout`` does not apply), and the health check is a POST of
``<domain> IN NS`` with 1 s. CoreDNS counts no connection-cache hits or misses for DoH, nor does
this.

The client is ours, on asyncio protocols, with the sans-I/O ``h2`` and ``h11`` libraries doing
the HTTP framing (imported when an https upstream is configured): like the UDP and TCP transports
it answers through callbacks, so a query costs no coroutine, while a general client (httpx) costs
several coroutines and a lock per request (benchmarks/README.md has the measurement).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from collections import deque
from typing import Any, cast

from pycoredns.plugins.forward.connections import CachedClosed, NetError, Told, Waiter
from pycoredns.plugins.forward.health import CHECK_TIMEOUT, HealthChecker
from pycoredns.plugins.forward.proxy import Proxy

PATH = "/dns-query"
MIME = "application/dns-message"
TIMEOUT = 2.0  # CoreDNS's http.Client Timeout for DoH
IDLE_TIMEOUT = 90.0  # Go's DefaultTransport IdleConnTimeout
MAX_BODY = 65536  # CoreDNS's maxDNSQuerySize (http.MaxBytesReader)
MAX_STREAMS = 100  # our own cap on one HTTP/2 connection's concurrent queries
DEFAULT_IDLE_CONNS = 2  # Go's DefaultMaxIdleConnsPerHost (max_idle_conns 0)


def doh_context(base: ssl.SSLContext) -> ssl.SSLContext:
    """``base`` (the ``tls`` option's context, or the system roots) with ALPN h2 and http/1.1."""
    base.set_alpn_protocols(["h2", "http/1.1"])
    return base


class DoHError(NetError):
    """A DoH exchange failed (HTTP status, body, protocol)."""


class Call:
    """One DoH request as forward's exchange sees a connection: ``send`` once, then ``close``."""

    def __init__(self, conn: HTTPConn, cached: bool) -> None:
        self.conn = conn
        self.cached = cached
        self.stream = 0
        self.waiter: Waiter | None = None
        self.qid = b"\x00\x00"
        self.status = 0
        self.body = bytearray()
        self.timer: asyncio.TimerHandle | None = None

    def send(self, wire: bytes, question_len: int, now: float, due: float, bufsize: int,
             waiter: Waiter, cached: bool) -> None:
        """As a DNS connection's send (connections.Conn): the reply comes back with the query's ID."""
        self.qid = wire[:2]
        self.waiter = waiter
        body = b"\x00\x00" + wire[2:]  # RFC 8484: ID 0 (restored on the reply)
        timeout = max(due - now, 0.001)
        self.timer = self.conn.loop.call_later(min(timeout, TIMEOUT), self._timed_out)
        self.conn.request(self, body)

    def response(self, status: int) -> None:
        self.status = status

    def data(self, chunk: bytes) -> bool:
        """Add to the body; False when it grew too large."""
        self.body += chunk
        return len(self.body) <= MAX_BODY

    def done(self, error: BaseException | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        if error is None and not 200 <= self.status < 300:
            error = DoHError(f"{self.conn.to}: unexpected HTTP status {self.status}")
        if error is None and len(self.body) < 12:
            error = DoHError(f"{self.conn.to}: dns: overflow unpacking uint16")  # miekg's text for a short body
        if error is not None:
            waiter.on_reply(None, error)
            return
        waiter.on_reply(self.qid + bytes(self.body[2:]), None)

    def _timed_out(self) -> None:
        self.timer = None
        self.conn.cancel(self)
        self.conn.retire()  # a connection that left a request unanswered takes no new ones
        self.done(DoHError(f"Post \"https://{self.conn.to}{PATH}\": context deadline exceeded "
                           "(Client.Timeout exceeded while awaiting headers)"))

    def close(self) -> None:
        """The exchange is over without a clean reply: drop the request (not the connection)."""
        self.conn.cancel(self)
        self.done(NetError("use of closed network connection"))


class HTTPConn(asyncio.Protocol):
    """One TLS connection to a DoH server, HTTP/2 or HTTP/1.1 as ALPN chose."""

    def __init__(self, loop: asyncio.AbstractEventLoop, to: str, authority: str, method: str) -> None:
        self.loop = loop
        self.to = to
        self.authority = authority
        self.method = method
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = time.monotonic()
        self.h2: Any = None  # h2.connection.H2Connection
        self.h1: Any = None  # h11.Connection
        self.calls: dict[int, Call] = {}  # by stream id (HTTP/1.1: the one call under 1)
        self.goaway = False

    # -- state -----------------------------------------------------------------------------------
    @property
    def http2(self) -> bool:
        return self.h2 is not None

    def can_take(self) -> bool:
        """Whether another request can go on this connection now."""
        if self.closed or self.goaway or self.transport is None or self.transport.is_closing():
            return False
        if self.h2 is not None:
            limit = min(self.h2.remote_settings.max_concurrent_streams, MAX_STREAMS)
            return bool(self.h2.open_outbound_streams < limit)
        return not self.calls

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2":
            from h2.config import H2Configuration
            from h2.connection import H2Connection

            # The request headers are ours and valid by construction: h2 need not check them again.
            self.h2 = H2Connection(config=H2Configuration(
                client_side=True, header_encoding=None, validate_outbound_headers=False,
                normalize_outbound_headers=False))
            self.h2.initiate_connection()
            self._flush()
        else:
            import h11

            self.h1 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_BODY)

    def data_received(self, data: bytes) -> None:
        self.used = time.monotonic()
        try:
            if self.h2 is not None:
                self._h2_received(data)
            else:
                self._h1_received(data)
        except Exception as e:  # the peer broke the protocol: the connection is done for
            self._fail_all(DoHError(f"{self.to}: {type(e).__name__}: {e}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(None)

    def _fail_all(self, error: BaseException | None) -> None:
        calls, self.calls = self.calls, {}
        for call in calls.values():
            if error is not None:
                call.done(error)
            elif call.cached and not call.body and not call.status:
                call.done(CachedClosed())  # a kept connection the server had closed: retry at once
            else:
                call.done(NetError(f"read tcp {self.to}: EOF"))

    # -- requests --------------------------------------------------------------------------------
    def request(self, call: Call, body: bytes) -> None:
        if not self.can_take():
            self.loop.call_soon(call.done, CachedClosed() if call.cached else NetError(
                f"write tcp {self.to}: connection closed"))
            return
        self.used = time.monotonic()
        if self.method == "GET":
            target = f"{PATH}?dns={base64.urlsafe_b64encode(body).rstrip(b'=').decode()}"
            payload = b""
        else:
            target, payload = PATH, body
        headers = [("content-type", MIME), ("accept", MIME)]
        if payload:
            headers.append(("content-length", str(len(payload))))
        if self.h2 is not None:
            sid = self.h2.get_next_available_stream_id()
            call.stream = sid
            self.calls[sid] = call
            self.h2.send_headers(sid, [(":method", self.method), (":scheme", "https"),
                                       (":authority", self.authority), (":path", target), *headers],
                                 end_stream=not payload)
            if payload:
                self.h2.send_data(sid, payload, end_stream=True)
            self._flush()
            return
        import h11

        call.stream = 1
        self.calls[1] = call
        out = self.h1.send(h11.Request(method=self.method, target=target,
                                       headers=[("host", self.authority), *headers]))
        if payload:
            out += self.h1.send(h11.Data(data=payload))
        out += self.h1.send(h11.EndOfMessage())
        assert self.transport is not None
        self.transport.write(out)

    def cancel(self, call: Call) -> None:
        """Forget ``call`` (timed out or abandoned): HTTP/2 resets its stream, HTTP/1.1 can only
        close the connection, since the answer would still come on it."""
        if self.calls.get(call.stream) is not call:
            return
        del self.calls[call.stream]
        if self.h2 is not None:
            with contextlib.suppress(Exception):
                self.h2.reset_stream(call.stream)
                self._flush()
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def retire(self) -> None:
        """Take no new requests; close once the ones in flight are done (now, if none are)."""
        self.goaway = True
        if not self.calls:
            self.close()

    # -- HTTP/2 ----------------------------------------------------------------------------------
    def _h2_received(self, data: bytes) -> None:
        import h2.events

        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                call = self.calls.get(ev.stream_id)
                if call is not None:
                    call.response(_status(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                call = self.calls.get(ev.stream_id)
                if call is not None and not call.data(ev.data):
                    self.cancel(call)
                    call.done(DoHError("http: request body too large"))
            elif isinstance(ev, h2.events.StreamEnded):
                call = self.calls.pop(ev.stream_id, None)
                if call is not None:
                    call.done()
                if self.goaway and not self.calls:
                    self.close()
            elif isinstance(ev, h2.events.StreamReset):
                call = self.calls.pop(ev.stream_id, None)
                if call is not None:
                    call.done(DoHError(f"{self.to}: stream error: stream ID {ev.stream_id}; {ev.error_code!s}"))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = True  # no new streams; the ones above last_stream_id were not served
                for sid in [s for s in self.calls if ev.last_stream_id is None or s > ev.last_stream_id]:
                    call = self.calls.pop(sid)
                    call.done(CachedClosed() if call.cached else DoHError(f"{self.to}: server sent GOAWAY"))
        self._flush()

    def _flush(self) -> None:
        out = self.h2.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    # -- HTTP/1.1 --------------------------------------------------------------------------------
    def _h1_received(self, data: bytes) -> None:
        import h11

        self.h1.receive_data(data)
        while True:
            ev = self.h1.next_event()
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                return
            call = self.calls.get(1)
            if isinstance(ev, h11.Response):
                if call is not None:
                    call.response(ev.status_code)
            elif isinstance(ev, h11.Data):
                if call is not None and not call.data(ev.data):
                    self.cancel(call)
                    call.done(DoHError("http: request body too large"))
                    return
            elif isinstance(ev, h11.EndOfMessage):
                self.calls.pop(1, None)
                if self.h1.our_state is h11.DONE and self.h1.their_state is h11.DONE:
                    self.h1.start_next_cycle()
                else:
                    self.close()  # the server closes after this response
                if call is not None:
                    call.done()
                return
            elif isinstance(ev, h11.ConnectionClosed):
                self.close()
                return


def _status(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b":status":
            return int(value)
    return 0


class DoHProxy(Proxy):
    """An https:// upstream: forward's proxy with HTTP connections instead of DNS ones."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext, server_name: str | None, method: str,
                 max_idle_conns: int, local: str | None, health: HealthChecker) -> None:
        super().__init__(host, port, tls=tls, server_name=server_name, max_idle_conns=max_idle_conns,
                         read_timeout=TIMEOUT, local=local, health=health)
        self.method = method
        self.authority = self.to  # Go sets Host from the URL: https://IP:PORT
        self.expire = IDLE_TIMEOUT
        self._conns: deque[HTTPConn] = deque()
        self._dialing: asyncio.Task[HTTPConn] | None = None

    def take_idle(self, proto: str, now: float = 0.0) -> Call | None:  # type: ignore[override]
        """A request on a kept connection that can take it (HTTP/2: any open one)."""
        now = now or time.monotonic()
        for conn in self._conns:
            if conn.can_take() and now - conn.used <= self.expire:
                return Call(conn, True)
        return None

    async def dial_stream(self, proto: str, limit: float = 30.0) -> Call:  # type: ignore[override]
        """A request on a new connection; queries that come while one is being opened wait for
        it and share it when it is HTTP/2 (as Go's HTTP/2 pool dials once per host)."""
        pending = self._dialing
        if pending is not None:
            with contextlib.suppress(Exception):
                conn = await asyncio.shield(pending)
                if conn.can_take():
                    return Call(conn, True)
        task = asyncio.get_running_loop().create_task(self._dial(limit))
        self._dialing = task
        try:
            conn = await task
        finally:
            if self._dialing is task:
                self._dialing = None
        return Call(conn, False)

    async def _dial(self, limit: float) -> HTTPConn:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            async with asyncio.timeout(min(self._dial_timeout(), limit, TIMEOUT)):
                _t, conn = await loop.create_connection(
                    lambda: HTTPConn(loop, self.to, self.authority, self.method),
                    self.host, self.port, ssl=self.tls, server_hostname=self.server_name or self.host,
                    local_addr=(self.local, 0) if self.local else None,
                )
        finally:
            self._avg_dial += (time.monotonic() - started - self._avg_dial) / 4
        self._keep(conn)
        return conn

    def _keep(self, conn: HTTPConn) -> None:
        self._conns = deque(c for c in self._conns if not c.closed)
        self._conns.append(conn)
        idle = [c for c in self._conns if not c.calls]
        limit = self.max_idle_conns or DEFAULT_IDLE_CONNS
        while len(idle) > limit:  # the oldest idle ones go first
            old = idle.pop(0)
            if old is not conn:
                old.close()
                self._conns.remove(old)

    def give_back(self, conn: Any, now: float = 0.0) -> None:
        """A clean exchange: the connection stays (it is kept in ``_conns`` already)."""
        if self.stopped:
            conn.conn.close()

    def idle_count(self, cls: str) -> int:
        return sum(1 for c in self._conns if not c.closed and not c.calls)

    def conn_proto(self, proto: str) -> str:
        return "https"

    def sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self._conns):
            if conn.closed or (not conn.calls and now - conn.used > self.expire):
                conn.close()
                self._conns.remove(conn)

    def stop(self) -> None:
        super().stop()
        for conn in self._conns:
            conn.close()
        self._conns.clear()


class DoHHealthChecker(HealthChecker):
    """CoreDNS's dohHc: POST ``<domain> IN NS`` on a new connection, 1 s for all of it."""

    def __init__(self, addr: tuple[str, int], *, ssl_context: ssl.SSLContext, server_name: str | None,
                 recursion_desired: bool, domain: str, local: str | None) -> None:
        super().__init__(addr, "https", recursion_desired=recursion_desired, domain=domain,
                         ssl_context=ssl_context, server_name=server_name, local=local)

    async def check(self) -> None:
        _qid, wire = self._ping()
        loop = asyncio.get_running_loop()
        host, port = self.addr
        to = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        async with asyncio.timeout(CHECK_TIMEOUT):
            _t, conn = await loop.create_connection(
                lambda: HTTPConn(loop, to, to, "POST"), host, port, ssl=self.ssl_context,
                server_hostname=self.server_name or host, local_addr=(self.local, 0) if self.local else None)
            try:
                done: asyncio.Future[bytes] = loop.create_future()

                def finish(reply: bytes | None, error: BaseException | None) -> None:
                    if done.done():
                        return
                    if error is not None:
                        done.set_exception(error)
                    else:
                        done.set_result(reply or b"")

                now = time.monotonic()
                Call(conn, False).send(wire, 0, now, now + CHECK_TIMEOUT, 65535, Told(finish), False)
                await done  # any DNS reply is healthy (the body was checked to hold a header)
            finally:
                conn.close()

