"""What the tests that run pycoredns as a program share: a process whose output goes to a file,
a pipe read a line at a time, and waiting, within a bound, for something to become true."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> bool:
    """Whether ``check()`` held within ``timeout`` seconds, asked every ``step`` and once more at
    the end (a condition that became true during the last sleep counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


class PipeReader:
    """The read end of a pipe (a program's stdout), taken whole lines at a time."""

    def __init__(self, fd: int, chunk: int = 65536) -> None:
        self.fd = fd
        self.chunk = chunk
        self.data = b""

    def lines(self, count: int, timeout: float = 20.0) -> list[str]:
        """Read until ``count`` whole lines have come or the time is up; return those there are."""
        end = time.monotonic() + timeout
        while self.data.count(b"\n") < count and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                more = os.read(self.fd, self.chunk)
                if not more:  # the writer closed it
                    break
                self.data += more
        *whole, self.data = self.data.split(b"\n")
        return [line.decode() for line in whole]


class LoggedProcess:
    """A program started with its standard output and error in ``log``."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path = ROOT) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=str(cwd))

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal it (SIGTERM: the orderly shutdown) and wait for its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._out.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()
