"""TCP accept when the process is out of file descriptors (EMFILE).

Where the listening socket stays readable while accept fails, watching it would spin the loop:
the acceptor logs the error, stops watching and tries again a second later, and must then take
connections again. Run in a child whose descriptor limit is low, with real connections from here
holding every descriptor it has left.
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.testing import query, wait_dns_port

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40  # descriptors the child may have: about 15 in use once it serves


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.mark.timeout(60)
def test_out_of_descriptors_tcp_waits_and_resumes_while_udp_answers(tmp_path: Path) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n")
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pycoredns", "-conf", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_low_limit, close_fds=True)
    held: list[socket.socket] = []
    try:
        port = wait_dns_port(proc.pid)
        assert query("example.org", "A", port, proto="tcp").header.rcode == dnslib.RCODE.NOERROR
        # Connections the child accepts and keeps (no query sent yet: idle, not closed for
        # seconds), until accept fails for want of a descriptor.
        deadline = time.monotonic() + 20
        while "Too many open files" not in log.read_text() and time.monotonic() < deadline:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.01)
            assert len(held) <= LIMIT, "the child accepted past its descriptor limit"
        assert "[ERROR] TCP accept on " in log.read_text(), log.read_text()
        # UDP needs no new descriptor: answered while TCP waits.
        assert query("example.org", "A", port).header.rcode == dnslib.RCODE.NOERROR
        for s in held:
            s.close()
        held.clear()
        # Descriptors free again: a second after the failure the socket is watched again.
        assert query("example.org", "A", port, proto="tcp", timeout=5).header.rcode == dnslib.RCODE.NOERROR
        assert proc.poll() is None
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(10)

