"""A DNS-over-HTTPS test server on 127.0.0.1: hypercorn (HTTP/2 and HTTP/1.1 over TLS) and an
ASGI app answering RFC 8484 requests, with a CA and certificates the tests make with openssl."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dnslib


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> Path:
    """ca.pem, and server.pem/server.key for DNS:doh.test and IP:127.0.0.1, in ``d``."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=pycoredns DoH test CA", cwd=d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=doh.test", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:doh.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "server.ext", cwd=d)
    return d


@dataclass
class Seen:
    """One request as the server saw it."""

    http_version: str
    method: str
    path: str
    headers: dict[str, str]
    query: dnslib.DNSRecord


class DoHServer:
    """RFC 8484 over hypercorn: A queries get ``address``; ``status`` other than 200 answers that
    status with a text body; ``fault`` answers A queries 200 with a bad DNS body
    (``wrong_question``: the reply to another name, ``garbage``: bytes that do not unpack);
    every request is recorded in ``seen``."""

    def __init__(self, pki: Path, alpn: list[str], address: str = "192.0.2.53", max_requests: int = 10**9) -> None:
        from hypercorn.config import Config

        self.address = address
        self.status = 200
        self.fault: str | None = None
        self.seen: list[Seen] = []
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # connections wait in the backlog until hypercorn accepts: no start race
        self.port = sock.getsockname()[1]
        cfg = Config()
        cfg.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the listening socket
        cfg.certfile = str(pki / "server.pem")
        cfg.keyfile = str(pki / "server.key")
        cfg.alpn_protocols = alpn
        cfg.accesslog = cfg.errorlog = None
        # hypercorn leaves requests unanswered on a connection past this many (1000 by default)
        cfg.keep_alive_max_requests = max_requests
        self.config = cfg
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="doh-test-server", daemon=True)

    def start(self) -> DoHServer:
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the DoH test server did not start")
        return self

    def _run(self) -> None:
        from hypercorn.asyncio import serve

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._loop.call_soon(self._ready.set)
            await serve(self.app, self.config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["method"] == "GET":
            params = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
            raw = params.get("dns", "")
            body = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        q = dnslib.DNSRecord.parse(body)
        self.seen.append(Seen(scope["http_version"], scope["method"], scope["path"], headers, q))
        if self.status != 200:
            await _respond(send, self.status, b"not here", "text/plain")
            return
        if self.fault is not None and q.q.qtype == dnslib.QTYPE.A:
            await _respond(send, 200, _faulty(q, self.fault, self.address), "application/dns-message")
            return
        r = q.reply()
        if q.q.qtype == dnslib.QTYPE.A:
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(self.address), ttl=60))
        await _respond(send, 200, bytes(r.pack()), "application/dns-message")


def _faulty(q: dnslib.DNSRecord, fault: str, address: str) -> bytes:
    if fault == "garbage":
        # A header promising an answer that is not there: the body does not unpack.
        return bytes(2) + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example"
    assert fault == "wrong_question", fault
    other = dnslib.DNSRecord.question("forged.example.net", "A")
    other.header.id = q.header.id
    r = other.reply()
    r.add_answer(dnslib.RR("forged.example.net", dnslib.QTYPE.A, rdata=dnslib.A(address), ttl=60))
    return bytes(r.pack())


async def _respond(send: Any, status: int, body: bytes, ctype: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def doh_server(pki: Path, alpn: list[str], address: str = "192.0.2.53",
               max_requests: int = 10**9) -> Iterator[DoHServer]:
    server = DoHServer(pki, alpn, address, max_requests).start()
    try:
        yield server
    finally:
        server.stop()
