"""Load generators and probes shared by the reliability commands and their short forms in tests.

Everything talks to loopback only. The floods run in child processes (``python -m
benchmarks.reliability.load udp|tcp|slowloris ...``) so that they neither share the measuring
process's interpreter lock nor the server's, and each is bounded in time; each prints one JSON
line of what it did.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycoredns.testing.ports import tcp_connections as tcp_connections  # sampled by the floods

ROOT = Path(__file__).resolve().parents[2]


# -- what a process holds ------------------------------------------------------------------------
def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` (VmRSS), 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@dataclass
class Sampler:
    """Samples ``measure()`` every ``every`` seconds in a thread until stopped."""

    measure: Callable[[], float]
    every: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - start, self.measure()))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def values(self, after: float = 0.0) -> list[float]:
        return [v for t, v in self.samples if t >= after]


# -- queries -------------------------------------------------------------------------------------
def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def query_wire(name: str, qtype: int = 1, qid: int | None = None, edns: bool = False) -> bytes:
    qid = random.getrandbits(16) if qid is None else qid
    head = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    body = encode_name(name) + struct.pack(">HH", qtype, 1)
    if edns:
        body += b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    return head + body


def flood_payloads(hit_names: Sequence[str], count: int = 4096, seed: int = 1) -> list[bytes]:
    """What a flood sends: mostly queries for ``hit_names`` (the cache answers them), and junk:
    random bytes, runts, responses, truncated questions and bad counts (dropped or FORMERR)."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        kind = i % 10
        name = hit_names[rnd.randrange(len(hit_names))]
        if kind < 6:
            out.append(query_wire(name, qid=rnd.getrandbits(16), edns=kind % 2 == 0))
        elif kind == 6:
            out.append(rnd.randbytes(rnd.randrange(1, 120)))
        elif kind == 7:
            out.append(rnd.randbytes(rnd.randrange(0, 12)))
        elif kind == 8:
            q = bytearray(query_wire(name, qid=rnd.getrandbits(16)))
            q[2] |= 0x80  # a response: dropped without a reply
            out.append(bytes(q))
        else:
            whole = query_wire(name, qid=rnd.getrandbits(16))
            out.append(whole[: rnd.randrange(12, len(whole))])
    return [p for p in out if p]


class Client:
    """A well-behaved stub resolver: one query at a time, from a new source port each time, with
    a timeout and retries; records whether and how fast each got its answer."""

    def __init__(self, host: str, port: int, timeout: float = 1.0, tries: int = 3) -> None:
        self.addr = (host, port)
        self.timeout = timeout
        self.tries = tries
        self.asked = 0
        self.answered = 0
        self.first_try = 0
        self.latencies: list[float] = []

    def ask(self, name: str, qtype: int = 1, proto: str = "udp") -> bytes | None:
        self.asked += 1
        for attempt in range(self.tries):
            qid = random.getrandbits(16)
            data = query_wire(name, qtype, qid)
            start = time.perf_counter()
            try:
                reply = exchange(self.addr, data, proto, self.timeout)
            except OSError:
                continue
            if reply is None:
                continue
            self.latencies.append(time.perf_counter() - start)
            self.answered += 1
            if attempt == 0:
                self.first_try += 1
            return reply
        return None

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {
            "asked": self.asked,
            "answered": self.answered,
            "first_try": self.first_try,
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
        }


def exchange(addr: tuple[str, int], data: bytes, proto: str, timeout: float) -> bytes | None:
    """Send one query, return the reply with its ID (None on timeout)."""
    deadline = time.monotonic() + timeout
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.send(data)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                s.settimeout(left)
                try:
                    reply = s.recv(65535)
                except TimeoutError:
                    return None
                if reply[:2] == data[:2] and len(reply) >= 12:
                    return reply
    with socket.create_connection(addr, timeout=timeout) as s:
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        s.sendall(struct.pack(">H", len(data)) + data)
        try:
            head = _recv_exact(s, 2)
            return _recv_exact(s, struct.unpack(">H", head)[0])
        except (TimeoutError, ConnectionError):
            return None


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# -- floods in child processes -------------------------------------------------------------------
def start(kind: str, host: str, port: int, seconds: float, *extra: str) -> subprocess.Popen[str]:
    """Start a flood (``udp``, ``tcp`` or ``slowloris``) against ``host:port`` for ``seconds``."""
    argv = [sys.executable, "-m", "benchmarks.reliability.load", kind, host, str(port), str(seconds), *extra]
    return subprocess.Popen(argv, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, float]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"flood failed ({proc.returncode}): {err.strip()}")
    return dict(json.loads(out.strip().splitlines()[-1]))


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IOVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


