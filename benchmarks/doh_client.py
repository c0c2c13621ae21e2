"""What a DNS-over-HTTPS query costs the client: forward's own client against httpx.

    .venv/bin/python benchmarks/doh_client.py [--queries 4000] [--concurrency 20]

Starts the tests' DoH server (hypercorn, HTTP/2 and HTTP/1.1, a CA made with openssl) in a child
process on loopback, then sends the same queries from this process with (a) forward's client
(plugins/forward/doh.py: asyncio protocols, h2/h11 framing, callbacks) and (b) httpx's
``AsyncClient(http2=True)`` (one coroutine per query), each over HTTP/2 and over HTTP/1.1, and
prints this process's CPU time per query. Needs httpx[http2] (not a dependency of pycoredns).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dnslib


def serve(pki: str, alpn: list[str], port_q: Any, stop: Any) -> None:
    from tests.plugins.forward.doh_server import DoHServer

    server = DoHServer(Path(pki), alpn).start()
    port_q.put(server.port)
    stop.wait(600)
    server.stop()


async def ours(port: int, ctx: ssl.SSLContext, wires: list[bytes], concurrency: int) -> float:
    from pycoredns.plugins.forward.doh import DoHHealthChecker, DoHProxy

    health = DoHHealthChecker(("127.0.0.1", port), ssl_context=ctx, server_name=None, recursion_desired=True,
                              domain=".", local=None)
    proxy = DoHProxy("127.0.0.1", port, tls=ctx, server_name=None, method="POST", max_idle_conns=concurrency,
                     local=None, health=health)
    loop = asyncio.get_running_loop()

    async def one(wire: bytes) -> None:
        from pycoredns.plugins.forward.connections import CachedClosed, Told

        for _ in range(3):  # a kept connection the server closed (hypercorn: every 1000 requests)
            call = proxy.take_idle("tcp") or await proxy.dial_stream("tcp")
            fut: asyncio.Future[bytes] = loop.create_future()
            now = time.monotonic()
            question_len = wire.index(b"\x00", 12) + 5 - 12  # the name, its type and class
            call.send(wire, question_len, now, now + 2.0, 65535, Told(functools.partial(_settle, fut)), False)
            try:
                await fut
                return
            except CachedClosed:
                continue

    await one(wires[0])  # connect first
    started = time.process_time()
    await _run(one, wires, concurrency)
    spent = time.process_time() - started
    proxy.stop()
    return spent


def _settle(fut: asyncio.Future[bytes], reply: bytes | None, error: BaseException | None) -> None:
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(reply or b"")


async def with_httpx(port: int, ctx: ssl.SSLContext, wires: list[bytes], concurrency: int, http2: bool) -> float:
    import httpx

    url = f"https://127.0.0.1:{port}/dns-query"
    headers = {"content-type": "application/dns-message", "accept": "application/dns-message"}
    async with httpx.AsyncClient(http2=http2, verify=ctx, timeout=2.0,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(wire: bytes) -> None:
            r = await client.post(url, content=b"\x00\x00" + wire[2:], headers=headers)
            r.raise_for_status()

        await one(wires[0])
        started = time.process_time()
        await _run(one, wires, concurrency)
        return time.process_time() - started


async def _run(one: Any, wires: list[bytes], concurrency: int) -> None:
    it = iter(wires)

    async def worker() -> None:
        for wire in it:
            await one(wire)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=20)
    args = ap.parse_args(argv)
    import uvloop

    from tests.plugins.forward.doh_server import make_pki

    pki = make_pki(Path(tempfile.mkdtemp(prefix="doh-bench-")))
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    wires = [bytes(dnslib.DNSRecord.question(f"q{i}.example.org", "A").pack()) for i in range(args.queries)]
    print(f"client CPU per query, {args.queries} queries, {args.concurrency} in flight")
    for alpn, label in ((["h2"], "HTTP/2"), (["http/1.1"], "HTTP/1.1")):
        port_q: Any = multiprocessing.Queue()
        stop = multiprocessing.Event()
        child = multiprocessing.Process(target=serve, args=(str(pki), alpn, port_q, stop), daemon=True)
        child.start()
        port = port_q.get(timeout=30)
        try:
            a = uvloop.run(ours(port, ctx, wires, args.concurrency))
            b = uvloop.run(with_httpx(port, ctx, wires, args.concurrency, label == "HTTP/2"))
        finally:
            stop.set()
            child.join(15)
        print(f"{label:9} forward's client {a * 1e6 / args.queries:7.1f} us   httpx {b * 1e6 / args.queries:7.1f} us"
              f"   ({b / a:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
