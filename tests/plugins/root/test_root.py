"""root: one argument, the last occurrence wins, missing directories only warn."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.server.config import load
from pycoredns.testing.fixtures import ControllerFactory
from pycoredns.testing.logs import CapturedLog


def test_sets_root_for_the_block(tmp_path: Path) -> None:
    inst = load(f". {{\n root {tmp_path}\n}}\n")
    assert inst.configs[0].root == str(tmp_path)
    assert inst.configs[0].handlers == []  # not in the query path


def test_missing_directory_only_warns(tmp_path: Path, coredns_log: CapturedLog) -> None:
    missing = tmp_path / "not-there"
    inst = load(f". {{\n root {missing}\n}}\n")
    assert inst.configs[0].root == str(missing)
    assert f"Root path does not exist: {missing}" in coredns_log.text


def test_last_occurrence_wins(tmp_path: Path) -> None:
    inst = load(f". {{\n root /nonexistent-a\n root {tmp_path}\n}}\n")
    assert inst.configs[0].root == str(tmp_path)


@pytest.mark.parametrize(
    ("corefile", "error"),
    [
        pytest.param(
            ". {\n root\n}\n",
            "plugin/root: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
            "ending after 'root'",
            id="no-argument",
        ),
        pytest.param(
            ". {\n root {\n  /tmp\n }\n}\n",
            "plugin/root: Corefile:3 - Error during parsing: Wrong argument count or unexpected line "
            "ending after '/tmp'",
            id="block",
        ),
        pytest.param(
            ". {\n root /etc/passwd/x\n}\n",
            "plugin/root: Corefile:2 - Error during parsing: unable to access root path "
            "'/etc/passwd/x': stat /etc/passwd/x: not a directory",
            id="inaccessible",
        ),
    ],
)
def test_errors(corefile: str, error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(corefile)
    assert str(got.value) == error


@pytest.mark.parametrize(
    ("root", "path", "want"),
    [
        pytest.param("/srv", "hosts", "/srv/hosts", id="relative"),
        pytest.param("/srv", "/etc/hosts", "/etc/hosts", id="absolute"),
        pytest.param(None, "hosts", "hosts", id="no-root"),
    ],
)
def test_root_path(setup_controller: ControllerFactory, root: str | None, path: str, want: str) -> None:
    c = setup_controller(". {\n hosts\n}\n")
    if root is not None:
        c.set_root(root)
    assert c.root_path(path) == want
