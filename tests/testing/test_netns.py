"""pycoredns.testing.netns: a function run inside a namespace the test made."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from pycoredns.testing import netns

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and ip")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"pcdkit{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_the_function_runs_in_the_namespace_and_its_value_comes_back(namespace: str) -> None:
    here = {n for _, n in socket.if_nameindex()}
    inside = netns.call_in(namespace, lambda: {n for _, n in socket.if_nameindex()})
    assert inside == {"lo"}  # a new namespace has lo only, whatever the host has
    assert here == {n for _, n in socket.if_nameindex()}  # the caller's thread never moved


def test_what_the_function_raises_is_raised_to_the_caller(namespace: str) -> None:
    def refused() -> None:
        with socket.create_connection(("127.0.0.1", 9), timeout=5):  # lo is down: nothing answers
            pass

    with pytest.raises(OSError):
        netns.call_in(namespace, refused)


def test_a_missing_namespace_is_an_error_naming_it() -> None:
    with pytest.raises(FileNotFoundError, match="pcdkit-none"):
        netns.call_in("pcdkit-none", lambda: None)


def test_a_function_still_running_after_the_timeout_is_a_timeout_error(namespace: str) -> None:
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError, match=namespace):
            netns.call_in(namespace, lambda: release.wait(10), timeout=0.2)
    finally:
        release.set()
