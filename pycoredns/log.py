"""CoreDNS's log layout: ``[LEVEL] plugin/NAME: message`` on stdout, no timestamp.

The lines are written by a thread of their own (LineWriter): a reader that stops reading (a full
pipe to a stalled container runtime) then holds up that thread, never the event loop that answers
DNS. What it cannot take is queued up to a bound, then dropped and counted.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

_ROOT = "pycoredns"
_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("["):  # already laid out by the caller
            return msg
        level = _LEVELS.get(record.levelno, record.levelname)
        plugin = getattr(record, "plugin", None)
        text = f"[{level}] plugin/{plugin}: {msg}" if plugin else f"[{level}] {msg}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return text


# Characters of lines queued for a reader that has fallen behind; past it lines are dropped.
QUEUE_LIMIT = 4 << 20
# Seconds the writer waits, once woken, for more lines. Each wake and each write hands the
# interpreter lock between it and the loop; at one line per query (the log plugin) a wake per line
# cost the server more CPU than writing the line itself had. Measured with dnsperf at 8,000
# queries/s and every query logged, CPU per query (median of five): 111.9 us writing from the loop,
# 109.8 us through the writer with this wait (with 1 ms, it was 5-10% above the first).
GATHER = 0.05


class LineWriter:
    """Lines for a stream, written in order by a thread of their own.

    ``put`` never blocks on the stream: the event loop calls it, and a blocked write there would
    stop every query (a Go server's other goroutines go on answering; ours would not). While the
    stream cannot take them, lines wait in memory up to ``limit`` characters; past that they are
    dropped, and once the stream takes lines again a ``[WARNING]`` line says how many went.

    A stream with a file descriptor is written with ``os.write`` in pieces of at most PIPE_BUF
    bytes that end at a line's end: a pipe writes such a piece whole, so the lines of processes
    sharing one stdout (a supervisor and its workers) never interleave within a line.
    """

    def __init__(self, stream: TextIO, limit: int = QUEUE_LIMIT) -> None:
        self.stream = stream
        self.limit = limit
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # a stream in memory: written as a stream
            self.fd = None
        self._lines: list[str] = []
        self._size = 0
        self._dropped = 0
        self._busy = False  # the thread holds lines it has not finished writing
        self._hurry = False  # flush() waits: write what there is without gathering more
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        """Queue one line (without its newline) for the stream."""
        with self._lock:
            if self._size + len(line) > self.limit:
                self._dropped += 1
                return
            self._lines.append(line)
            self._size += len(line) + 1
            if not self._busy:
                self._wake.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued line is written, at most ``timeout`` seconds (a stream nobody
        reads must not keep a process from exiting); whether they were."""
        with self._lock:
            self._hurry = True
            self._wake.notify()
            return self._idle.wait_for(lambda: not (self._lines or self._dropped or self._busy), timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not (self._lines or self._dropped):
                    self._busy = self._hurry = False
                    self._idle.notify_all()
                    self._wake.wait()
                self._busy = True  # puts from here on need not wake it
                if not self._hurry:
                    self._wake.wait(GATHER)  # a burst's lines gather: one wake and one write for many
                self._hurry = False
                lines, self._lines, self._size = self._lines, [], 0
                dropped, self._dropped = self._dropped, 0
            if dropped:  # they came after the lines taken here, before any queued since
                lines.append(f"[WARNING] {dropped} log lines dropped: stdout was not read fast enough")
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        try:
            if self.fd is None:
                self.stream.write("".join(line + "\n" for line in lines))
                self.stream.flush()
                return
            self.stream.flush()  # whatever was printed to it before comes first
            piece = bytearray()
            for line in lines:
                data = (line + "\n").encode(self.encoding, "backslashreplace")
                if piece and len(piece) + len(data) > select.PIPE_BUF:
                    self._write_fd(piece)
                    piece = bytearray()
                piece += data
            if piece:
                self._write_fd(piece)
        except Exception:
            # The stream is closed or gone (EPIPE, a closed file, no stdout at all): nothing can
            # take these lines, and the thread must live on for the next ones.
            pass

    def _write_fd(self, data: bytearray) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:  # another process made the shared descriptor non-blocking
                select.select([], [self.fd], [], 1.0)


class _LineHandler(logging.Handler):
    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.put(self.format(record))
        except Exception:
            self.handleError(record)


_handler: _LineHandler | None = None  # the process's own, once setup() has run


def setup(debug: bool = False, stream: TextIO | None = None) -> None:
    """Send pycoredns's log to stdout in CoreDNS's layout (idempotent), through a LineWriter.

    The layout shows no caller, thread or process, so the records do not collect them (the
    logging HOWTO's optimisations): that halves the cost of a line, and the errors plugin writes
    one per failed query (thousands a second while an upstream is down)."""
    global _handler
    logging._srcfile = None  # no sys._getframe() walk for the caller's file and line
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logger = logging.getLogger(_ROOT)
    if _handler is None:
        h = _handler = _LineHandler(LineWriter(stream or sys.stdout))
        h.setFormatter(_Format())
        logger.addHandler(h)
        logger.propagate = False
        atexit.register(flush)
    set_debug(debug)


def out(line: str) -> None:
    """Write a line that is not a log record (the startup banner) in order with the log's."""
    if _handler is None:
        print(line, flush=True)
    else:
        _handler.writer.put(line)


def flush(timeout: float = 2.0) -> bool:
    """Wait, at most ``timeout`` seconds, for the lines logged so far to be written (at exit)."""
    return _handler is None or _handler.writer.flush(timeout)


def set_debug(debug: bool) -> None:
    logging.getLogger(_ROOT).setLevel(logging.DEBUG if debug else logging.INFO)


class PluginLog(logging.LoggerAdapter[logging.Logger]):
    """A logger whose lines read ``[INFO] plugin/NAME: ...`` (CoreDNS's clog.NewWithPlugin)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs.setdefault("extra", {})["plugin"] = self.extra["plugin"] if self.extra else None
        return msg, kwargs

    def laid_out(self, level: int, line: str) -> None:
        """Log ``line``, already in the layout (``[INFO] ...``, ``[ERROR] plugin/errors: ...``).

        The plugins that write a line per query (log, errors) use it. When the process's own
        handler is the only one the record would meet (no other handler, no filter on the way),
        the line goes straight to its writer: a logging call costs about 8 us, most of it making
        the record, the writer's put 0.4 us. Otherwise (a test's capture, a handler someone
        added) it is logged as any record is."""
        h = _handler
        if h is not None and self.logger.isEnabledFor(level) and _only(self.logger, h, level):
            h.writer.put(line)
        else:
            self.log(level, "%s", line)


def _only(logger: logging.Logger, handler: logging.Handler, level: int) -> bool:
    """Whether a record of ``level`` from ``logger`` would meet ``handler`` and nothing else."""
    if logger.disabled:
        return False
    lg: logging.Logger | None = logger
    while lg is not None:
        if lg.filters:
            return False
        if lg.handlers:
            return lg.handlers == [handler] and not lg.propagate and not handler.filters and level >= handler.level
        if not lg.propagate:
            return False
        lg = lg.parent
    return False


def plugin_log(name: str) -> PluginLog:
    return PluginLog(logging.getLogger(f"{_ROOT}.{name}"), {"plugin": name})


def get() -> logging.Logger:
    return logging.getLogger(_ROOT)
