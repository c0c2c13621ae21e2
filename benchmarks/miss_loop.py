"""The cost of a cache miss: the real server, a real upstream on loopback, one miss at a time.

    .venv/bin/python benchmarks/miss_loop.py                  # us of server CPU per miss
    .venv/bin/python benchmarks/miss_loop.py --callgrind      # instructions per miss (valgrind)
    .venv/bin/python benchmarks/miss_loop.py --callgrind --tree ../main   # another checkout
    .venv/bin/python benchmarks/miss_loop.py --callgrind --only "node-local-dns tcp"   # TCP upstream

The server runs in a child process: pycoredns started as the program starts it (the App, its
listeners, the collector settled) with the node-local-dns block (``errors, cache 30, forward,
prometheus``), or with ``forward`` only, or the bare uvloop forwarder
(benchmarks/uvloop_forward_floor.py). This process is the client and the upstream, on blocking
loopback sockets and in lock step: it sends a query for a name never asked before, reads it on
the upstream socket, answers it (benchmarks/upstream.py's answer: one A record, TTL 3600), and
reads the reply. So every miss takes the whole path: the listener's datagram, the dispatcher,
the cache's lookup and store, forward's pooled connected UDP socket and its reply checks, the
observers, the reply's sendto; and the event loop's own work between them.

Each configuration has a TCP variant (``node-local-dns tcp``, ``forward only tcp``, ``floor
tcp``): forward with ``force_tcp`` (the node-local-dns cluster block's upstream), the floor with
``--tcp``. The upstream then answers over TCP only, on the connections it accepts (forward keeps
one and pipelines its queries on it), so a query sent over UDP would never be answered.

The child serves a warm-up batch first (first-use costs, forward's socket pool), then the
measured batch inside ``functools.reduce``, whose C function is what valgrind collects
(``--toggle-collect``): the instructions of the measured misses, plus a fixed cost for starting
and ending the batch, which a batch of no misses measures and is taken off. Exact and
repeatable on a busy machine, where timings are not. The part of a miss that depends on wall time
is left out: forward's read-timeout ticker (when a connection's entry falls due, two seconds after
it was queued, 10 ms apart at the soonest) is held off under valgrind, where a miss takes
milliseconds and the ticks per miss would follow the load.
Without ``--callgrind`` the child reports its CPU time per miss instead, ticker included (noisy
on a shared machine: compare runs taken together).

``--burst K`` overlaps K misses, as a load of a few thousand a second does: the client sends K
queries at once, the upstream reads all K and only then answers them (over TCP, all K replies in
one write, so the server reads them together), and the client reads the K replies. The server
then reads several queries in one turn, writes their K upstream queries together (one write
over TCP) and reads several replies per wakeup. ``--misses`` still counts queries.

``--tree DIR`` runs another checkout's pycoredns in the child (the base line before a change).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = ("node-local-dns", "forward only", "floor", "node-local-dns tcp", "forward only tcp", "floor tcp")
TCP_SUFFIX = " tcp"  # the configuration with its upstream over TCP (``force_tcp``)
EMPTY_SUFFIX = " (no miss)"


def corefile(config: str, port: int, upstream: int) -> str:
    forward = f" forward . 127.0.0.1:{upstream}"
    if config.endswith(TCP_SUFFIX):
        forward += " {\n  force_tcp\n }"
        config = config[: -len(TCP_SUFFIX)]
    if config == "forward only":
        body = f"{forward}\n"
    else:  # benchmarks/configs.py's nodelocal_block (prometheus on a free port)
        body = f" errors\n cache 30\n{forward}\n prometheus 127.0.0.1:0\n"
    return f".:{port} {{\n bind 127.0.0.1\n{body}}}\n"


def _load(name: str) -> Any:
    """A module of benchmarks/ by its path (the child runs as a script, not as a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the child: the server ------------------------------------------------------------------------
def serve(config: str, port: int, upstream: int, ctl: socket.socket, mode: str) -> None:
    """Start the server, then serve batches until the parent ends each (a byte on ``ctl``).

    ``mode``: "reduce" runs the measured batch inside functools.reduce (for valgrind), "opcodes"
    counts the Python opcodes each function runs in it, "" just times it."""
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    if config.startswith("floor"):
        floor = _load("uvloop_forward_floor")
        tcp = config.endswith(TCP_SUFFIX)
        fwd = floor.Forwarder(loop, upstream, tcp)
        loop.run_until_complete(loop.create_datagram_endpoint(lambda: fwd, local_addr=("127.0.0.1", port)))
        if tcp:  # its one connection, dialed before the first query (the parent accepts it)
            _t, fwd.stream = loop.run_until_complete(
                loop.create_connection(lambda: floor.TCPUpstream(fwd), "127.0.0.1", upstream))
    else:
        from pycoredns.server import collector
        from pycoredns.server.app import App

        if mode == "reduce":
            # Forward's read-timeout ticker wakes on wall time (when an entry falls due, TICK
            # apart at the soonest): under valgrind, where a miss takes milliseconds, that would
            # be a share of a tick per miss that moves with the machine's load. Its ticks are held
            # off instead (as hit_loop.py holds the cache's clock still), so the count is
            # repeatable.
            from pycoredns.plugins.forward import connections

            connections.TICK = 3600.0
        collector.serve_mode()  # as the program's entry point does
        app = App(corefile_text=corefile(config, port, upstream), quiet=True)
        loop.run_until_complete(app.start())
        collector.settle()
    ctl.setblocking(False)

    async def batch() -> None:
        await loop.sock_recv(ctl, 1)  # the parent says the batch is over

    ctl.send(b"R")
    loop.run_until_complete(batch())  # the warm-up
    start = time.process_time_ns()
    ctl.send(b"A")
    counts: dict[str, int] = {}
    if mode == "reduce":
        # The measured batch is the only code that runs inside functools.reduce.
        functools.reduce(lambda acc, i: loop.run_until_complete(batch()), range(1), None)
    elif mode == "opcodes":
        sys.settrace(_opcode_counter(counts))
        loop.run_until_complete(batch())
        sys.settrace(None)
    else:
        loop.run_until_complete(batch())
    took = time.process_time_ns() - start
    ctl.setblocking(True)
    report = "\n".join(f"{n} {where}" for where, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    ctl.sendall(took.to_bytes(8, "big") + report.encode() + b"\n")
    os._exit(0)  # nothing to tidy: the parent reads the count


def _opcode_counter(counts: dict[str, int]) -> Any:
    """A trace function counting the opcodes run per function (file:line of its start, name)."""

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        where = f"{code.co_filename.rsplit('/', 2)[-2:][-1]}:{code.co_firstlineno} {code.co_qualname}"
        frame.f_trace_opcodes = True

        def on_opcode(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[where] = counts.get(where, 0) + 1
            return on_opcode

        return on_opcode

    return on_call


# -- the parent: client and upstream --------------------------------------------------------------
class Peer:
    """The client and the upstream of one server, in lock step. With ``tcp`` the upstream answers
    over TCP only (a query sent over UDP is never answered, and the miss times out): every query
    that comes on a connection it accepted (one connection, pipelined, as forward keeps it; a
    health probe's own one too)."""

    def __init__(self, tcp: bool = False) -> None:
        # Here, not at the top: the child imports pycoredns from --tree's checkout, after this file.
        from pycoredns.testing.ports import fixed_port

        self.upstream_mod = _load("upstream")
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind(("127.0.0.1", 0))
        # The upstream's and the server's ports are outside the ephemeral range, free for UDP and
        # TCP when chosen: a port 0 bind gives one from it, whose TCP twin an outgoing connection
        # of another test can hold (the server's TCP bind then failed: "Address already in use").
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.bind(("127.0.0.1", fixed_port()))
        self.listener: socket.socket | None = None
        self.streams: dict[socket.socket, bytes] = {}  # accepted connections, what is unread on each
        if tcp:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", self.upstream_port))
            self.listener.listen(16)
        self.port = fixed_port()
        self.sent = 0

    @property
    def upstream_port(self) -> int:
        return int(self.up.getsockname()[1])

    def miss(self, timeout: float, burst: int = 1) -> None:
        """``burst`` queries for new names, sent at once and answered by the upstream once all of
        them reached it; their replies read and checked."""
        import dnslib

        queries: dict[bytes, bytes] = {}  # by ID: distinct, so each reply finds its query
        while len(queries) < burst:
            self.sent += 1
            name = f"m{self.sent}-{os.getpid()}.bench.test"
            query = bytes(dnslib.DNSRecord.question(name, "A").pack())
            if query[:2] not in queries:
                queries[query[:2]] = query
        self.client.settimeout(timeout)
        self.up.settimeout(timeout)
        for query in queries.values():
            self.client.sendto(query, ("127.0.0.1", self.port))
        questions = {query[12:] for query in queries.values()}
        if self.listener is None:
            held: list[tuple[bytes, Any]] = []
            left = set(questions)
            while left:  # the upstream: answer whatever comes (a health probe too) once all came
                data, addr = self.up.recvfrom(4096)
                held.append((data, addr))
                left.discard(data[12:])
            for data, addr in held:
                self.up.sendto(self.upstream_mod.answer(data, 3600) or data, addr)
        else:
            self._serve_tcp(questions, timeout)
        for _ in range(burst):
            reply = self.client.recv(4096)
            query = queries.pop(reply[:2], b"")
            if not query or reply[3] & 0xF or reply[6:8] != b"\x00\x01" or reply[12 : len(query)] != query[12:]:
                raise RuntimeError(f"unexpected reply: {reply!r}")

    def _serve_tcp(self, questions: set[bytes], timeout: float) -> None:
        """Accept connections and read the messages on them until every one of ``questions``
        came; then answer each connection's messages in one write."""
        assert self.listener is not None
        left = set(questions)
        out: dict[socket.socket, list[bytes]] = {}
        while left:
            ready, _, _ = select.select([self.listener, *self.streams], [], [], timeout)
            if not ready:
                raise TimeoutError("the upstream got no query")
            for sock in ready:
                if sock is self.listener:
                    conn, _ = self.listener.accept()
                    self.streams[conn] = b""
                    continue
                got = sock.recv(65536)
                if not got:
                    del self.streams[sock]
                    out.pop(sock, None)
                    sock.close()
                    continue
                buf = self.streams[sock] + got
                while len(buf) >= 2 and len(buf) >= 2 + (n := int.from_bytes(buf[:2], "big")):
                    data, buf = buf[2 : 2 + n], buf[2 + n :]
                    reply = self.upstream_mod.answer(data, 3600) or data
                    out.setdefault(sock, []).append(len(reply).to_bytes(2, "big") + reply)
                    left.discard(data[12:])
                self.streams[sock] = buf
        for sock, replies in out.items():
            sock.sendall(b"".join(replies))

    def close(self) -> None:
        self.client.close()
        self.up.close()
        for sock in self.streams:
            sock.close()
        if self.listener is not None:
            self.listener.close()


def run_child(config: str, warm: int, misses: int, tree: str | None, callgrind: bool,
              opcodes: bool = False, out: str = "/dev/null", burst: int = 1) -> tuple[int | None, float, str]:
    """Run one server for ``warm`` then ``misses`` misses, ``burst`` at a time (both rounded down
    to a multiple of it): (instructions collected or None, CPU ns of the measured batch, the
    opcode counts when asked)."""
    peer = Peer(tcp=config.endswith(TCP_SUFFIX))
    parent_ctl, child_ctl = socket.socketpair()
    cmd = [sys.executable, __file__, "--child", config, "--port", str(peer.port),
           "--upstream", str(peer.upstream_port), "--ctl", str(child_ctl.fileno())]
    if tree:
        cmd += ["--tree", tree]
    env = dict(os.environ, PYTHONHASHSEED="0")
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
               "--toggle-collect=functools_reduce", *cmd, "--mode", "reduce"]
    elif opcodes:
        cmd += ["--mode", "opcodes"]
    proc = subprocess.Popen(cmd, env=env, pass_fds=(child_ctl.fileno(),), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    child_ctl.close()
    slow = 120.0 if callgrind else 10.0  # valgrind is fifty times slower
    try:
        parent_ctl.settimeout(600.0 if callgrind else 60.0)
        if parent_ctl.recv(1) != b"R":
            raise RuntimeError("the server did not start")
        for _ in range(warm // burst):
            peer.miss(slow, burst)
        parent_ctl.send(b"W")
        if parent_ctl.recv(1) != b"A":
            raise RuntimeError("the server did not start the measured batch")
        for _ in range(misses // burst):
            peer.miss(slow, burst)
        parent_ctl.send(b"E")
        done = _recv_all(parent_ctl)  # the CPU time (8 bytes), then the opcode counts
        took = int.from_bytes(done[:8], "big")
        report = done[8:].decode()
        _out, err = proc.communicate(timeout=600)
    except BaseException:
        proc.kill()
        _out, err = proc.communicate()
        sys.stderr.write(err[-3000:])
        raise
    finally:
        peer.close()
        parent_ctl.close()
    if not callgrind:
        return None, took, report
    m = re.search(r"Collected : (\d+)", err)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{err[-2000:]}")
    return int(m.group(1)), took, report


def _recv_all(sock: socket.socket) -> bytes:
    """Everything the child sends until it exits."""
    chunks: list[bytes] = []
    while True:
        got = sock.recv(65536)
        if not got:
            return b"".join(chunks)
        chunks.append(got)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--misses", type=int, default=None, help="measured misses (default 1000; 3000 timed)")
    ap.add_argument("--warm", type=int, default=300, help="misses served before the measured ones")
    ap.add_argument("--callgrind", action="store_true", help="count instructions with valgrind")
    ap.add_argument("--tree", help="measure the pycoredns of this source tree (its plugins/ and pycoredns/)")
    ap.add_argument("--only", choices=CONFIGS, action="append", help="these configurations only")
    ap.add_argument("--burst", type=int, default=1, choices=range(1, 65), metavar="K",
                    help="K misses at a time: sent together, answered together (default 1, lock step)")
    ap.add_argument("--out", metavar="DIR", help="keep valgrind's profiles there (callgrind_annotate reads them)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ctl", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="", help=argparse.SUPPRESS)
    ap.add_argument("--opcodes", type=int, default=0, metavar="N",
                    help="the N functions that run the most Python opcodes per miss, and the total")
    args = ap.parse_args(argv)
    if args.child is not None:
        # The tree measured comes first: before this checkout, which runs the script.
        sys.path.insert(0, os.path.abspath(args.tree) if args.tree else str(REPO))
        serve(args.child, args.port, args.upstream, socket.socket(fileno=args.ctl), args.mode)
        return 0
    configs = args.only or list(CONFIGS)
    if args.callgrind:
        if shutil.which("valgrind") is None:
            print("valgrind not found (apt-get install valgrind)", file=sys.stderr)
            return 2
        misses = (args.misses or 1000) // args.burst * args.burst
        print(f"instructions per miss ({misses} misses after {args.warm}, {args.burst} at a time; a batch of none"
              " taken off)")
        for config in configs:
            empty, _, _ = run_child(config, args.warm, 0, args.tree, True, burst=args.burst)
            out = os.path.join(args.out, f"callgrind.{config.replace(' ', '-')}") if args.out else "/dev/null"
            full, _, _ = run_child(config, args.warm, misses, args.tree, True, out=out, burst=args.burst)
            assert empty is not None and full is not None
            print(f"{(full - empty) / misses:10.0f}  {config}   [batch of none: {empty}]", flush=True)
        return 0
    if args.opcodes:
        misses = (args.misses or 500) // args.burst * args.burst
        for config in configs:
            _, _, report = run_child(config, args.warm, misses, args.tree, False, opcodes=True, burst=args.burst)
            rows = [line.split(" ", 1) for line in report.splitlines() if line]
            total = sum(int(n) for n, _ in rows)
            print(f"{config}: {total / misses:.0f} Python opcodes per miss ({misses} misses)")
            for n, where in rows[: args.opcodes]:
                print(f"{int(n) / misses:8.1f}  {where}")
        return 0
    misses = (args.misses or 3000) // args.burst * args.burst
    print(f"server CPU us per miss ({misses} misses after {args.warm}, {args.burst} at a time)")
    for config in configs:
        _, took, _ = run_child(config, args.warm, misses, args.tree, False, burst=args.burst)
        print(f"{took / misses / 1000:8.1f}  {config}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
