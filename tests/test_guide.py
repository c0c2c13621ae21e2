"""docs/plugins.md runs: every code sample in it is exercised here.

Each fenced block in the guide is announced by an HTML comment on the line before it:

- ``<!-- sample: NAME -->``: a whole module, written out as ``pycoredns_NAME.py`` (``test_NAME.py``
  for a sample of tests) and used below: its plugin in a running server, its tests with pytest;
- ``<!-- from: PATH -->``: a quote of PATH, which must still be in the file word for word (the
  example package's own tests run the file);
- ``<!-- corefile -->``: a Corefile that must load with the samples' plugins;
- ``<!-- shell: ... -->``: commands that the named test runs (see there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import dnslib
import pytest

from pycoredns.plugin import Directive
from pycoredns.testing import DNSClient, validate_corefile
from pycoredns.testing.fixtures import ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
_BLOCK = re.compile(r"^(?P<marker><!-- (?P<kind>[a-z]+)(?::\s*(?P<arg>.*?))? -->)\n(?P<indent>[ ]*)```(?P<lang>\w*)\n"
                    r"(?P<body>.*?)^(?P=indent)```$", re.S | re.M)
_FENCE = re.compile(r"^[ ]*```(\w+)$", re.M)


@dataclass(frozen=True)
class Block:
    kind: str
    arg: str
    lang: str
    body: str
    line: int


def blocks() -> list[Block]:
    text = GUIDE.read_text()
    out = []
    for m in _BLOCK.finditer(text):
        body = textwrap.dedent(m["body"]) if m["indent"] else m["body"]
        out.append(Block(m["kind"], m["arg"] or "", m["lang"], body, text.count("\n", 0, m.start()) + 2))
    return out


def samples() -> dict[str, str]:
    return {b.arg: b.body for b in blocks() if b.kind == "sample"}


def test_every_code_block_is_announced() -> None:
    opened = len(_FENCE.findall(GUIDE.read_text()))
    assert opened == len(blocks()), "a fenced block in docs/plugins.md has no sample/from/corefile/shell marker"
    assert {b.kind for b in blocks()} == {"sample", "from", "corefile", "shell"}


@pytest.mark.parametrize("block", [b for b in blocks() if b.kind == "from"], ids=lambda b: f"line{b.line}")
def test_quotes_match_their_files(block: Block) -> None:
    if block.body not in (ROOT / block.arg).read_text():
        pytest.fail(f"docs/plugins.md line {block.line}: the quote is no longer in {block.arg} word for word")


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The guide's plugin samples, written out and imported (as pycoredns_NAME)."""
    folder = tmp_path_factory.mktemp("guide")
    for name, body in samples().items():
        (folder / (f"{name}.py" if name.startswith("test_") else f"pycoredns_{name}.py")).write_text(body)
    sys.path.insert(0, str(folder))
    try:
        import importlib

        yield {name: importlib.import_module(f"pycoredns_{name}") for name in samples() if not name.startswith("test_")}
    finally:
        sys.path.remove(str(folder))


def _directives(modules: dict[str, ModuleType]) -> list[Directive]:
    return [m.DIRECTIVE for m in modules.values()]


def test_the_samples_are_the_ones_used_here(modules: dict[str, ModuleType]) -> None:
    assert set(samples()) == {"hello", "ask", "ttlcap", "slowlog", "uptime", "test_hello"}
    assert all(isinstance(d, Directive) for d in _directives(modules))


@pytest.mark.parametrize("block", [b for b in blocks() if b.kind == "corefile"], ids=lambda b: f"line{b.line}")
def test_corefiles_load(block: Block, modules: dict[str, ModuleType]) -> None:
    validate_corefile(block.body, "docs/plugins.md", plugins=_directives(modules))


def test_the_shell_steps_are_the_ones_the_packaging_test_runs() -> None:
    (shell,) = [b for b in blocks() if b.kind == "shell"]
    assert (ROOT / shell.arg.split()[0]).is_file()
    assert shell.body.splitlines() == ["pip install ./pycoredns-sqlite", "pycoredns -plugins"]


