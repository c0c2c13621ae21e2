"""The node registry in a temporary folder: join, liveness by lock, leaving, waiting for a successor.

Registries in this process stand for instances (each keeps its own open file, so their locks
conflict as two processes' would); a child process killed with SIGKILL stands for a crashed one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pycoredns.server.instances import NodeRegistry


def test_join_others_and_leave(tmp_path: Path) -> None:
    a = NodeRegistry(tmp_path, "aaaa", workers=2)
    b = NodeRegistry(tmp_path, "bbbb")
    assert a.join() == []
    a.serving()
    others = b.join()
    assert [(m["id"], m["state"], m["workers"]) for m in others] == [("aaaa", "serving", 2)]
    assert [m["id"] for m in a.others()] == ["bbbb"] and not a.alone()
    assert [m["state"] for m in b.leave()] == ["serving"]
    assert b.hand_over()  # a serves: b hands its traffic over
    assert b.leave() == b.left_with  # idempotent
    assert a.alone()
    assert a.leave() == [] and not a.hand_over()
    assert list((tmp_path / "instances").iterdir()) == []


def test_a_killed_instance_does_not_count(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pycoredns.server.instances import NodeRegistry\n"
         f"r = NodeRegistry({str(tmp_path)!r}, 'dead'); r.join(); r.serving(); print('in', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "in"
        me = NodeRegistry(tmp_path, "live")
        assert [m["id"] for m in me.join()] == ["dead"]  # alive while it holds its lock
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert me.others() == []  # its lock went with it: the entry is removed
        assert not (tmp_path / "instances" / "dead.json").exists()
        assert me.leave() == []
    finally:
        child.kill()
        child.wait(10)


def test_the_node_lock_is_exclusive_and_reentrant(tmp_path: Path) -> None:
    a, b = NodeRegistry(tmp_path, "a"), NodeRegistry(tmp_path, "b")
    order: list[str] = []
    with a.locked(), a.locked():
        t = threading.Thread(target=lambda: (b.locked().__enter__(), order.append("b")))
        t.start()
        time.sleep(0.2)
        order.append("a")
    t.join(5)
    assert order == ["a", "b"]


def test_a_stopping_instance_waits_for_one_still_starting(tmp_path: Path) -> None:
    old, new = NodeRegistry(tmp_path, "old"), NodeRegistry(tmp_path, "new")
    old.join()
    old.serving()
    new.join()  # starting
    threading.Timer(0.4, new.serving).start()
    started = time.monotonic()
    old.await_successor(timeout=10)
    assert 0.3 < time.monotonic() - started < 5
    assert old.leave()[0]["state"] == "serving" and old.hand_over()
    # Nobody else, or nobody that ever serves: no wait beyond the bound.
    started = time.monotonic()
    new.await_successor(timeout=10)
    assert time.monotonic() - started < 1
    late = NodeRegistry(tmp_path, "late")
    late.join()
    started = time.monotonic()
    new.await_successor(timeout=0.5)
    assert 0.4 < time.monotonic() - started < 3


def test_a_folder_that_cannot_be_used_is_logged_and_the_instance_serves_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = NodeRegistry(blocker / "sub", "me")
    assert r.join() == []
    r.serving()
    with r.locked():
        pass
    assert r.others() == [] and r.leave() == [] and not r.hand_over()
