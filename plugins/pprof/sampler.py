"""Sampling profilers that run in a thread of their own, so the event loop never waits on them.

CPU: the main thread, where the server's event loop runs, is sampled from a timer signal
(see :class:`_SignalSampler`). Every other thread is sampled from a worker thread: every
``interval`` it reads their stacks (``sys._current_frames``) and the CPU time each used since the
last tick (its POSIX CPU clock); a thread that used CPU counts one sample and those nanoseconds
under its current stack, an idle one counts nothing. A thread sampler only gets to look when it
holds the interpreter lock, so it sees a busy thread where that thread lets go of the lock, which
is why the loop's thread is not sampled that way. Time spent in C (a system call, uvloop itself)
is charged to the Python frame that called it.

Loop stalls (the ``block`` option): Go's block profile records where goroutines wait for each
other. Here the queries run on one event loop, and what waits is a ready callback waiting for the
loop to come round; the monitor posts one callback per tick from its thread and records how long
the loop took to run it, under the stack the loop was running when it was posted.
"""

from __future__ import annotations

import asyncio
import dis
import inspect
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from pycoredns.plugins.pprof.profile import Frame, Profile, Stack

INTERVAL = 0.01  # 100 Hz, Go's default CPU profiling rate
MAX_DEPTH = 64


class Frames:
    """Turns live frames into :class:`Frame` values, one lookup per code object after the first."""

    def __init__(self) -> None:
        self._names: dict[CodeType, tuple[str, str, int]] = {}

    def stack(self, frame: FrameType | None, depth: int = MAX_DEPTH) -> tuple[tuple[CodeType, int], ...]:
        """The stack's (code, line) pairs, leaf first, at most ``depth`` deep."""
        out: list[tuple[CodeType, int]] = []
        names = self._names
        while frame is not None and len(out) < depth:
            code = frame.f_code
            if code not in names:
                module = frame.f_globals.get("__name__", "")
                names[code] = (f"{module}.{code.co_qualname}" if module else code.co_qualname,
                               code.co_filename, code.co_firstlineno)
            out.append((code, frame.f_lineno or 0))
            frame = frame.f_back
        return tuple(out)

    def stack_one(self, frame: FrameType) -> tuple[tuple[CodeType, int], ...]:
        """One frame alone (a task's frames are listed, not linked)."""
        return self.stack(frame, depth=1)

    def frames(self, raw: tuple[tuple[CodeType, int], ...]) -> Stack:
        names = self._names
        return tuple(Frame(*names[code], line=line) for code, line in raw)


def thread_names() -> dict[int, str]:
    return {t.ident: t.name for t in threading.enumerate() if t.ident is not None}


class InUse(RuntimeError):
    """cpu profiling already in use"""


