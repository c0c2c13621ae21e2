"""A server whose stdout nobody reads (a stalled container runtime) goes on answering: its log
lines wait for the reader, and come out whole and in order once it reads again. Both plugins that
write a line per query: log (every query) and errors (every failed one, here an upstream that
refuses)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import dnslib

from pycoredns.testing import FakeUpstream, fixed_port, wait_dns_port
from tests.processes import PipeReader

QUERIES = 2000  # a line each, 150-220 kB: more than twice a pipe's 64 kB buffer


def _serve_unread(tmp_path: Path, port: int, plugins: str, rcode: int, logged: str, field: int) -> None:
    """Query a server whose stdout is not read, then read it: each query's line is the one that
    starts with ``logged``, its name the whitespace-separated ``field``."""
    conf = tmp_path / "Corefile"
    conf.write_text(f".:{port} {{\n bind 127.0.0.1\n{plugins}}}\n")
    stderr = (tmp_path / "stderr").open("w")
    p = subprocess.Popen([sys.executable, "-m", "pycoredns", "-conf", str(conf)],
                         stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert p.stdout is not None
        wait_dns_port(p.pid)
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            for i in range(QUERIES):  # one at a time, each bounded by its timeout
                s.sendto(dnslib.DNSRecord.question(f"n{i}.example.org").pack(), ("127.0.0.1", port))
                try:
                    reply = dnslib.DNSRecord.parse(s.recv(4096))
                except TimeoutError:
                    break
                assert (str(reply.q.qname), reply.header.rcode) == (f"n{i}.example.org.", rcode)
                answered += 1
        assert answered == QUERIES, (tmp_path / "stderr").read_text()
        reader = PipeReader(p.stdout.fileno())
        lines = reader.lines(QUERIES + 3, timeout=30)
        assert lines[0] == f".:{port} on 127.0.0.1"  # the banner first, then a line a query
        names = [line.split()[field] for line in lines if line.startswith(logged)]
        assert names == [f"n{i}.example.org." for i in range(QUERIES)]
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        assert "[INFO] SIGTERM: Shutting down servers then terminating" in reader.lines(1, timeout=5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        stderr.close()


def test_the_log_plugin_s_lines_wait_while_queries_are_answered(tmp_path: Path) -> None:
    with FakeUpstream() as up:
        # [INFO] 127.0.0.1:PORT - ID "A IN nI.example.org. udp ..." NOERROR ...
        _serve_unread(tmp_path, fixed_port(), f" log\n cache 30\n forward . {up.address}\n",
                      rcode=0, logged="[INFO] 127.0.0.1:", field=6)


def test_the_errors_plugin_s_lines_wait_while_queries_are_answered(tmp_path: Path) -> None:
    # Nothing listens on the upstream's port: each query fails at once (connection refused).
    port = fixed_port()
    dead = next(p for p in iter(fixed_port, None) if p != port)
    # [ERROR] plugin/errors: 2 nI.example.org. A: ...
    _serve_unread(tmp_path, port, f" errors\n forward . 127.0.0.1:{dead}\n", rcode=2,
                  logged="[ERROR] plugin/errors: 2 ", field=3)