def _udp(host: str, port: int, seconds: float, names: list[str]) -> dict[str, float]:
    """Send as fast as the loopback takes from one socket, never reading (the replies pile up and
    are dropped): batches of 256 datagrams per sendmmsg(2) call, so the sender is not the limit."""
    payloads = flood_payloads(names)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    libc = ctypes.CDLL(None, use_errno=True)
    batch = 256
    bufs = [ctypes.create_string_buffer(p, len(p)) for p in payloads]
    iovs = (_IOVec * len(bufs))(*[_IOVec(ctypes.addressof(b), len(p)) for b, p in zip(bufs, payloads, strict=True)])
    msgs = (_MMsgHdr * len(bufs))()
    for i in range(len(bufs)):
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    fd = s.fileno()
    sent = calls = failed = 0
    offsets = range(0, len(bufs) - batch, batch)
    start_t = time.monotonic()
    end = start_t + seconds
    while time.monotonic() < end:
        for off in offsets:
            n = libc.sendmmsg(fd, ctypes.byref(msgs, off * ctypes.sizeof(_MMsgHdr)), batch, 0)
            calls += 1
            if n > 0:
                sent += n
            else:
                failed += 1  # ECONNREFUSED after an ICMP error, ENOBUFS: keep going
    took = time.monotonic() - start_t
    s.close()
    return {"sent": sent, "failed_calls": failed, "seconds": round(took, 2), "pps": round(sent / took)}


def _tcp(host: str, port: int, seconds: float, concurrency: int) -> dict[str, float]:
    """Open connections as fast as possible, up to ``concurrency`` at once: each sends one query
    (or junk) and is closed by this side after 1 s, or by the server earlier."""
    sel = selectors.DefaultSelector()
    opened = refused = closed_by_server = 0
    live: dict[socket.socket, float] = {}
    payload = query_wire("flood.example.org")
    start_t = time.monotonic()
    end = start_t + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        while len(live) < concurrency and time.monotonic() < end:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError:
                refused += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE)
            live[s] = now
            opened += 1
        for key, events in sel.select(0.01):
            s = key.fileobj  # type: ignore[assignment]
            assert isinstance(s, socket.socket)
            if events & selectors.EVENT_WRITE:
                try:
                    s.send(struct.pack(">H", len(payload)) + payload if opened % 2 else b"\x00\x30junk")
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    refused += 1
                    sel.unregister(s)
                    live.pop(s, None)
                    s.close()
            elif events & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    closed_by_server += 1
                    sel.unregister(s)
                    live.pop(s, None)
                    s.close()
        for s, at in list(live.items()):
            if now - at > 1.0:
                sel.unregister(s)
                live.pop(s)
                s.close()
    for s in live:
        s.close()
    took = time.monotonic() - start_t
    return {"opened": opened, "refused": refused, "closed_by_server": closed_by_server,
            "seconds": round(took, 2), "per_second": round(opened / took)}


def _slowloris(host: str, port: int, seconds: float, count: int) -> dict[str, float]:
    """Open ``count`` connections and trickle a query into each, a byte every 0.5 s; report how
    long the server kept them (it should close them at its read timeout)."""
    q = query_wire("slow.example.org")
    payload = struct.pack(">H", len(q)) + q
    conns: dict[socket.socket, tuple[float, int]] = {}
    refused = 0
    start_t = time.monotonic()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((host, port))
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        conns[s] = (time.monotonic(), 0)
    lifetimes: list[float] = []
    end = start_t + seconds
    while conns and time.monotonic() < end:
        time.sleep(0.5)
        for s, (opened, sent) in list(conns.items()):
            gone = False
            try:
                if s.recv(1) == b"":
                    gone = True
            except BlockingIOError:
                pass
            except OSError:
                gone = True
            if not gone:
                try:
                    s.send(payload[sent : sent + 1])
                    conns[s] = (opened, min(sent + 1, len(payload) - 1))
                except OSError:
                    gone = True
            if gone:
                lifetimes.append(time.monotonic() - opened)
                s.close()
                del conns[s]
    still = len(conns)
    for s in conns:
        s.close()
    lifetimes.sort()
    return {"opened": count - refused, "refused": refused, "closed_by_server": len(lifetimes),
            "still_open": still, "max_life": round(lifetimes[-1], 2) if lifetimes else 0.0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability.load")
    p.add_argument("kind", choices=["udp", "tcp", "slowloris"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("seconds", type=float)
    p.add_argument("--names", default="hit.example.org", help="comma-separated names the UDP flood asks")
    p.add_argument("--concurrency", type=int, default=200, help="TCP: connections open at once")
    p.add_argument("--count", type=int, default=100, help="slowloris: connections")
    a = p.parse_args(argv)
    if a.kind == "udp":
        out = _udp(a.host, a.port, a.seconds, a.names.split(","))
    elif a.kind == "tcp":
        out = _tcp(a.host, a.port, a.seconds, a.concurrency)
    else:
        out = _slowloris(a.host, a.port, a.seconds, a.count)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- a server under test -------------------------------------------------------------------------
class Served:
    """``python -m pycoredns`` with a Corefile (port 0, read back), output in ``log``."""

    def __init__(self, corefile: str, workdir: Path, *flags: str, host: str = "127.0.0.1") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "Corefile"
        self.conf.write_text(corefile)
        self.log = workdir / "server.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "pycoredns", "-conf", str(self.conf), *flags],
                                     cwd=str(ROOT), stdout=self._out, stderr=subprocess.STDOUT)
        from pycoredns.testing import wait_dns_port

        try:
            self.port = wait_dns_port(self.proc.pid, host)
        except BaseException:
            self.stop()
            raise
        self.host = host

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return int(self.proc.returncode)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