class CPUSampler:
    """One CPU profile at a time for the process (Go's runtime allows one too)."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()

    async def profile(self, seconds: float) -> Profile:
        """Sample for ``seconds``; called on the event loop, which keeps running meanwhile."""
        if not self._lock.acquire(blocking=False):
            raise InUse("cpu profiling already in use")
        try:
            frames = Frames()
            counts: Counts = {}
            main = threading.main_thread().ident or 0
            signals = None
            if threading.get_ident() == main and hasattr(signal, "setitimer"):
                signals = _SignalSampler(main, frames, counts, self.interval, idle_frames())
            started = time.monotonic_ns()
            if signals is not None:
                signals.start()
            try:
                skip = {main} if signals is not None else set()
                await asyncio.get_running_loop().run_in_executor(
                    None, self._sample_threads, seconds, frames, counts, skip)
            finally:
                if signals is not None:
                    signals.stop()
                    signals.weigh()
            return self._build(frames, counts, time.monotonic_ns() - started)
        finally:
            self._lock.release()

    def _sample_threads(self, seconds: float, frames: Frames, counts: Counts, skip: set[int]) -> None:
        """The other threads, from this (worker) thread: their stacks at each tick."""
        skip = skip | {threading.get_ident()}
        clocks: dict[int, int] = {}
        last: dict[int, int] = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(self.interval, max(end - time.monotonic(), 0)))
            _tick(skip, frames, clocks, last, counts)  # in a call, so no frame outlives the tick

    def _build(self, frames: Frames, counts: Counts, duration_ns: int) -> Profile:
        prof = Profile(
            sample_types=[("samples", "count"), ("cpu", "nanoseconds")],
            period_type=("cpu", "nanoseconds"),
            period=int(self.interval * 1e9),
            duration_ns=duration_ns,
        )
        names = thread_names()
        for (tid, raw), (n, ns) in list(counts.items()):
            prof.add(frames.frames(raw), [n, ns], {"thread": names.get(tid, str(tid))})
        return prof


class _SignalSampler:
    """The main thread (the event loop's, in a server) sampled from a timer signal, as Go samples.

    ``ITIMER_REAL`` raises SIGALRM every ``interval``; Python runs the handler in the main thread
    at its next instruction, with the frame it interrupted: the code that was running, not the
    place where a thread sampler could take the interpreter lock. A sample whose frame is the loop
    waiting for events (``idle``), or the very start of a callback the loop called (the signal came
    while it waited, and the handler ran at the next chance), is not counted. The main thread's
    CPU clock, read at both ends, is shared out over the counted samples. (A CPU-time timer,
    ITIMER_PROF, fires far too rarely for a loop that runs in bursts of tens of microseconds: the
    kernel checks it on its ticks.) Once stopped, SIGALRM is left ignored rather than restored to
    its default, which would end the process if a last signal were still on its way.
    """

    def __init__(self, tid: int, frames: Frames, counts: Counts, interval: float, idle: set[object]) -> None:
        self.tid = tid
        self.frames = frames
        self.counts = counts
        self.interval = interval
        self.idle = idle
        self.clock = time.pthread_getcpuclockid(tid)
        self.cpu_ns = 0
        self.samples = 0
        self.previous: Any = None

    def start(self) -> None:
        self.cpu_ns = -time.clock_gettime_ns(self.clock)
        self.previous = signal.signal(signal.SIGALRM, self._on_signal)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        self.cpu_ns += time.clock_gettime_ns(self.clock)
        previous = self.previous
        keep = previous not in (None, signal.SIG_DFL) and previous != self._on_signal
        signal.signal(signal.SIGALRM, previous if keep else signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if frame is None or frame in self.idle or frame.f_code in self.idle:
            return
        if frame.f_back in self.idle and frame.f_lasti == _entry(frame.f_code):
            # At the first instruction of a callback the loop just called: the signal came while
            # the loop waited for events, and Python ran the handler at its next chance.
            return
        self.samples += 1
        key = (self.tid, self.frames.stack(frame))
        cell = self.counts.get(key)
        if cell is None:
            self.counts[key] = [1, 0]
        else:
            cell[0] += 1

    def weigh(self) -> None:
        """Give each of the main thread's samples its share of the CPU it used."""
        if not self.samples:
            return
        each = self.cpu_ns // self.samples
        for (tid, _raw), cell in self.counts.items():
            if tid == self.tid:
                cell[1] = cell[0] * each


_RESUME = dis.opmap["RESUME"]
_ENTRIES: dict[CodeType, int] = {}


def _entry(code: CodeType) -> int:
    """The offset of the instruction a call of ``code`` starts at (its first RESUME)."""
    at = _ENTRIES.get(code)
    if at is None:
        raw = code.co_code
        at = next((i for i in range(0, len(raw), 2) if raw[i] == _RESUME), -1)
        _ENTRIES[code] = at
    return at


def idle_frames() -> set[object]:
    """Where the event loop's thread waits for events, as a sample sees it: the frame that runs
    the loop (a coroutine's chain up from here ends in it), uvloop's signal check and the stock
    loop's selector."""
    import selectors

    out: set[object] = set()
    frame = sys._getframe()
    while frame is not None and frame.f_code.co_flags & inspect.CO_COROUTINE == 0:
        frame = frame.f_back  # type: ignore[assignment]
    while frame is not None and frame.f_code.co_flags & inspect.CO_COROUTINE:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is not None:
        out.add(frame)
    for sel in ("EpollSelector", "PollSelector", "SelectSelector"):
        cls = getattr(selectors, sel, None)
        if cls is not None:
            out.add(cls.select.__code__)
    try:
        from uvloop import _noop

        out.add(_noop.noop.__code__)
    except ImportError:
        pass
    return out


Counts = dict[tuple[int, tuple[tuple[CodeType, int], ...]], list[int]]


def _tick(skip: set[int], frames: Frames, clocks: dict[int, int], last: dict[int, int], counts: Counts) -> None:
    for tid, frame in sys._current_frames().items():
        if tid in skip:
            continue
        used = _cpu_ns(tid, clocks)
        if used is None:
            continue
        before = last.get(tid)
        last[tid] = used
        if before is None or used <= before:
            continue  # first sight (a baseline), or idle since the last tick
        key = (tid, frames.stack(frame))
        cell = counts.get(key)
        if cell is None:
            counts[key] = [1, used - before]
        else:
            cell[0] += 1
            cell[1] += used - before


def _cpu_ns(tid: int, clocks: dict[int, int]) -> int | None:
    """The thread's CPU time in nanoseconds, or None once it has gone."""
    try:
        clock = clocks.get(tid)
        if clock is None:
            clock = clocks[tid] = time.pthread_getcpuclockid(tid)
        return time.clock_gettime_ns(clock)
    except (OSError, OverflowError):
        clocks.pop(tid, None)
        return None


class LoopStalls:
    """The ``block`` profile: how long callbacks waited for the event loop, and behind what.

    ``rate`` has Go's ``runtime.SetBlockProfileRate`` meaning in nanoseconds: a wait of at least
    ``rate`` is always recorded, a shorter one with probability wait/rate (and then counted as
    rate/wait events of ``rate`` ns, Go's correction for that sampling); 0 or less records nothing.
    """

    def __init__(self, rate: int, interval: float = INTERVAL, rand: Callable[[int], int] | None = None) -> None:
        self.rate = rate
        self.interval = interval
        self._rand = rand or random.Random().randrange
        self._frames = Frames()
        self._events: dict[tuple[tuple[CodeType, int], ...], list[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pending = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start watching the running loop (call from the loop's thread)."""
        if self.rate <= 0 or self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="pprof-block", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(1.0)

    def _watch(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stop.wait(self.interval):
            if self._pending:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            raw = self._frames.stack(frame)
            del frame
            self._pending = True
            try:
                loop.call_soon_threadsafe(self._arrived, time.perf_counter_ns(), raw)
            except RuntimeError:  # the loop closed
                return

    def _arrived(self, posted: int, raw: tuple[tuple[CodeType, int], ...]) -> None:
        self._pending = False
        self.record(time.perf_counter_ns() - posted, raw)

    def record(self, waited: int, raw: tuple[tuple[CodeType, int], ...]) -> None:
        rate = self.rate
        if rate <= 0 or waited <= 0:
            return
        if waited < rate and self._rand(rate) > waited:
            return
        count, delay = (rate / waited, float(rate)) if waited < rate else (1.0, float(waited))
        with self._lock:
            cell = self._events.get(raw)
            if cell is None:
                self._events[raw] = [count, delay]
            else:
                cell[0] += count
                cell[1] += delay

    def profile(self) -> Profile:
        prof = Profile(
            sample_types=[("contentions", "count"), ("delay", "nanoseconds")],
            period_type=("contentions", "count"),
            period=1,
        )
        with self._lock:
            events = list(self._events.items())
        for raw, (count, delay) in events:
            prof.add(self._frames.frames(raw), [round(count), round(delay)])
        return prof
