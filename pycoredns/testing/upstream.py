"""A real DNS server on loopback for tests: answers with a function you give it, records queries.

Runs in its own thread with blocking sockets (UDP and TCP on the same port), so it works the same
from synchronous and asynchronous tests. ``stop()`` closes the sockets (the upstream is "down");
``start()`` opens them again on the same port.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import dnslib

Answer = Callable[[dnslib.DNSRecord, str], "dnslib.DNSRecord | bytes | None"]


def answer_a(ip: str = "192.0.2.1", ttl: int = 300) -> Answer:
    """An answer function: every A query gets ``ip`` with ``ttl``; other types get NODATA."""

    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        if q.q.qtype == dnslib.QTYPE.A:
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=ttl))
        return r

    return answer


class FakeUpstream:
    def __init__(self, answer: Answer | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.answer = answer or answer_a()
        self.host = host
        self.port = port
        self.queries: list[tuple[str, dnslib.DNSRecord]] = []
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

    # -- serving -----------------------------------------------------------------------------
    def _respond(self, data: bytes, proto: str) -> bytes | None:
        try:
            q = dnslib.DNSRecord.parse(data)
        except Exception:
            return None
        with self._lock:
            self.queries.append((proto, q))
        r = self.answer(q, proto)
        if r is None:
            return None
        return r if isinstance(r, bytes) else bytes(r.pack())

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
            reply = self._respond(data, "udp")
            if reply is not None:
                with contextlib.suppress(OSError):
                    s.sendto(reply, addr)

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
        with conn:
            for data in _frames(conn):
                reply = self._respond(data, "tcp")
                if reply is None:
                    continue
                try:
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
                except OSError:
                    return


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
