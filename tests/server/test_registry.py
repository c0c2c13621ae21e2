"""Third-party plugins from entry points: placed by before/after, listed with their distribution,
and a broken or misplaced one named, with its distribution, in a start-up failure.

Each test writes real distributions (a ``*.dist-info`` with METADATA and entry_points.txt, and
the module) into a folder on ``sys.path`` or ``PYTHONPATH``, as pip would install them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pycoredns.cli import plugins_text
from pycoredns.errors import PluginLoadError
from pycoredns.plugin import Directive
from pycoredns.registry import Registry
from pycoredns.server import config

PY = sys.executable
_unique = itertools.count()

GOOD = '''
from pycoredns.plugin import Directive, Plugin


def setup(c):
    c.next()
    c.add_plugin(lambda next: Plugin(next))


DIRECTIVE = Directive({name!r}, setup, {place})
'''


def distribution(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Install a distribution into ``site`` the way pip lays one out."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[pycoredns.plugins]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


def good(site: Path, name: str, place: str = "", dist: str = "", version: str = "1.0.0") -> str:
    """A working plugin ``name`` in distribution ``dist``; returns its module's name."""
    module = f"kit_registry_{name}_{next(_unique)}"
    distribution(site, dist or f"pycoredns-{name}", version, {name: f"{module}:DIRECTIVE"},
                 {module: GOOD.format(name=name, place=place)})
    return module


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


def test_placed_and_listed_with_its_distribution(site: Path) -> None:
    good(site, "first", "before='whoami'", version="0.1.0")
    good(site, "second", "after='first'")  # placed relative to another third-party plugin
    good(site, "last")  # neither: goes last
    registry = Registry.default()
    assert registry.broken == []
    names = [e.name for e in registry.entries()]  # the whole order, unshipped built-ins included
    at = names.index("first")
    assert names[at : at + 3] == ["first", "second", "whoami"]
    assert names[-1] == "last"
    text = plugins_text(registry) + "\n"
    assert "  dns.first (pycoredns-first 0.1.0)\n" in text
    assert "  dns.second (pycoredns-second 1.0.0)\n" in text
    assert "  dns.whoami\n" in text  # built-ins as before


@pytest.mark.parametrize(
    ("entry_point", "source", "message"),
    [
        pytest.param(
            "{module}:DIRECTIVE", "import no_such_module_anywhere\n",
            "plugin/broken (pycoredns-broken 2.0.0): cannot load entry point 'broken = {module}:DIRECTIVE': "
            "ModuleNotFoundError: No module named 'no_such_module_anywhere'",
            id="import-error",
        ),
        pytest.param(
            "{module}:DIRECTIVE", "DIRECTIVE = {'name': 'broken'}\n",
            "plugin/broken (pycoredns-broken 2.0.0): entry point 'broken = {module}:DIRECTIVE' is a dict, "
            "not a pycoredns.plugin.Directive",
            id="not-a-directive",
        ),
        pytest.param(
            "{module}:MISSING", "DIRECTIVE = None\n",
            "plugin/broken (pycoredns-broken 2.0.0): cannot load entry point 'broken = {module}:MISSING': "
            "AttributeError: module '{module}' has no attribute 'MISSING'",
            id="missing-attribute",
        ),
        pytest.param(
            "{module}:DIRECTIVE", GOOD.format(name="broken", place="before='nosuch'"),
            "plugin/broken (pycoredns-broken 2.0.0): before 'nosuch' names no known directive",
            id="unknown-before",
        ),
        pytest.param(
            "{module}:DIRECTIVE", GOOD.format(name="broken", place="after='nosuch'"),
            "plugin/broken (pycoredns-broken 2.0.0): after 'nosuch' names no known directive",
            id="unknown-after",
        ),
        pytest.param(
            "{module}:DIRECTIVE", GOOD.format(name="broken", place="before='cache', after='log'"),
            "plugin/broken (pycoredns-broken 2.0.0): sets both before 'cache' and after 'log': give one",
            id="both",
        ),
    ],
)
def test_broken_plugin_is_named_with_its_distribution(
    site: Path, entry_point: str, source: str, message: str
) -> None:
    module = f"kit_registry_broken_{next(_unique)}"
    distribution(site, "pycoredns-broken", "2.0.0", {"broken": entry_point.format(module=module)}, {module: source})
    good(site, "fine", "after='log'")
    registry = Registry.default()
    assert [str(b) for b in registry.broken] == [message.format(module=module)]
    assert "fine" in registry.names() and "broken" not in registry.names()  # what loads is still listed
    with pytest.raises(PluginLoadError) as e:
        config.load(".:0 {\n    whoami\n}\n")  # fails whether or not the Corefile uses it
    assert str(e.value) == message.format(module=module)


