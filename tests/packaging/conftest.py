"""pycoredns as users install it: one wheel per test session, built from a copy of the checkout,
and new virtual environments it is installed into, with nothing else from the source tree.

Installing needs no index once the dependencies' wheels are in the wheelhouse (kept between runs
and checkouts); what is missing is fetched once with this machine's pip configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "pycoredns", "plugins"]
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".pytest_cache")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    cwd: Path  # an empty directory: nothing importable next to the programs
    env: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *cmd: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), cwd=cwd or self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def pip_install(self, *args: str) -> None:
        """``pip install ARGS`` into this venv, from the wheelhouse only (see :func:`install`)."""
        install(self.venv, *args, work=self.cwd.parent)


def pip(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def copy_sources(dest: Path) -> None:
    dest.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, symlinks=True, ignore=JUNK)
        else:
            shutil.copy2(src, dest / name)


def wheelhouse() -> Path:
    """Wheels of the dependencies, kept between runs (and checkouts) so that installing needs no
    index once they are there."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = cache / "pycoredns-tests" / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def install(venv: Path, *requirements: str, work: Path) -> None:
    """``pip install REQUIREMENTS`` (and their dependencies) into ``venv``: from the wheelhouse
    alone when it has them all, else after fetching what is missing with this machine's pip
    configuration. Options (``--no-build-isolation``) and local paths may be given too."""
    house = wheelhouse()
    offline = ["--python", str(venv / "bin" / "python"), "install", "-q", "--disable-pip-version-check",
               "--no-index", "--find-links", str(house), *requirements]
    if pip(*offline, cwd=work).returncode == 0:
        return
    fetched = work / "fetched"
    wanted = [r for r in requirements if not r.startswith("-")]
    got = pip("download", "-q", "--disable-pip-version-check", "-d", str(fetched), *wanted, cwd=work)
    assert got.returncode == 0, got.stdout + got.stderr
    for dep in fetched.glob("*.whl"):
        if not dep.name.startswith("pycoredns"):
            tmp = house / f".{dep.name}.{os.getpid()}"
            shutil.copy2(dep, tmp)
            os.replace(tmp, house / dep.name)  # whole files only, for a concurrent reader
    done = pip(*offline, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def pycoredns_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once per session from a copy of what the image build
    copies too (no build isolation: the test venv has the build backend, so no index is needed)."""
    work = tmp_path_factory.mktemp("wheel")
    copy_sources(work / "src")
    build = pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(work / "src"))
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (work / "dist").glob("pycoredns-*.whl")
    return wheel


def new_venv(work: Path, wheel: Path, *extra: str) -> Installed:
    """A new venv in ``work`` with ``wheel`` (and ``extra`` requirements) installed, and an empty
    folder to run its programs from."""
    started = time.monotonic()
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    install(venv, str(wheel), *extra, work=work)
    print(f"\n{wheel.name} {' '.join(extra)} installed into a new venv in {time.monotonic() - started:.1f} s")
    cwd = work / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(wheel, venv, cwd, env)
