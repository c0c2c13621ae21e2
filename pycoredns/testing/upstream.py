"""A real DNS server on loopback for tests: answers with a function you give it, records queries,
and misbehaves on demand.

Runs in its own thread with blocking sockets (UDP and TCP on the same port), so it works the same
from synchronous and asynchronous tests. ``stop()`` closes the sockets (the upstream is "down");
``start()`` opens them again on the same port.

Faults, per query: :meth:`FakeUpstream.script` queues faults for the next queries (one each, in
order), :meth:`FakeUpstream.always` sets one for every query until it is cleared. A fault is one
of :data:`FAULTS`:

``timeout``
    no reply at all (the query is read and dropped).
``servfail``, ``refused``
    a reply with that rcode and the query's question.
``late``
    the usual answer, ``late_by`` seconds later (2.5 s by default: past forward's read_timeout).
``reset``
    TCP: the connection is reset (RST) instead of answered; UDP: no reply.
``truncate``
    UDP: the header and question with TC set, as a server whose answer does not fit; TCP: the
    usual answer.
``wrong_question``
    the usual answer, with the query's ID, for another name (``wrong.example.``).
``other_source``
    UDP: the usual answer, sent from another port of the same address; TCP: the usual answer.
``garbage``
    the query's ID followed by bytes that never unpack: a header promising one question whose
    first label runs past the end, then random bytes (length-prefixed over TCP). Purely random
    bytes would not do: 12 of them are a header-only message, which unpacks.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dnslib

Answer = Callable[[dnslib.DNSRecord, str], "dnslib.DNSRecord | bytes | None"]

FAULTS = ("timeout", "servfail", "refused", "late", "reset", "truncate", "wrong_question", "other_source",
          "garbage")
WRONG_NAME = "wrong.example."


def answer_a(ip: str = "192.0.2.1", ttl: int = 300) -> Answer:
    """An answer function: every A query gets ``ip`` with ``ttl``; other types get NODATA."""

    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        if q.q.qtype == dnslib.QTYPE.A:
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=ttl))
        return r

    return answer


class FakeUpstream:
    def __init__(self, answer: Answer | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 late_by: float = 2.5) -> None:
        self.answer = answer or answer_a()
        self.host = host
        self.port = port
        self.late_by = late_by
        self.queries: list[tuple[str, dnslib.DNSRecord]] = []
        # Where each query came from, and the fault it got (None: answered as usual); in the
        # order of ``queries``.
        self.sources: list[tuple[Any, ...]] = []
        self.faults: list[str | None] = []
        self._script: collections.deque[str] = collections.deque()
        self._always: str | None = None
        self._lock = threading.Lock()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._running = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeUpstream:
        # With port 0 the kernel picks the UDP port, which may be taken for TCP: pick again.
        # A known port (a restart after stop()) may be held for a moment by a short-lived socket
        # that got it from the kernel meanwhile: wait for it, a little.
        wanted = self.port
        deadline = time.monotonic() + 5.0
        for attempt in itertools.count():
            try:
                self._bind(wanted)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or (wanted == 0 and attempt >= 20):
                    raise
                if wanted:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        self._running = True
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _bind(self, port: int) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            # No SO_REUSEADDR on UDP: with it, two sockets that both set it may share a port,
            # even one the kernel picked for port 0, and the last one steals the other's queries.
            udp.bind((self.host, port))
            port = udp.getsockname()[1]
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.host, port))
            tcp.listen(64)
        except OSError:
            udp.close()
            tcp.close()
            raise
        udp.settimeout(0.2)
        tcp.settimeout(0.2)
        self._udp, self._tcp, self.port = udp, tcp, port

    def stop(self) -> None:
        self._running = False
        for t in self._threads:
            t.join(2)
        for s in (self._udp, self._tcp):
            if s is not None:
                s.close()
        self._udp = self._tcp = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def count(self, proto: str | None = None) -> int:
        with self._lock:
            return sum(1 for p, _ in self.queries if proto is None or p == proto)

    # -- faults ------------------------------------------------------------------------------
    def script(self, *faults: str) -> FakeUpstream:
        """The next queries get these faults, one each, in order; later ones are answered as usual
        (or get the :meth:`always` fault)."""
        for f in faults:
            _check_fault(f)
        with self._lock:
            self._script.extend(faults)
        return self

    def always(self, fault: str | None) -> FakeUpstream:
        """Every query gets ``fault`` (after the scripted ones) until ``always(None)``."""
        if fault is not None:
            _check_fault(fault)
        with self._lock:
            self._always = fault
        return self

    # -- serving -----------------------------------------------------------------------------
    def _receive(self, data: bytes, proto: str, source: tuple[Any, ...]) -> tuple[dnslib.DNSRecord, str | None] | None:
        """Record a query and pick its fault (None when ``data`` is not a query)."""
        try:
            q = dnslib.DNSRecord.parse(data)
        except Exception:
            return None
        with self._lock:
            fault = self._script.popleft() if self._script else self._always
            self.queries.append((proto, q))
            self.sources.append(source)
            self.faults.append(fault)
        return q, fault

    def _reply(self, q: dnslib.DNSRecord, fault: str | None, proto: str) -> bytes | None:
        """The reply to send for ``fault`` (None: send nothing)."""
        if fault in ("timeout", "reset"):
            return None
        if fault in ("servfail", "refused"):
            r = q.reply()
            r.header.rcode = dnslib.RCODE.SERVFAIL if fault == "servfail" else dnslib.RCODE.REFUSED
            return bytes(r.pack())
        if fault == "garbage":
            # A 63-byte label with at most 60 bytes after its length: past the end, always.
            tail = os.urandom(os.urandom(1)[0] % 61)
            return bytes(q.pack()[:2]) + os.urandom(2) + b"\x00\x01\x00\x00\x00\x00\x00\x00\x3f" + tail
        if fault == "truncate" and proto == "udp":
            r = q.reply()
            r.header.tc = 1
            return bytes(r.pack())
        if fault == "wrong_question":
            other = dnslib.DNSRecord(dnslib.DNSHeader(id=q.header.id, rd=q.header.rd),
                                     q=dnslib.DNSQuestion(WRONG_NAME, q.q.qtype, q.q.qclass))
            r = self.answer(other, proto)
            return None if r is None else r if isinstance(r, bytes) else bytes(r.pack())
        r = self.answer(q, proto)
        if r is None:
            return None
        return r if isinstance(r, bytes) else bytes(r.pack())

    def _respond(self, data: bytes, proto: str) -> bytes | None:
        """The reply to ``data`` when dnslib cannot read it as a query: none (a subclass may
        answer such queries)."""
        return None

    def _handle(self, data: bytes, proto: str, source: tuple[Any, ...]) -> tuple[bytes | None, str | None]:
        """(reply or None, fault) for one message received."""
        got = self._receive(data, proto, source)
        if got is None:
            return self._respond(data, proto), None
        return self._reply(got[0], got[1], proto), got[1]

    def _serve_udp(self) -> None:
        s = self._udp
        assert s is not None
        while self._running:
            try:
                data, addr = s.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply, fault = self._handle(data, "udp", addr)
            if reply is None:
                continue
            if fault == "late":
                threading.Timer(self.late_by, _send_quietly, (s, reply, addr)).start()
            elif fault == "other_source":
                with socket.socket(s.family, socket.SOCK_DGRAM) as other:
                    other.bind((self.host, 0))
                    _send_quietly(other, reply, addr)
            else:
                _send_quietly(s, reply, addr)

    def _serve_tcp(self) -> None:
        s = self._tcp
        assert s is not None
        while self._running:
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()

    def _serve_conn(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            source = conn.getpeername()
        except OSError:
            source = ()
        with conn:
            for data in _frames(conn):
                reply, fault = self._handle(data, "tcp", source)
                if fault == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closed with linger 0: the peer gets a RST
                if reply is None:
                    continue
                if fault == "late":
                    time.sleep(self.late_by)
                try:
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
                except OSError:
                    return


def _check_fault(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")


def _send_quietly(s: socket.socket, data: bytes, addr: Any) -> None:
    with contextlib.suppress(OSError):
        s.sendto(data, addr)


def _frames(conn: socket.socket) -> Iterator[bytes]:
    buf = b""
    while True:
        try:
            chunk = conn.recv(65535)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 2:
            n = struct.unpack(">H", buf[:2])[0]
            if len(buf) < 2 + n:
                break
            yield buf[2 : 2 + n]
            buf = buf[2 + n :]
