"""``-workers auto``: as many workers as the CPU quota allows, as long as they fit the memory limit.

The CPU figure is the cgroup's quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``, rounded up, as Go rounds its own), else ``GOMAXPROCS`` when set (a pod
spec that set it for Go's node-cache keeps meaning the same), else the CPUs this process may run
on. The memory limit is the cgroup's (v2 ``memory.max``, v1 ``memory.limit_in_bytes``); each
worker costs :data:`WORKER_BYTES` (its fixed RSS, measured, rounded up), and the supervisor and
the caches are counted once (:data:`RESERVED_BYTES`: a cache's capacity is split between the
workers, so N workers hold one cache's worth). The cgroup files are looked up from the process's
own cgroup towards the mount point, the lowest limit winning, as a container sees them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
WORKER_BYTES = 40 * MIB  # a worker's fixed RSS with the node-local-dns Corefile (about 38 MiB), rounded up
RESERVED_BYTES = 40 * MIB + 40 * MIB  # node-cache's supervisor (39 MiB), and that Corefile's caches when full
UNLIMITED = 1 << 62  # cgroup v1 writes "no limit" as a huge number


@dataclass(frozen=True)
class Choice:
    workers: int
    reason: str


@dataclass(frozen=True)
class _Mount:
    root: str  # the cgroup path mounted there
    point: Path
    v2: bool


def _mounts(proc: Path) -> dict[str, _Mount]:
    """Controller name ("" for cgroup v2) -> its mount, from /proc/self/mountinfo."""
    out: dict[str, _Mount] = {}
    try:
        lines = (proc / "self" / "mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            out.setdefault("", _Mount(fields[3], Path(fields[4]), True))
        elif fstype == "cgroup":
            for opt in options:
                if opt in ("cpu", "memory"):
                    out.setdefault(opt, _Mount(fields[3], Path(fields[4]), False))
    return out


def _paths(proc: Path) -> dict[str, str]:
    """Controller name ("" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name in parts[1].split(",") if parts[1] else [""]:
            out[name] = parts[2]
    return out


def _dirs(mount: _Mount, path: str) -> list[Path]:
    """The process's cgroup folder and its parents up to the mount point."""
    rel = os.path.relpath(path, mount.root) if path.startswith(mount.root) else path.lstrip("/")
    rel = "" if rel == "." or rel.startswith("..") else rel
    parts = [p for p in rel.split("/") if p]
    return [mount.point.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota(proc: Path = Path("/proc")) -> tuple[float, str] | None:
    """(CPUs, where it was read) for the lowest CPU quota on the way up, or None without one."""
    mounts, paths = _mounts(proc), _paths(proc)
    found: tuple[float, str] | None = None
    if "" in mounts and "" in paths:
        for d in _dirs(mounts[""], paths[""]):
            text = _read(d / "cpu.max")
            if text is None:
                continue
            quota, _, period = text.partition(" ")
            if quota != "max" and quota.isdigit() and period.isdigit() and int(period) > 0:
                cpus = int(quota) / int(period)
                if found is None or cpus < found[0]:
                    found = (cpus, "cgroup v2 cpu.max")
    if found is None and "cpu" in mounts and "cpu" in paths:
        for d in _dirs(mounts["cpu"], paths["cpu"]):
            q, per = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            if q is None or per is None or not per.isdigit() or int(per) <= 0:
                continue
            if q.lstrip("-").isdigit() and int(q) > 0:
                cpus = int(q) / int(per)
                if found is None or cpus < found[0]:
                    found = (cpus, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us")
    return found


def memory_limit(proc: Path = Path("/proc")) -> tuple[int, str] | None:
    """(bytes, where it was read) for the lowest memory limit on the way up, or None."""
    mounts, paths = _mounts(proc), _paths(proc)
    found: tuple[int, str] | None = None
    if "" in mounts and "" in paths:
        for d in _dirs(mounts[""], paths[""]):
            text = _read(d / "memory.max")
            if text is not None and text.isdigit() and (found is None or int(text) < found[0]):
                found = (int(text), "cgroup v2 memory.max")
    if found is None and "memory" in mounts and "memory" in paths:
        for d in _dirs(mounts["memory"], paths["memory"]):
            text = _read(d / "memory.limit_in_bytes")
            if text is not None and text.isdigit() and int(text) < UNLIMITED:
                if found is None or int(text) < found[0]:
                    found = (int(text), "cgroup v1 memory.limit_in_bytes")
    return found


def auto_workers(proc: Path = Path("/proc"), env: dict[str, str] | None = None, cpus: int | None = None) -> Choice:
    """The ``-workers auto`` choice and a sentence saying why (logged at start)."""
    env = dict(os.environ) if env is None else env
    available = cpus if cpus is not None else len(os.sched_getaffinity(0))
    quota = cpu_quota(proc)
    gomaxprocs = env.get("GOMAXPROCS", "").strip()
    if quota is not None:
        n = max(1, math.ceil(quota[0] - 1e-9))
        why = f"CPU quota {quota[0]:g} ({quota[1]})"
    elif gomaxprocs.isdigit() and int(gomaxprocs) > 0:
        n = int(gomaxprocs)
        why = f"GOMAXPROCS={n}"
    else:
        n = available
        why = f"{available} CPUs"
    limit = memory_limit(proc)
    if limit is None:
        return Choice(n, f"{why}, no memory limit")
    fit = (limit[0] - RESERVED_BYTES) // WORKER_BYTES
    mem = f"memory limit {limit[0] // MIB} MiB ({limit[1]})"
    if fit < n:
        n = max(1, fit)
        return Choice(n, f"{why}, capped by the {mem}: {WORKER_BYTES // MIB} MiB a worker, "
                         f"{RESERVED_BYTES // MIB} MiB for the supervisor and the caches")
    return Choice(n, f"{why}, {mem} fits them")


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one, as Go's runtime does at start for
    CoreDNS: every TCP client, upstream socket and connection is a file, and a low soft limit
    (often 1024) would let a connection flood starve the upstream sockets. Returns the limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