def test_a_name_two_distributions_provide_is_refused(site: Path) -> None:
    good(site, "twin", dist="pycoredns-twin-a")
    good(site, "twin", dist="pycoredns-twin-b")
    registry = Registry.default()
    assert sorted(str(b) for b in registry.broken) == [
        "plugin/twin (pycoredns-twin-a 1.0.0): the directive is provided more than once: "
        "pycoredns-twin-a 1.0.0, pycoredns-twin-b 1.0.0",
        "plugin/twin (pycoredns-twin-b 1.0.0): the directive is provided more than once: "
        "pycoredns-twin-a 1.0.0, pycoredns-twin-b 1.0.0",
    ]


def test_every_broken_plugin_is_reported(site: Path) -> None:
    good(site, "orphan", "before='ghost'")
    good(site, "ghost", "after='nowhere'")  # the anchor of the first one, itself unplaceable
    with pytest.raises(PluginLoadError) as e:
        Registry.default().check()
    assert str(e.value).splitlines() == [
        "plugin/ghost (pycoredns-ghost 1.0.0): after 'nowhere' names no known directive",
        "plugin/orphan (pycoredns-orphan 1.0.0): before 'ghost' names no known directive",
    ]


def test_test_plugins_are_placed_the_same_way() -> None:
    registry = Registry.default(entry_points=False)
    placed = registry.with_directives([Directive("probe", lambda c: None, after="cache")])
    names = [e.name for e in placed.entries()]
    assert names.index("probe") == names.index("cache") + 1
    with pytest.raises(PluginLoadError, match=r"^plugin/probe: before 'nosuch' names no known directive$"):
        registry.with_directives([Directive("probe", lambda c: None, before="nosuch")])


def _run(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([PY, "-m", "pycoredns", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd)


def test_the_command_lists_what_loads_and_refuses_to_start(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    good(site, "fine", "before='whoami'", version="0.3.0")
    good(site, "lost", "after='nosuch'", dist="pycoredns-lost", version="0.9.1")
    r = _run("-plugins", site=site, cwd=tmp_path)
    assert "  dns.fine (pycoredns-fine 0.3.0)\n" in r.stdout and "  dns.whoami\n" in r.stdout
    assert "lost" not in r.stdout
    assert r.stderr.strip() == "plugin/lost (pycoredns-lost 0.9.1): after 'nosuch' names no known directive"
    assert r.returncode == 1
    (tmp_path / "Corefile").write_text(".:0 {\n    fine\n    whoami\n}\n")
    message = "plugin/lost (pycoredns-lost 0.9.1): after 'nosuch' names no known directive"
    for args in (["-validate"], ["-quiet"]):
        r = _run(*args, "-conf", "Corefile", site=site, cwd=tmp_path)
        assert r.returncode == 1, args
        assert r.stderr.strip() == message
    # With workers, each worker loads the plugins: the first to fail stops the instance.
    r = _run("-quiet", "-workers", "2", "-conf", "Corefile", site=site, cwd=tmp_path)
    assert r.returncode == 1
    assert message in r.stderr.splitlines()


def test_a_test_may_name_an_installed_plugin_again(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    module = good(site, "again", "after='cache'")
    registry = Registry.default()
    directive = registry.get("again")
    assert directive is sys.modules[module].DIRECTIVE
    same = registry.with_directives([directive])  # the package is installed and the test passes it too
    assert [e.name for e in same.entries()] == [e.name for e in registry.entries()]
    assert same.entries()[[e.name for e in same.entries()].index("again")].dist == "pycoredns-again 1.0.0"
    assert "replaces" not in caplog.text
