"""Two pycoredns instances on one loopback address and port, meeting in an -instancedir folder.

The old instance (one process) stops under dnsperf load while the new one (a supervisor and two
workers) serves: no query is lost, and the new one, alone at last, steers its workers by name.
The network side (interface, rules, a pod namespace) is in tests/nodecache/test_netns_upgrade.py.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dnslib
import pytest

from pycoredns.server import steering
from pycoredns.testing import fixed_port, query

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("dnsperf") is None, reason="needs dnsperf"),
]

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp: Path, name: str, corefile: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp / f"{name}.Corefile").write_text(corefile)
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        p = subprocess.Popen([sys.executable, "-m", "pycoredns", "-conf", str(tmp / f"{name}.Corefile"), *args],
                             stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))
    deadline = time.monotonic() + 30
    while "CoreDNS-" not in log.read_text() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.poll() is None and "CoreDNS-" in log.read_text(), log.read_text()
    return p, log


def test_the_old_instance_hands_over_to_the_new_one(tmp_path: Path) -> None:
    port, shared = fixed_port(), tmp_path / "shared"
    corefile = (f".:{port} {{\n    bind 127.0.0.1\n    cache\n"
                "    template IN A example.org {\n        answer \"{{ .Name }} 60 IN A 192.0.2.9\"\n    }\n}\n")
    old, old_log = _start(tmp_path, "old", corefile, "-instancedir", str(shared))
    new, new_log = None, None
    try:
        new, new_log = _start(tmp_path, "new", corefile, "-instancedir", str(shared), "-workers", "2")
        assert re.search(r"Joining 1 instance\(s\) serving on this node: [0-9a-f]+ \(serving\)", new_log.read_text())
        names = [f"n{i}.example.org" for i in range(200)]
        (tmp_path / "q").write_text("".join(f"{n} A\n" for n in names))
        perf = subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(tmp_path / "q"), "-l", "5",
                                 "-Q", "1000", "-c", "8", "-q", "5000", "-t", "5"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        old.send_signal(signal.SIGTERM)
        assert old.wait(30) == 0, old_log.read_text()
        out = perf.communicate(timeout=60)[0]
        assert re.search(r"Queries lost:\s+0 \(", out), out
        assert int(re.search(r"Queries sent:\s+(\d+)", out).group(1)) > 4000, out  # type: ignore[union-attr]

        # Alone now: the new instance's workers take each name by the hash.
        assert _wait(lambda: "Alone on this node now" in new_log.read_text(), 10), new_log.read_text()
        for name in names[:10]:
            assert [str(rr.rdata) for rr in query(name, "A", port).rr] == ["192.0.2.9"]
        assert {steering.worker_of(dnslib.DNSRecord.question(n).pack()[12:], 2) for n in names[:10]} == {0, 1}
        new.send_signal(signal.SIGTERM)
        assert new.wait(30) == 0
        assert list((shared / "instances").iterdir()) == []
    finally:
        for p in (old, new):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def _wait(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())
