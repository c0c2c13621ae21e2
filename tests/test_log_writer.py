"""LineWriter: the log's lines reach stdout from a thread of their own, so a reader that stops
reading never blocks the caller; past a bound lines are dropped and counted. Real pipes."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pycoredns.log import LineWriter, _only, plugin_log
from pycoredns.testing import capture_log
from tests.processes import PipeReader


@pytest.fixture
def pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    r, w = os.pipe()
    stream = open(w, "w", encoding="utf-8")
    try:
        yield r, stream
    finally:
        stream.close()
        os.close(r)


def test_a_full_pipe_holds_up_the_writer_not_the_caller(pipe: tuple[int, io.TextIOWrapper]) -> None:
    r, stream = pipe
    writer = LineWriter(stream)
    lines = [f"line {i:05d} " + "x" * 190 for i in range(2000)]  # 400 kB: six times a pipe's buffer
    putter = threading.Thread(target=lambda: [writer.put(line) for line in lines], daemon=True)
    putter.start()
    putter.join(10)
    assert not putter.is_alive()  # every put returned; a blocking write would wait for a reader
    assert not writer.flush(0.2)  # nobody reads yet: the lines wait
    assert PipeReader(r).lines(2000) == lines  # then all of them, in order
    assert writer.flush(5)


def test_past_its_bound_lines_are_dropped_and_the_count_reported(pipe: tuple[int, io.TextIOWrapper]) -> None:
    r, stream = pipe
    writer = LineWriter(stream, limit=20_000)
    lines = [f"line {i:05d} " + "x" * 90 for i in range(3000)]  # 300 kB against a 64 kB pipe
    for line in lines:
        writer.put(line)
    # What the pipe and the queue could hold came through, in order; the rest was counted, and the
    # count follows the lines it came after.
    reader = PipeReader(r, chunk=4096)
    got: list[str] = []
    while not got or not got[-1].startswith("[WARNING]"):
        more = reader.lines(1, timeout=5)
        assert more, got[-3:]
        got += more
    *kept, warning = got
    assert kept == lines[: len(kept)]
    dropped = int(warning.split()[1])
    assert warning == f"[WARNING] {dropped} log lines dropped: stdout was not read fast enough"
    assert len(kept) + dropped == len(lines) and dropped > 0
    # Once read again, new lines come as before.
    writer.put("after")
    assert reader.lines(1) == ["after"]


def test_writers_sharing_a_pipe_never_split_a_line(pipe: tuple[int, io.TextIOWrapper]) -> None:
    # Two processes (a supervisor and a worker) write to one stdout; here two writers share one
    # pipe, read slowly so writes find it full. Each write is a piece of whole lines no larger
    # than PIPE_BUF, which a pipe never interleaves with another's.
    r, stream = pipe
    other = open(os.dup(stream.fileno()), "w", encoding="utf-8")
    try:
        writers = [LineWriter(stream), LineWriter(other)]
        for n in range(1500):
            for letter, writer in zip("ab", writers, strict=True):
                writer.put(letter * 300 + f" {n}")
        reader = PipeReader(r, chunk=1000)
        got: list[str] = []
        end = time.monotonic() + 30
        while len(got) < 3000 and time.monotonic() < end:
            got += reader.lines(1, timeout=1)
            time.sleep(0.001)
        assert len(got) == 3000
        for letter in "ab":
            mine = [line for line in got if line[0] == letter]
            assert mine == [letter * 300 + f" {n}" for n in range(1500)]
    finally:
        other.close()


def test_a_stream_without_a_descriptor_is_written_as_a_stream() -> None:
    out = io.StringIO()
    writer = LineWriter(out)
    writer.put("one")
    writer.put("two")
    assert writer.flush(5)
    assert out.getvalue() == "one\ntwo\n"


def test_lines_from_many_threads_all_arrive(pipe: tuple[int, io.TextIOWrapper]) -> None:
    r, stream = pipe
    writer = LineWriter(stream)

    def put(t: int) -> None:
        for i in range(500):
            writer.put(f"{t} {i}")

    threads = [threading.Thread(target=put, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    got = PipeReader(r).lines(2000)
    for t in threads:
        t.join(10)
    for t in range(4):
        assert [line for line in got if line.split()[0] == str(t)] == [f"{t} {i}" for i in range(500)]


def test_a_stream_that_fails_loses_those_lines_and_the_writer_goes_on() -> None:
    # Not only OSError: a buffered stream raises RuntimeError on a reentrant write, and a process
    # without a stdout has None, which has no write at all.
    class Flaky(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.fail = True

        def write(self, s: str) -> int:
            if self.fail:
                self.fail = False
                raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stdout>'>")
            return super().write(s)

    out = Flaky()
    writer = LineWriter(out)
    writer.put("lost")
    assert writer.flush(5)
    writer.put("kept")
    assert writer.flush(5)
    assert out.getvalue() == "kept\n"


def _tree(name: str) -> tuple[logging.Logger, logging.Logger, logging.Handler]:
    """A logger under a parent that holds one handler and does not propagate, as setup() leaves
    ``pycoredns`` (a tree of its own: the real one is the process's)."""
    parent = logging.getLogger(name)
    handler = logging.NullHandler()
    parent.handlers = [handler]
    parent.propagate = False
    parent.filters = []
    child = logging.getLogger(f"{name}.log")
    child.handlers, child.filters, child.propagate, child.disabled = [], [], True, False
    return parent, child, handler


@pytest.mark.parametrize(
    ("change", "alone"),
    [
        pytest.param(lambda p, c, h: None, True, id="the-handler-alone"),
        pytest.param(lambda p, c, h: p.addHandler(logging.NullHandler()), False, id="a-second-handler"),
        pytest.param(lambda p, c, h: c.addHandler(logging.NullHandler()), False, id="a-handler-on-the-way"),
        pytest.param(lambda p, c, h: c.addFilter(lambda r: True), False, id="a-filter-on-the-logger"),
        pytest.param(lambda p, c, h: p.addFilter(lambda r: True), False, id="a-filter-on-the-parent"),
        pytest.param(lambda p, c, h: h.addFilter(lambda r: True), False, id="a-filter-on-the-handler"),
        pytest.param(lambda p, c, h: setattr(p, "propagate", True), False, id="the-parent-propagates"),
        pytest.param(lambda p, c, h: setattr(c, "propagate", False), False, id="the-logger-stops-it"),
        pytest.param(lambda p, c, h: setattr(c, "disabled", True), False, id="disabled"),
        pytest.param(lambda p, c, h: h.setLevel(logging.ERROR), False, id="the-handler-s-level"),
    ],
)
def test_a_laid_out_line_skips_logging_only_when_one_handler_alone_would_see_it(
    change: Callable[[logging.Logger, logging.Logger, logging.Handler], None],
    alone: bool,
    request: pytest.FixtureRequest,
) -> None:
    parent, child, handler = _tree(f"only-{request.node.callspec.id}")
    change(parent, child, handler)
    assert _only(child, handler, logging.INFO) is alone


def test_a_laid_out_line_reaches_a_capture_as_it_was_laid_out() -> None:
    with capture_log() as log:
        plugin_log("slowlog").laid_out(logging.WARNING, "[WARNING] plugin/slowlog: example.org. A took 1.2s")
        plugin_log("slowlog").laid_out(logging.DEBUG, "[DEBUG] plugin/slowlog: shown from DEBUG up")
    assert log.lines == ["[WARNING] plugin/slowlog: example.org. A took 1.2s",
                         "[DEBUG] plugin/slowlog: shown from DEBUG up"]
    assert [r.levelno for r in log.records] == [logging.WARNING, logging.DEBUG]
