"""timeouts: CoreDNS's setup table (plugin/timeouts/timeouts_test.go) and the limits on real TCP
connections: read for the first query, idle between queries, write for replies, maxtcpqueries."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable

import dnslib
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugin import Directive, Handler, Plugin, Request, Result
from pycoredns.results import Deferred
from pycoredns.server import config
from pycoredns.server.config import ListenerKey, TCPLimits, tcp_limits
from pycoredns.testing import tcp_connections
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory


def _limits(corefile: str) -> TCPLimits:
    instance = config.load(corefile)
    (sites,) = instance.listeners.values()
    return tcp_limits(sites)


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        pytest.param("timeouts {\n read 30s\n }", TCPLimits(read=30.0), id="read"),
        pytest.param("timeouts {\n read 1m\n write 2m\n }", TCPLimits(read=60.0, write=120.0), id="read-write"),
        pytest.param(" timeouts {\n idle 1h\n }", TCPLimits(idle=3600.0), id="idle"),
        pytest.param(
            "timeouts {\n read 10\n write 20\n idle 60\n }",
            TCPLimits(read=10.0, write=20.0, idle=60.0),
            id="bare-integers-are-seconds",
        ),
        pytest.param("timeouts {\n maxtcpqueries 128\n }", TCPLimits(max_queries=128), id="maxtcpqueries"),
        pytest.param("timeouts {\n maxtcpqueries -1\n }", TCPLimits(max_queries=-1), id="maxtcpqueries-unlimited"),
        pytest.param(
            "timeouts {\n read 10s\n maxtcpqueries 128\n }", TCPLimits(read=10.0, max_queries=128), id="read-max"
        ),
        pytest.param("timeouts {\n read 1s\n idle 24h\n }", TCPLimits(read=1.0, idle=86400.0), id="bounds-inclusive"),
        pytest.param(
            "timeouts {\n read 5s\n }\n timeouts {\n read 7s\n idle 20s\n }",
            TCPLimits(read=7.0, idle=20.0),
            id="later-occurrence-wins",
        ),
        pytest.param("whoami", TCPLimits(), id="defaults"),
        pytest.param("timeouts {\n max_connections 1000\n }", TCPLimits(max_connections=1000), id="max-connections"),
        pytest.param("timeouts {\n max_connections 0\n }", TCPLimits(), id="max-connections-unbounded"),
    ],
)
def test_setup(body: str, limits: TCPLimits) -> None:
    assert _limits(f".:53 {{\n {body}\n whoami\n}}\n") == limits


def test_defaults_are_coredns_servers() -> None:
    assert TCPLimits() == TCPLimits(read=3.0, write=5.0, idle=10.0, max_queries=-1, max_connections=0)


E = "plugin/timeouts: Corefile:2 - Error during parsing: "


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("timeouts", E + "timeouts block with no timeouts specified", id="no-block"),
        pytest.param(
            "timeouts {\n }",  # the error is on the "}", where the cursor stops (as Caddy's)
            "plugin/timeouts: Corefile:3 - Error during parsing: timeouts block with no timeouts specified",
            id="empty-block",
        ),
        pytest.param(
            "timeouts {\n read 10s\n giraffe 30s\n }",
            "plugin/timeouts: Corefile:4 - Error during parsing: unknown option: 'giraffe'",
            id="unknown-option",
        ),
        pytest.param(
            "timeouts {\n read 10s 20s\n write 30s\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after '20s'",
            id="two-values",
        ),
        pytest.param(
            "timeouts {\n write snake\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: failed to parse duration 'snake'",
            id="bad-duration",
        ),
        pytest.param(
            "timeouts {\n idle 0s\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: timeout provided '0s' needs to be between"
            " 1 second and 24 hours",
            id="zero",
        ),
        pytest.param(
            "timeouts {\n read 48h\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: timeout provided '48h0m0s' needs to be between"
            " 1 second and 24 hours",
            id="too-long",
        ),
        pytest.param(
            "timeouts {\n write 500ms\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: timeout provided '500ms' needs to be between"
            " 1 second and 24 hours",
            id="too-short",
        ),
        pytest.param(
            "timeouts {\n maxtcpqueries 0\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: maxtcpqueries provided '0' needs to be -1"
            " (unlimited) or a positive integer",
            id="maxtcpqueries-zero",
        ),
        pytest.param(
            "timeouts {\n maxtcpqueries -2\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: maxtcpqueries provided '-2' needs to be -1"
            " (unlimited) or a positive integer",
            id="maxtcpqueries-negative",
        ),
        pytest.param(
            "timeouts {\n maxtcpqueries snake\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: invalid value for maxtcpqueries 'snake':"
            ' strconv.Atoi: parsing "snake": invalid syntax',
            id="maxtcpqueries-not-a-number",
        ),
        pytest.param(
            "timeouts {\n max_connections -1\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: max_connections must be a non-negative integer: -1",
            id="max-connections-negative",
        ),
        pytest.param(
            "timeouts {\n max_connections many\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: invalid max_connections value 'many':"
            ' strconv.Atoi: parsing "many": invalid syntax',
            id="max-connections-not-a-number",
        ),
        pytest.param(
            "timeouts 10s {\n read 1s\n }",
            E + "Wrong argument count or unexpected line ending after '10s'",
            id="argument",
        ),
        pytest.param(
            "timeouts {\n read\n }",
            "plugin/timeouts: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending"
            " after 'read'",
            id="no-value",
        ),
    ],
)
def test_setup_errors(body: str, error: str) -> None:
    with pytest.raises(PluginSetupError) as e:
        config.load(f".:53 {{\n {body}\n whoami\n}}\n")
    assert str(e.value) == error


def test_blocks_sharing_a_listener_take_each_value_from_the_last_block_that_sets_it() -> None:
    # CoreDNS's NewServer walks the listener's configs in order; a set value overrides.
    corefile = (
        "example.org:53 {\n timeouts {\n idle 5s\n read 2s\n }\n whoami\n}\n"
        "example.net:53 {\n timeouts {\n idle 1s\n }\n whoami\n}\n"
        "example.com:53 {\n whoami\n}\n"
        "example.edu:54 {\n whoami\n}\n"
    )
    instance = config.load(corefile)
    assert tcp_limits(instance.listeners[ListenerKey("dns", "", 53)]) == TCPLimits(read=2.0, idle=1.0)
    assert tcp_limits(instance.listeners[ListenerKey("dns", "", 54)]) == TCPLimits()


# -- on real connections --------------------------------------------------------------------------

QUERY = bytes(dnslib.DNSRecord.question("example.org").pack())
FRAME = struct.pack(">H", len(QUERY)) + QUERY


def _read_reply(s: socket.socket) -> bytes:
    head = _exact(s, 2)
    return _exact(s, struct.unpack(">H", head)[0])


def _exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _closed_after(s: socket.socket, start: float, limit: float = 15.0) -> float:
    """Seconds from ``start`` until the server closes ``s`` (reads nothing but EOF)."""
    s.settimeout(limit)
    assert s.recv(1) == b"", "the server sent data instead of closing"
    return time.monotonic() - start


def _server(timeouts: str = "") -> str:
    return f".:0 {{\n{timeouts}\n    whoami\n}}\n"


def test_idle_connection_closes_at_the_idle_value(dns_server: ServerFactory) -> None:
    rs = dns_server(_server("    timeouts {\n        idle 1s\n    }"))
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        s.sendall(FRAME)
        assert _read_reply(s)
        start = time.monotonic()
        s.sendall(FRAME)  # a second query restarts the idle wait from its reply
        assert _read_reply(s)
        start = time.monotonic()
        waited = _closed_after(s, start)
    assert 0.8 <= waited <= 2.5, waited


def test_first_query_must_arrive_within_read(dns_server: ServerFactory) -> None:
    rs = dns_server(_server("    timeouts {\n        read 1s\n        idle 20s\n    }"))
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        start = time.monotonic()
        waited = _closed_after(s, start)
    assert 0.8 <= waited <= 2.5, waited
    # A query that arrives in pieces counts from the same moment: a stalled one is cut too.
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        start = time.monotonic()
        s.sendall(FRAME[:7])
        waited = _closed_after(s, start)
    assert 0.8 <= waited <= 2.5, waited


def test_reload_applies_new_limits_to_new_connections(dns_server: ServerFactory) -> None:
    rs = dns_server(".:0 {\n    timeouts {\n        read 20s\n    }\n    whoami\n}\n")
    port = rs.port
    assert rs.reload(".:0 {\n    timeouts {\n        read 1s\n    }\n    whoami\n}\n")
    assert rs.port == port  # the same listener
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        waited = _closed_after(s, time.monotonic())
    assert 0.8 <= waited <= 2.5, waited


def test_default_read_timeout_is_three_seconds(dns_server: ServerFactory) -> None:
    rs = dns_server(_server())
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        start = time.monotonic()
        waited = _closed_after(s, start)
    assert 2.7 <= waited <= 5.0, waited


def test_busy_connection_is_not_idle(dns_server: ServerFactory) -> None:
    # Queries every 0.5 s keep a connection with idle 1s open well past one idle period.
    rs = dns_server(_server("    timeouts {\n        idle 1s\n    }"))
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        for _ in range(5):
            s.sendall(FRAME)
            assert _read_reply(s)
            time.sleep(0.5)
        s.sendall(FRAME)
        assert _read_reply(s)


def test_maxtcpqueries_closes_after_that_many_replies(dns_server: ServerFactory) -> None:
    rs = dns_server(_server("    timeouts {\n        maxtcpqueries 2\n    }"))
    with socket.create_connection(("127.0.0.1", rs.port), timeout=5) as s:
        s.sendall(FRAME * 3)  # pipelined: the third is never read
        assert _read_reply(s) and _read_reply(s)
        assert _closed_after(s, time.monotonic(), 5.0) < 1.0


def test_past_max_connections_the_oldest_idle_connection_is_closed(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory
) -> None:
    # The upstream never answers: a query sent on a connection keeps it busy (forward waits).
    silent = fake_upstream(lambda q, proto: None)
    rs = dns_server(f".:0 {{\n    timeouts {{\n        max_connections 2\n    }}\n    forward . {silent.address}\n}}\n")
    addr = ("127.0.0.1", rs.port)
    busy = socket.create_connection(addr, timeout=5)
    busy.sendall(FRAME)
    time.sleep(0.2)
    idle = socket.create_connection(addr, timeout=5)
    time.sleep(0.2)
    third = socket.create_connection(addr, timeout=5)
    assert _closed_after(idle, time.monotonic(), 5.0) < 1.0  # the oldest idle one, not the busy one
    fourth = socket.create_connection(addr, timeout=5)
    assert _closed_after(third, time.monotonic(), 5.0) < 1.0
    for s in (busy, fourth):
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):  # still open: nothing to read yet
            s.recv(1)
    for s in (busy, idle, third, fourth):
        s.close()


def _capped(cap: int, plugin: str) -> str:
    return f".:0 {{\n    timeouts {{\n        max_connections {cap}\n    }}\n    {plugin}\n}}\n"


def _frame(name: str) -> bytes:
    query = bytes(dnslib.DNSRecord.question(name).pack())
    return struct.pack(">H", len(query)) + query


def _until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Wait (bounded) for ``condition``: liveness only, the time it takes is not checked."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.02)):
        if condition() or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert condition(), f"not within {seconds} s: {what}"


class Hold(Plugin):
    """Never answers busy.example. (its query stays in progress: the connection is busy); passes
    the others on. Records the names it was asked."""

    name = "hold"
    asked: list[str] = []

    def serve(self, req: Request) -> Result:
        Hold.asked.append(req.qname)
        if req.qname == "busy.example.":
            return Deferred()
        return self.next_or_failure(req)


HOLD = Directive("hold", lambda c: c.add_plugin(Hold), before="whoami")


def test_past_max_connections_a_new_connection_waits_in_the_backlog_until_a_busy_one_ends(
    dns_server: ServerFactory,
) -> None:
    Hold.asked = []
    rs = dns_server(_capped(2, "hold\n    whoami"), plugins=[HOLD])
    addr = ("127.0.0.1", rs.port)
    first = socket.create_connection(addr, timeout=5)
    second = socket.create_connection(addr, timeout=5)
    try:
        for s in (first, second):
            s.sendall(_frame("busy.example."))
        _until(lambda: len(Hold.asked) == 2, "both connections accepted and busy")
        # The kernel completes the handshake (the backlog) and takes the query; the server, with
        # both connections busy, does not accept it: nothing can be closed to make room.
        third = socket.create_connection(addr, timeout=5)
        with third:
            third.sendall(_frame("third.example."))
            third.settimeout(0.5)
            with pytest.raises(TimeoutError):
                third.recv(1)
            assert tcp_connections(os.getpid(), rs.port) == 2  # the server runs in this process
            assert Hold.asked == ["busy.example."] * 2
            first.close()  # a slot frees: the third is accepted, its query read and answered
            third.settimeout(10)
            reply = dnslib.DNSRecord.parse(_read_reply(third))
        assert str(reply.q.qname) == "third.example." and reply.header.rcode == dnslib.RCODE.NOERROR
        assert Hold.asked == ["busy.example."] * 2 + ["third.example."]
        second.settimeout(0.2)
        with pytest.raises(TimeoutError):  # still open and busy: it was not closed for the third
            second.recv(1)
    finally:
        first.close()
        second.close()


def test_a_reload_that_raises_max_connections_accepts_the_connections_waiting(dns_server: ServerFactory) -> None:
    Hold.asked = []
    rs = dns_server(_capped(1, "hold\n    whoami"), plugins=[HOLD])
    port = rs.port
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        busy.sendall(_frame("busy.example."))
        _until(lambda: Hold.asked == ["busy.example."], "the busy connection accepted")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as waiting:
            waiting.sendall(_frame("waiting.example."))
            waiting.settimeout(0.5)
            with pytest.raises(TimeoutError):  # in the backlog: the one slot is busy
                waiting.recv(1)
            assert rs.reload(_capped(2, "hold\n    whoami"))
            assert rs.port == port  # the same listener, its sockets kept
            waiting.settimeout(10)
            reply = dnslib.DNSRecord.parse(_read_reply(waiting))
        assert str(reply.q.qname) == "waiting.example." and reply.header.rcode == dnslib.RCODE.NOERROR
    finally:
        busy.close()


class Bulk(Plugin):
    """Answers every query with about 64 kB (4000 A records), packed once."""

    name = "bulk"

    def __init__(self, next: Handler | None) -> None:
        super().__init__(next)
        self.packed: bytes | None = None

    def serve(self, req: Request) -> Result:
        if self.packed is None:
            reply = req.make_reply()
            for i in range(4000):
                rdata = dnslib.A(f"10.{i >> 8}.{i & 255}.1")
                reply.add_answer(dnslib.RR(req.qname, dnslib.QTYPE.A, ttl=60, rdata=rdata))
            self.packed = bytes(reply.pack())
        return req.wire[:2] + self.packed[2:]


BULK = Directive("bulk", lambda c: c.add_plugin(Bulk))


def _flood_without_reading(port: int, count: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(FRAME * count)
    return s


def _replies_until_closed(s: socket.socket) -> int:
    """Replies read until the connection ends (or goes quiet for 2 s)."""
    s.settimeout(2.0)
    n = 0
    try:
        while True:
            _read_reply(s)
            n += 1
    except (ConnectionError, TimeoutError):
        return n


@pytest.mark.slow
def test_write_timeout_aborts_a_client_that_does_not_read(dns_server: ServerFactory) -> None:
    count = 150  # ~10 MB of replies: more than the kernel buffers hold for a client not reading
    corefile = ".:0 {\n    timeouts {\n        write 1s\n        idle 20s\n    }\n    bulk\n}\n"
    rs = dns_server(corefile, plugins=[BULK])
    s = _flood_without_reading(rs.port, count)
    with s:
        time.sleep(2.5)
        got = _replies_until_closed(s)
    assert got < count, got
    # The control: the default write timeout (5 s) has not run out after the same wait, and a
    # client that reads from then on gets every reply.
    corefile = ".:0 {\n    timeouts {\n        idle 20s\n    }\n    bulk\n}\n"
    rs = dns_server(corefile, plugins=[BULK])
    s = _flood_without_reading(rs.port, count)
    with s:
        time.sleep(2.5)
        assert _replies_until_closed(s) == count
