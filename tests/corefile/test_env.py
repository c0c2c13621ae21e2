"""Environment references in tokens (corefile.md 2.7)."""

from __future__ import annotations

import pytest

from pycoredns.corefile import parse, replace_env

ENV = {
    "PORT": "8080",
    "ADDRESS": "servername.com",
    "FOOBAR": "foobar",
    "PARTIAL_DIR": "r1",
    "NESTED": "{$FOOBAR}-x",
    "WIN_NESTED": "{%PORT%}",
    "EMPTY": "",
    "A}{%B": "weird",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", "plain", id="no-reference"),
        pytest.param("{$ADDRESS}", "servername.com", id="unix"),
        pytest.param("{%ADDRESS%}", "servername.com", id="windows"),
        pytest.param("di{$PARTIAL_DIR}", "dir1", id="inside-token"),
        pytest.param("{$ADDRESS}:{$PORT}", "servername.com:8080", id="two-unix"),
        pytest.param("{%ADDRESS%}:{$PORT}", "servername.com:8080", id="windows-then-unix"),
        pytest.param("{$ADDRESS}:{%PORT%}", "servername.com:8080", id="unix-then-windows"),
        pytest.param("{%ADDRESS%}/{%FOOBAR%}", "servername.com/foobar", id="two-windows"),
        pytest.param("{$PORT}{$PORT}", "80808080", id="repeated-reference"),
        pytest.param("{%ADDRESS}", "{%ADDRESS}", id="malformed-windows-kept"),
        pytest.param("{$ADDRESS", "{$ADDRESS", id="unclosed-unix-kept"),
        pytest.param(":{$PORT$}", ":", id="unset-name-with-dollar"),
        pytest.param("{$NOT_SET}", "", id="unset-is-empty"),
        pytest.param("{$EMPTY}x", "x", id="set-but-empty"),
        pytest.param("{$}", "{$}", id="empty-unix-name"),
        pytest.param("{%%}", "{%%}", id="empty-windows-name"),
        pytest.param("{%}", "{%}", id="windows-marker-overlap"),
        pytest.param("{$}{$HOME}", "{$}{$HOME}", id="empty-name-stops-unix-pass"),
        pytest.param("{$}{%PORT%}", "{$}8080", id="empty-unix-name-windows-still-expanded"),
        pytest.param("{%%}{$PORT}", "{%%}8080", id="empty-windows-name-unix-still-expanded"),
        pytest.param("{%A}{%B%}", "weird", id="reference-to-first-closing-marker"),
        pytest.param("{$NESTED}", "foobar-x", id="value-rescanned"),
        pytest.param("{$WIN_NESTED}", "{%PORT%}", id="windows-pass-does-not-rerun"),
        pytest.param("{{ .Name }} {$FOOBAR}", "{{ .Name }} foobar", id="go-template-braces"),
        pytest.param("{{$FOOBAR}}", "{foobar}", id="template-clash"),
    ],
)
def test_replace_env(text: str, expected: str) -> None:
    assert replace_env(text, ENV) == expected


def test_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCOREDNS_TEST_VAR", "from-os")
    assert replace_env("{$PYCOREDNS_TEST_VAR}") == "from-os"


def test_self_reference_terminates() -> None:
    # Caddy loops forever here; we stop instead of hanging the server.
    assert replace_env("{$LOOP}", {"LOOP": "{$LOOP}"}) == "{$LOOP}"


@pytest.mark.parametrize(
    ("corefile", "keys", "args"),
    [
        pytest.param("{$ADDRESS}", ["servername.com"], None, id="key"),
        pytest.param(":{%PORT%}\ndir1 {$FOOBAR}", [":8080"], ["dir1", "foobar"], id="argument"),
        pytest.param(
            ':1234\ndir1 "Test {$FOOBAR} test"', [":1234"], ["dir1", "Test foobar test"], id="quoted-argument"
        ),
        pytest.param(':1234\ndir1 "{$FOOBAR}"x', [":1234"], ["dir1", "foobar", "x"], id="quoted-then-word"),
        pytest.param('"" {$NOT_SET} a.org\ndir1', ["a.org"], ["dir1"], id="empty-keys-dropped"),
        pytest.param(". {\n dir1 {$SPACED}\n}", ["."], ["dir1", "a b"], id="value-with-space-stays-one-token"),
    ],
)
def test_substitution_in_corefile(corefile: str, keys: list[str], args: list[str] | None) -> None:
    env = dict(ENV, SPACED="a b")
    blocks = parse(corefile, "Corefile", env=env)
    assert blocks[0].key_texts == keys
    if args is not None:
        assert [t.text for t in blocks[0].directives["dir1"]] == args


def test_value_brace_does_not_open_a_block() -> None:
    blocks = parse(". {\n dir1 {$OPEN}\n dir2\n}", "Corefile", env={"OPEN": "{"})
    assert {k: [t.text for t in v] for k, v in blocks[0].directives.items()} == {
        "dir1": ["dir1", "{"],
        "dir2": ["dir2"],
    }


def test_directive_name_substituted_and_validated() -> None:
    blocks = parse(". {\n {$D} x\n}", "Corefile", directives={"whoami"}, env={"D": "whoami"})
    assert list(blocks[0].directives) == ["whoami"]
    # The directive token itself is kept as written, as Caddy does.
    assert [t.text for t in blocks[0].directives["whoami"]] == ["{$D}", "x"]


def test_only_key_made_empty_drops_block() -> None:
    assert parse("{$NOT_SET} {\n whoami\n}", "Corefile", env={}) == []
