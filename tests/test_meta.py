"""Meta tests: every plugin README has CoreDNS's sections and its Corefile examples load;
every Corefile in corefiles/ (templates aside) passes -validate's load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pycoredns.server import config

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists())
EXAMPLE = re.compile(r"^~~~ corefile\n(.*?)^~~~", re.S | re.M)
SECTIONS = ["Name", "Description", "Syntax", "Examples"]


def _examples() -> list[object]:
    out: list[object] = []
    for d in PLUGIN_DIRS:
        text = (d / "README.md").read_text() if (d / "README.md").exists() else ""
        for i, block in enumerate(EXAMPLE.findall(text)):
            out.append(pytest.param(d.name, block, id=f"{d.name}-{i}"))
    return out


@pytest.mark.parametrize("plugin", [pytest.param(d, id=d.name) for d in PLUGIN_DIRS])
def test_readme_has_coredns_sections_in_order(plugin: Path) -> None:
    readme = plugin / "README.md"
    assert readme.exists(), f"{plugin.name} has no README.md"
    headings = re.findall(r"^## (\w+)", readme.read_text(), re.M)
    wanted = [h for h in headings if h in {*SECTIONS, "Metrics"}]
    expected = [s for s in ["Name", "Description", "Syntax", "Metrics", "Examples"] if s in wanted]
    assert wanted == expected, f"sections out of order: {headings}"
    assert all(s in wanted for s in SECTIONS), f"missing sections: {set(SECTIONS) - set(wanted)}"
    if (plugin / "metrics.py").exists():
        assert "Metrics" in wanted, "a plugin with metrics documents them"


@pytest.mark.parametrize(("plugin", "corefile"), _examples())
def test_readme_examples_load(plugin: str, corefile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Load and set up only: no sockets are opened, so ports and addresses in examples are fine.
    monkeypatch.chdir(ROOT)
    instance = config.load(corefile, f"plugins/{plugin}/README.md")
    assert instance.configs


BUNDLED = [p for p in sorted((ROOT / "corefiles").glob("*Corefile*")) if "__PILLAR__" not in p.read_text()]


@pytest.mark.parametrize("corefile", [pytest.param(p, id=p.name) for p in BUNDLED])
def test_bundled_corefiles_load(corefile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_HOST_IP", "127.0.0.1")
    instance = config.load(corefile.read_text(), str(corefile))
    assert instance.listeners
