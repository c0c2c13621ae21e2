"""hosts setup: every option, valid and invalid, with CoreDNS's error texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.fall import Fall
from pycoredns.plugins.hosts.handler import Hosts
from pycoredns.server.config import load

MISSING = "highly_unlikely_to_exist_hosts_file"


def hosts_of(corefile: str) -> Hosts:
    inst = load(corefile)
    (handler,) = [h for h in inst.configs[0].handlers if isinstance(h, Hosts)]
    return handler


@pytest.mark.parametrize(
    ("body", "path", "zones", "fall"),
    [
        pytest.param("hosts", "/etc/hosts", ["."], [], id="defaults"),
        pytest.param("hosts /tmp", "/tmp", ["."], [], id="path"),
        pytest.param("hosts /etc/hosts miek.nl.", "/etc/hosts", ["miek.nl."], [], id="zone"),
        pytest.param(
            "hosts /etc/hosts miek.nl. pun.gent.", "/etc/hosts", ["miek.nl.", "pun.gent."], [], id="zones"
        ),
        pytest.param("hosts {\n  fallthrough\n }", "/etc/hosts", ["."], ["."], id="fallthrough"),
        pytest.param(
            "hosts /etc/hosts miek.nl 10.0.0.9/8 {\n  fallthrough\n }",
            "/etc/hosts",
            ["miek.nl.", "10.in-addr.arpa."],
            ["."],
            id="cidr-zone",
        ),
        pytest.param(
            "hosts {\n  fallthrough example.org 10.0.0.0/8\n }",
            "/etc/hosts",
            ["."],
            ["example.org.", "10.in-addr.arpa."],
            id="fallthrough-zones",
        ),
    ],
)
def test_parse(body: str, path: str, zones: list[str], fall: list[str]) -> None:
    h = hosts_of(f". {{\n {body}\n}}\n")
    assert h.hostsfile.path == path
    assert h.zones == zones
    assert h.fall == Fall(fall)


def test_options() -> None:
    h = hosts_of(
        f". {{\n hosts {MISSING} example.org {{\n  10.0.0.1 example.org\n  ttl 60\n  no_reverse\n"
        "  reload 0\n  fallthrough\n  fallthrough_unsupported\n }\n}\n"
    )
    assert h.ttl == 60
    assert h.hostsfile.auto_reverse is False
    assert h.fallthrough_unsupported is True
    assert h.hostsfile.lookup_v4("example.org.") == ["10.0.0.1"]
    assert h.hostsfile.lookup_addr("10.0.0.1") == []  # no_reverse


def test_inline_before_fallthrough() -> None:
    h = hosts_of(f". {{\n hosts {MISSING} example.org {{\n  10.0.0.1 example.org\n  fallthrough\n }}\n}}\n")
    assert h.hostsfile.inline.addr == {"10.0.0.1": ["example.org."]}
    assert h.fall == Fall(["."])


def test_relative_path_joins_root(tmp_path: Path) -> None:
    (tmp_path / "my.hosts").write_text("10.1.1.1 a.example.\n")
    h = hosts_of(f". {{\n root {tmp_path}\n hosts my.hosts\n}}\n")
    assert h.hostsfile.path == str(tmp_path / "my.hosts")


def E(line: int, msg: str) -> str:
    return f"plugin/hosts: Corefile:{line} - Error during parsing: {msg}"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(
            f"hosts {MISSING} example.org {{\n  fallthrough\n  10.0.0.1 example.org\n }}",
            E(4, "unknown property '10.0.0.1'"),
            id="inline-after-fallthrough",
        ),
        pytest.param(
            "hosts {\n  fallthrough_unsupported\n }",
            E(4, "fallthrough_unsupported requires fallthrough"),
            id="unsupported-without-fallthrough",
        ),
        pytest.param(
            "hosts {\n  fallthrough\n  fallthrough_unsupported example.org\n }",
            E(4, "Wrong argument count or unexpected line ending after 'example.org'"),
            id="unsupported-with-args",
        ),
        pytest.param("hosts {\n  ttl\n }", E(3, "ttl needs a time in second"), id="ttl-missing"),
        pytest.param("hosts {\n  ttl x\n }", E(3, "ttl needs a number of second"), id="ttl-nan"),
        pytest.param("hosts {\n  ttl 0\n }", E(3, "ttl provided is invalid"), id="ttl-zero"),
        pytest.param("hosts {\n  ttl 65536\n }", E(3, "ttl provided is invalid"), id="ttl-big"),
        pytest.param(
            "hosts {\n  reload\n }", E(3, "reload needs a duration (zero seconds to disable)"), id="reload-missing"
        ),
        pytest.param(
            "hosts {\n  reload 1s 2s\n }",
            E(3, "reload needs a duration (zero seconds to disable)"),
            id="reload-two",
        ),
        pytest.param("hosts {\n  reload 5\n }", E(3, "invalid duration for reload '5'"), id="reload-no-unit"),
        pytest.param(
            "hosts {\n  reload -1s\n }", E(3, "invalid negative duration for reload '-1s'"), id="reload-negative"
        ),
        pytest.param(
            "hosts /etc/passwd/x",
            E(2, "unable to access hosts file '/etc/passwd/x': stat /etc/passwd/x: not a directory"),
            id="inaccessible",
        ),
        pytest.param(
            "hosts\n hosts",
            "plugin/hosts: this plugin can only be used once per Server Block",
            id="twice",
        ),
    ],
)
def test_errors(body: str, error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(f". {{\n {body}\n}}\n")
    assert str(got.value) == error
