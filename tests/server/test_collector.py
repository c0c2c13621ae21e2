"""The garbage collector's settings: only the program's entry points change them."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pycoredns.server import collector


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    collector._serving = False


def test_a_process_that_did_not_ask_keeps_the_defaults(restore_gc: None) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    collector.settle()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_serving_raises_the_young_threshold_and_freezes_what_loading_left(restore_gc: None) -> None:
    collector.serve_mode()
    assert gc.get_threshold()[0] == collector.YOUNG
    collector.settle()
    assert gc.get_freeze_count() > 0


def test_the_command_serves_with_the_settings() -> None:
    # In a process of its own, as a user runs it: the entry point applies them before serving.
    code = (
        "import gc, sys\n"
        "from pycoredns.server import collector\n"
        "import pycoredns.cli as cli\n"
        "seen = []\n"
        "def run(coro):\n"
        "    coro.close()\n"
        "    seen.append(gc.get_threshold()[0])\n"
        "    return 0\n"
        "import uvloop\n"
        "uvloop.run = run\n"
        "cli.run_server('', '0', True, '', None)\n"
        "print(seen[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == collector.YOUNG