def test_hello_and_its_tests(modules: dict[str, ModuleType]) -> None:
    """The guide's test module for hello, run by pytest in a process of its own: the kit's
    fixtures come from the installed pytest plugin, as in any project."""
    folder = Path(modules["hello"].__file__ or "").parent
    env = dict(os.environ, PYTHONPATH=str(folder))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_hello.py"],
                       cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout


def _a(ip: str, slow: float = 0.0, ttl: int = 30) -> object:
    """Answers A with ``ip``; names starting with "slow" only after ``slow`` seconds."""

    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        if str(q.q.qname).startswith("slow"):
            time.sleep(slow)
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=ttl))
        return r

    return answer


def test_ask_waits_for_its_server(
    modules: dict[str, ModuleType], fake_upstream: UpstreamFactory, dns_server: ServerFactory,
    dns_client: DNSClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    up = fake_upstream(_a("192.0.2.44"))  # type: ignore[arg-type]
    dns_server(f".:0 {{\n    ask {up.address}\n}}\n", plugins=_directives(modules))
    r = dns_client.query("www.example.org", "A")
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.44"] and up.count() == 1
    monkeypatch.setattr(modules["ask"], "TIMEOUT", 0.2)
    up.stop()
    assert dns_client.query("www.example.org", "A").header.rcode == dnslib.RCODE.SERVFAIL


def test_ttlcap_caps_synchronous_and_later_replies(
    modules: dict[str, ModuleType], fake_upstream: UpstreamFactory, dns_server: ServerFactory,
    dns_client: DNSClient,
) -> None:
    up = fake_upstream(_a("192.0.2.9", ttl=300))
    dns_server(f".:0 {{\n    ttlcap 20\n    hosts {{\n        192.0.2.1 local.example.org\n        fallthrough\n"
               f"    }}\n    forward . {up.address}\n}}\n", plugins=_directives(modules))
    local = dns_client.query("local.example.org", "A")  # hosts: a synchronous answer, TTL 3600
    assert [(str(rr.rdata), rr.ttl) for rr in local.rr] == [("192.0.2.1", 20)]
    far = dns_client.query("far.example.net", "A", edns=1232)  # forward: a future, TTL 300
    assert [(str(rr.rdata), rr.ttl) for rr in far.rr] == [("192.0.2.9", 20)]
    assert [rr.rtype for rr in far.ar] == [dnslib.QTYPE.OPT] and far.ar[0].rclass == 1232
    assert dns_client.query("local.example.org", "MX").header.rcode == 0  # no records, passed as is


def test_slowlog_logs_only_slow_queries(
    modules: dict[str, ModuleType], fake_upstream: UpstreamFactory, dns_server: ServerFactory,
    dns_client: DNSClient, coredns_log: CapturedLog,
) -> None:
    up = fake_upstream(_a("192.0.2.7", slow=0.3))  # type: ignore[arg-type]
    dns_server(f".:0 {{\n    slowlog 200ms\n    ask {up.address}\n}}\n", plugins=_directives(modules))
    dns_client.query("fast.example.net", "A")
    dns_client.query("slow.example.org", "A")
    line = coredns_log.wait_for("plugin/slowlog")
    # Go's duration layout: "301ms", or "1.2s" on a machine slow enough.
    assert re.fullmatch(r"\[WARNING\] plugin/slowlog: slow\.example\.org\. A took ([3-9]\d\dms|[\d.]+s)", line), line
    assert "fast.example.net" not in coredns_log.text


def test_uptime_outlives_a_reload(
    modules: dict[str, ModuleType], dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    text = ".:0 {\n    uptime\n    whoami\n}\n"
    srv = dns_server(text, plugins=_directives(modules))
    assert [str(rr.rdata) for rr in dns_client.query("uptime", "TXT").rr] == ['"0"']
    time.sleep(1.1)  # the value counts whole seconds
    assert srv.reload(text.replace("whoami", "whoami\n    log"))  # a new configuration, same process
    (rr,) = dns_client.query("uptime", "TXT").rr
    assert int(str(rr.rdata).strip('"')) >= 1
