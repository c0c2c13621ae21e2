"""The heap and goroutine profiles, as far as a Python process has them.

Heap: Python has no sampled allocation profile as Go's runtime keeps. What it has is computed
when asked:

* the objects the garbage collector tracks, grouped by type: ``inuse_objects`` and
  ``inuse_space`` (each object's own ``sys.getsizeof``, not what it refers to), one sample per
  type whose one frame is the type's name. Strings, bytes and numbers are not tracked by the
  collector, so they are counted only through the containers that hold them;
* when ``tracemalloc`` is tracing (started with ``-X tracemalloc`` or ``PYTHONTRACEMALLOC``, or
  for ``seconds=N`` by the endpoint), every live traced allocation by its Python stack instead:
  the allocation sites, as Go's heap profile has them.

Goroutines: every Python thread's stack and every asyncio task's coroutine stack.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterable

from pycoredns.plugins.pprof.profile import Frame, Profile, Stack
from pycoredns.plugins.pprof.sampler import Frames, thread_names

HEAP_TYPES = [("inuse_objects", "count"), ("inuse_space", "bytes")]
TOP = 40


def gc_heap() -> tuple[Profile, list[tuple[str, int, int]]]:
    """Objects tracked by the collector, by type: the profile and (type, count, bytes) rows.

    Run it in a thread: the walk over every object takes a while on a full cache, and the event
    loop gets the interpreter between its steps.
    """
    counts: dict[type, list[int]] = {}
    getsizeof = sys.getsizeof
    # What the serving process froze once it started (pycoredns.server.collector) is in no
    # generation that get_objects walks: thawed for the walk, frozen again after.
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()
    try:
        objects = gc.get_objects()
    finally:
        if frozen:
            gc.freeze()
    for obj in objects:
        t = type(obj)
        cell = counts.get(t)
        try:
            size = getsizeof(obj)
        except TypeError:
            size = 0
        if cell is None:
            counts[t] = [1, size]
        else:
            cell[0] += 1
            cell[1] += size
    rows = sorted(((f"{t.__module__}.{t.__qualname__}", n, b) for t, (n, b) in counts.items()),
                  key=lambda r: r[2], reverse=True)
    prof = Profile(sample_types=HEAP_TYPES, period_type=("space", "bytes"), period=1,
                   default_sample_type="inuse_space",
                   comments=["objects tracked by the garbage collector, by type (shallow sizes)"])
    for name, n, b in rows:
        prof.add((Frame(name),), [n, b])
    return prof, rows


def traced_heap(snapshot: tracemalloc.Snapshot) -> tuple[Profile, list[tuple[str, int, int]]]:
    """Live traced allocations by their Python stack."""
    prof = Profile(sample_types=HEAP_TYPES, period_type=("space", "bytes"), period=1,
                   default_sample_type="inuse_space",
                   comments=[f"tracemalloc, {tracemalloc.get_traceback_limit()} frames per allocation"])
    rows: list[tuple[str, int, int]] = []
    for stat in snapshot.statistics("traceback"):
        # tracemalloc lists the most recent frame last; pprof wants the leaf first.
        stack: Stack = tuple(Frame(f"{f.filename}:{f.lineno}", f.filename, 0, f.lineno)
                             for f in reversed(stat.traceback))
        prof.add(stack, [stat.count, stat.size])
        top = stat.traceback[-1] if len(stat.traceback) else None
        rows.append((f"{top.filename}:{top.lineno}" if top else "?", stat.count, stat.size))
    rows.sort(key=lambda r: r[2], reverse=True)
    return prof, rows


def heap_text(rows: list[tuple[str, int, int]], source: str) -> str:
    """The ``debug=1`` page: process memory, collector state and the largest rows."""
    lines = [f"heap profile: {source}", ""]
    lines += _memory()
    lines.append("")
    lines.append(f"{'bytes':>14} {'objects':>10}  where")
    for name, n, b in rows[:TOP]:
        lines.append(f"{b:>14} {n:>10}  {name}")
    total_n = sum(r[1] for r in rows)
    total_b = sum(r[2] for r in rows)
    lines.append(f"{total_b:>14} {total_n:>10}  total")
    return "\n".join(lines) + "\n"


def _memory() -> list[str]:
    out = []
    try:
        with open("/proc/self/statm") as f:
            pages = f.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        out.append(f"# VmSize = {int(pages[0]) * page}")
        out.append(f"# VmRSS = {int(pages[1]) * page}")
    except (OSError, ValueError, IndexError):
        pass
    out.append(f"# gc.get_count() = {gc.get_count()}")
    out.append(f"# gc.get_threshold() = {gc.get_threshold()}")
    for gen, st in enumerate(gc.get_stats()):
        out.append(f"# gc generation {gen}: collections={st['collections']} collected={st['collected']} "
                   f"uncollectable={st['uncollectable']}")
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        out.append(f"# tracemalloc current={current} peak={peak}")
    return out


_windows = 0  # heap?seconds=N requests tracing right now (tracing they started, not the process)
_windows_lock = threading.Lock()


def traced_by_process() -> bool:
    """Whether tracemalloc traces because the process was started so (not for a window)."""
    with _windows_lock:
        return tracemalloc.is_tracing() and not _windows


def trace_for(seconds: float) -> tracemalloc.Snapshot:
    """Trace allocations for ``seconds`` (in a thread) and snapshot what is still live.

    If the process already traces (started with it), that is left on and the snapshot holds every
    live traced allocation, not only this window's. Windows that overlap share one tracing, which
    the last one to end stops."""
    global _windows
    with _windows_lock:
        if not _windows and tracemalloc.is_tracing():
            started = False  # the process's own tracing
        else:
            started = True
            if not _windows:
                tracemalloc.start(16)
            _windows += 1
    try:
        time.sleep(seconds)
        return tracemalloc.take_snapshot()
    finally:
        if started:
            with _windows_lock:
                _windows -= 1
                if not _windows:
                    tracemalloc.stop()


# -- goroutines: threads and tasks ------------------------------------------------------------------
def stacks(loop: asyncio.AbstractEventLoop | None) -> list[tuple[str, Stack]]:
    """(label, stack) for every Python thread and, on ``loop``'s thread, every task."""
    frames = Frames()
    names = thread_names()
    out: list[tuple[str, Stack]] = []
    for tid, frame in sys._current_frames().items():
        out.append((f"thread {names.get(tid, tid)}", frames.frames(frames.stack(frame))))
    if loop is not None:
        for task in asyncio.all_tasks(loop):
            tframes = task.get_stack(limit=64)
            raw = [r for f in reversed(tframes) for r in frames.stack_one(f)]
            out.append((f"task {task.get_name()}", frames.frames(tuple(raw))))
    return out


def goroutine_profile(entries: Iterable[tuple[str, Stack]]) -> Profile:
    counts: dict[Stack, int] = {}
    for _label, stack in entries:
        counts[stack] = counts.get(stack, 0) + 1
    prof = Profile(sample_types=[("goroutine", "count")], period_type=("goroutine", "count"), period=1)
    for stack, n in counts.items():
        prof.add(stack, [n])
    return prof


def goroutine_text(entries: list[tuple[str, Stack]]) -> str:
    """``debug=2``: each thread and task with its stack, innermost call first."""
    out = [f"{len(entries)} threads and tasks in pid {os.getpid()} ({threading.active_count()} threads)", ""]
    for label, stack in entries:
        out.append(f"{label}:")
        for fr in stack:
            out.append(f"{fr.name}(...)")
            out.append(f"\t{fr.filename}:{fr.line}")
        out.append("")
    return "\n".join(out)
