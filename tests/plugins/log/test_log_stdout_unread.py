"""A server whose stdout nobody reads (a stalled container runtime) goes on answering: its log
lines wait for the reader, and come out whole and in order once it reads again."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import dnslib

from pycoredns.testing import FakeUpstream, fixed_port, wait_dns_port
from tests.processes import PipeReader

QUERIES = 2000  # a line each, ~220 kB: more than three times a pipe's 64 kB buffer


def test_queries_are_answered_while_stdout_is_not_read(tmp_path: Path) -> None:
    with FakeUpstream() as up:
        port = fixed_port()
        conf = tmp_path / "Corefile"
        conf.write_text(f".:{port} {{\n bind 127.0.0.1\n log\n cache 30\n forward . {up.address}\n}}\n")
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
                    assert str(reply.q.qname) == f"n{i}.example.org."
                    answered += 1
            assert answered == QUERIES, (tmp_path / "stderr").read_text()
            reader = PipeReader(p.stdout.fileno())
            lines = reader.lines(QUERIES + 3, timeout=30)
            logged = [line for line in lines if line.startswith("[INFO] 127.0.0.1:")]
            assert [line.split('"')[1].split()[2] for line in logged] == [
                f"n{i}.example.org." for i in range(QUERIES)
            ]
            assert lines[0] == f".:{port} on 127.0.0.1"  # the banner first, then the queries
            p.send_signal(signal.SIGTERM)
            assert p.wait(30) == 0
            assert "[INFO] SIGTERM: Shutting down servers then terminating" in reader.lines(1, timeout=5)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            stderr.close()
