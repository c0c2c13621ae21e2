"""pycoredns.fall: the shared ``fallthrough [ZONES...]`` helper."""

from __future__ import annotations

import pytest

from pycoredns.dns import zone_match
from pycoredns.fall import Fall


@pytest.mark.parametrize(
    ("args", "zones"),
    [
        pytest.param([], ["."], id="no-args-is-root"),
        pytest.param(["Example.ORG"], ["example.org."], id="normalised"),
        pytest.param(["10.0.0.0/8", "a.b."], ["10.in-addr.arpa.", "a.b."], id="cidr"),
    ],
)
def test_from_args(args: list[str], zones: list[str]) -> None:
    assert Fall.from_args(args) == Fall(zones)


@pytest.mark.parametrize(
    ("zones", "name", "through"),
    [
        pytest.param([], "a.example.org.", False, id="zero-never"),
        pytest.param(["."], "a.example.org.", True, id="root-always"),
        pytest.param(["example.org."], "example.org.", True, id="apex"),
        pytest.param(["example.org."], "a.example.org.", True, id="below"),
        pytest.param(["example.org."], "aexample.org.", False, id="not-a-label-boundary"),
        pytest.param(["example.org."], "example.net.", False, id="other"),
    ],
)
def test_through(zones: list[str], name: str, through: bool) -> None:
    assert Fall(zones).through(name) is through


def test_zone_match_picks_the_longest() -> None:
    assert zone_match([".", "org.", "example.org."], "a.example.org.") == "example.org."
    assert zone_match(["example.net."], "a.example.org.") == ""
