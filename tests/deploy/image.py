"""The node-cache image for the tests: built by scripts/build-image.sh, once per state of its inputs.

The tag names a digest of everything the build reads (the Dockerfile, the wrapper, the sources,
the build script), so an unchanged checkout reuses the image it built before, and two checkouts
that build at the same time never run each other's image.
"""

from __future__ import annotations

import functools
import hashlib
import os
import resource
import subprocess
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "localhost/pycoredns/node-cache"
INPUTS = ["scripts/build-image.sh", "deploy/Dockerfile", "deploy/iptables-wrapper", "pyproject.toml", "README.md",
          "pycoredns", "plugins"]
# The flags scripts/build-image.sh explains: runc and cgroupfs (no systemd here), and ulimits
# within the hard limits (podman's defaults exceed them, and root lacks CAP_SYS_RESOURCE).
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]


def ulimits() -> list[str]:
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1048576)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)  # podman caps its own nproc there
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def inputs_digest() -> str:
    h = hashlib.sha256()
    for name in INPUTS:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() or p.is_symlink())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(str(path.relative_to(ROOT)).encode() + b"\0")
            h.update((os.readlink(path).encode() if path.is_symlink() else path.read_bytes()) + b"\0")
    return h.hexdigest()[:12]


@functools.cache
def built_image() -> str:
    """The image reference; built with scripts/build-image.sh unless this state was built before."""
    if os.geteuid() != 0:
        pytest.skip("needs root: rootful podman, network namespaces")
    tag = f"{REPOSITORY}:test-{inputs_digest()}"
    if _have_podman() and podman("image", "exists", tag, check=False).returncode == 0:
        print(f"\nimage {tag}: reusing the image built from these very sources")
        _say_which_base(tag)
        return tag
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-image.sh"), "--tag", tag],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == tag, "the script's last line is the image reference"
    notes = [line for line in done.stderr.splitlines() if line.startswith("build-image:")]
    print(f"\nimage {tag} built by scripts/build-image.sh in {time.monotonic() - started:.0f} s:")
    print("\n".join(notes))
    _forget_old_test_images(tag)
    _say_which_base(tag)
    return tag


def _say_which_base(tag: str) -> None:
    """Warn (in the test summary) when the image stands on the stand-in base, not python:3.11-slim."""
    base = podman("image", "inspect", "--format", '{{index .Labels "org.opencontainers.image.base.name"}}',
                  tag).stdout.strip()
    if "stand-in-base" in base:
        note = (f"the image tests run {tag}, built on a stand-in base made from Debian bookworm's packages"
                f" ({base}): python:3.11-slim-bookworm cannot be pulled here")
        print(f"NOTE: {note}")
        warnings.warn(note, stacklevel=1)


def _have_podman() -> bool:
    return subprocess.run(["sh", "-c", "command -v podman"], capture_output=True).returncode == 0


def _forget_old_test_images(keep: str) -> None:
    """Test images from earlier states, two days old and more (younger ones may be in use by a
    concurrent run of another checkout)."""
    listed = podman("images", "--filter", f"reference={REPOSITORY}:test-*", "--filter", "until=48h",
                    "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    for ref in listed:
        if ref != keep:
            podman("rmi", ref, check=False)
