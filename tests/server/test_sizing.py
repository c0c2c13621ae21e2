"""``-workers auto`` on cgroup v1 and v2 layouts written under a temporary folder (a fake /proc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.server import sizing

MIB = 1 << 20


def fake(tmp: Path, cgroup: str, mountinfo: list[str], files: dict[str, str]) -> Path:
    proc = tmp / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup)
    lines = [line.replace("@", str(tmp)) for line in mountinfo]
    (proc / "self" / "mountinfo").write_text("\n".join(lines) + "\n")
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return proc


V2_MOUNT = ["30 23 0:26 / @/cg rw,nosuid - cgroup2 cgroup2 rw"]
V1_MOUNTS = [
    "32 31 0:29 / @/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct",
    "35 31 0:32 / @/memory rw,relatime - cgroup cgroup rw,memory",
]


def test_v2_quota_rounded_up_and_capped_by_memory(tmp_path: Path) -> None:
    proc = fake(tmp_path, "0::/kubepods/pod1/c1\n", V2_MOUNT, {
        "cg/kubepods/pod1/c1/cpu.max": "250000 100000",  # 2.5 CPUs
        "cg/kubepods/pod1/c1/memory.max": "max",
        "cg/kubepods/pod1/memory.max": str(200 * MIB),  # the pod's limit, one level up
    })
    assert sizing.cpu_quota(proc) == (2.5, "cgroup v2 cpu.max")
    assert sizing.memory_limit(proc) == (200 * MIB, "cgroup v2 memory.max")
    choice = sizing.auto_workers(proc, env={}, cpus=8)
    fit = (200 * MIB - sizing.RESERVED_BYTES) // sizing.WORKER_BYTES
    assert choice.workers == min(3, fit)
    assert "CPU quota 2.5 (cgroup v2 cpu.max)" in choice.reason and "200 MiB" in choice.reason


def test_v2_without_limits_uses_gomaxprocs_then_the_cpus(tmp_path: Path) -> None:
    proc = fake(tmp_path, "0::/\n", V2_MOUNT, {"cg/cpu.max": "max 100000", "cg/memory.max": "max"})
    assert sizing.cpu_quota(proc) is None and sizing.memory_limit(proc) is None
    assert sizing.auto_workers(proc, env={"GOMAXPROCS": "3"}, cpus=8) == sizing.Choice(
        3, "GOMAXPROCS=3, no memory limit"
    )
    assert sizing.auto_workers(proc, env={}, cpus=8) == sizing.Choice(8, "8 CPUs, no memory limit")


def test_v1_cfs_quota_and_memory_limit(tmp_path: Path) -> None:
    proc = fake(tmp_path, "4:memory:/pod/c\n2:cpu,cpuacct:/pod/c\n0::/\n", V1_MOUNTS, {
        "cpu/pod/c/cpu.cfs_quota_us": "-1",
        "cpu/pod/c/cpu.cfs_period_us": "100000",
        "cpu/pod/cpu.cfs_quota_us": "150000",  # the pod's: 1.5 CPUs
        "cpu/pod/cpu.cfs_period_us": "100000",
        "memory/pod/c/memory.limit_in_bytes": "9223372036854771712",  # v1's "no limit"
        "memory/pod/memory.limit_in_bytes": str(1024 * MIB),
    })
    assert sizing.cpu_quota(proc) == (1.5, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us")
    assert sizing.memory_limit(proc) == (1024 * MIB, "cgroup v1 memory.limit_in_bytes")
    assert sizing.auto_workers(proc, env={"GOMAXPROCS": "6"}, cpus=8).workers == 2  # the quota wins


@pytest.mark.parametrize("limit_mib", [60, 100])
def test_a_tight_memory_limit_still_gets_one_worker(tmp_path: Path, limit_mib: int) -> None:
    proc = fake(tmp_path, "0::/\n", V2_MOUNT, {"cg/memory.max": str(limit_mib * MIB)})
    assert sizing.auto_workers(proc, env={}, cpus=4).workers == 1


def test_a_container_sees_its_own_cgroup_at_the_mount_root(tmp_path: Path) -> None:
    # With a cgroup namespace the path is "/" and the mount's root is the container's cgroup.
    proc = fake(tmp_path, "0::/\n", ["30 23 0:26 /kubepods/pod1/c1 @/cg rw - cgroup2 cgroup2 rw"], {
        "cg/cpu.max": "100000 100000",
    })
    choice = sizing.auto_workers(proc, env={}, cpus=4)
    assert choice == sizing.Choice(1, "CPU quota 1 (cgroup v2 cpu.max), no memory limit")


def test_no_cgroup_files_at_all(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    assert sizing.auto_workers(proc, env={}, cpus=2) == sizing.Choice(2, "2 CPUs, no memory limit")
