"""``import`` of files and globs (corefile.md 2.8), with real files under tmp_path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pycoredns.corefile import CorefileError, ServerBlock, parse, parse_file
from pycoredns.corefile import parser as parser_module


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def summary(blocks: list[ServerBlock]) -> list[tuple[list[str], dict[str, list[str]]]]:
    return [(b.key_texts, {n: [t.text for t in ts] for n, ts in b.directives.items()}) for b in blocks]


def error_of(path: Path) -> str:
    with pytest.raises(CorefileError) as info:
        parse_file(str(path))
    return str(info.value)


def test_import_relative_to_importing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "conf" / "sub" / "two.conf", "dir2 1")
    write(tmp_path / "conf" / "one.conf", "localhost\ndir1\nimport sub/two.conf")
    main = write(tmp_path / "conf" / "Corefile", "import one.conf")
    monkeypatch.chdir("/")  # not the working directory
    blocks = parse_file(str(main))
    assert summary(blocks) == [(["localhost"], {"dir1": ["dir1"], "dir2": ["dir2", "1"]})]


def test_main_file_relative_name_resolves_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "extra.conf", "whoami")
    write(tmp_path / "Corefile", ". {\n import extra.conf\n}")
    monkeypatch.chdir(tmp_path)
    blocks = parse_file("Corefile")
    assert summary(blocks) == [(["."], {"whoami": ["whoami"]})]
    assert blocks[0].keys[0].file == "Corefile"  # the main file is named as given
    assert blocks[0].directives["whoami"][0].file == str(tmp_path / "extra.conf")  # imports by absolute path


def test_absolute_import(tmp_path: Path) -> None:
    inc = write(tmp_path / "a" / "inc.conf", "log")
    main = write(tmp_path / "b" / "Corefile", f". {{\n import {inc}\n}}")
    assert summary(parse_file(str(main))) == [(["."], {"log": ["log"]})]


def test_imported_tokens_lines_and_error_location(tmp_path: Path) -> None:
    inc = write(tmp_path / "inc.conf", "\n\nlog\nfoo\n")
    main = write(tmp_path / "Corefile", ". {\n import inc.conf\n}")
    tok = parse_file(str(main))[0].directives["log"][0]
    assert (tok.file, tok.line) == (str(inc), 3)
    with pytest.raises(CorefileError) as info:
        parse_file(str(main), directives={"log"})
    assert str(info.value) == f"{inc}:4 - Error during parsing: Unknown directive 'foo'"


def test_import_at_top_level_inside_block_and_inside_directive(tmp_path: Path) -> None:
    write(tmp_path / "blocks.conf", "a.org {\n whoami\n}\n")
    write(tmp_path / "dirs.conf", "log\nerrors")
    write(tmp_path / "opts.conf", "prop1 1\nprop2 2")
    main = write(
        tmp_path / "Corefile",
        "import blocks.conf\nb.org {\n import dirs.conf\n proxy {\n  import opts.conf\n  transparent\n }\n}",
    )
    assert summary(parse_file(str(main))) == [
        (["a.org"], {"whoami": ["whoami"]}),
        (
            ["b.org"],
            {
                "log": ["log"],
                "errors": ["errors"],
                "proxy": ["proxy", "{", "prop1", "1", "prop2", "2", "transparent", "}"],
            },
        ),
    ]


def test_empty_import_file(tmp_path: Path) -> None:
    write(tmp_path / "empty.conf", "")
    main = write(tmp_path / "Corefile", "import empty.conf\n. {\n import empty.conf\n whoami\n}")
    assert summary(parse_file(str(main))) == [(["."], {"whoami": ["whoami"]})]


def test_import_only_empty_file(tmp_path: Path) -> None:
    write(tmp_path / "empty.conf", "# nothing\n")
    assert parse_file(str(write(tmp_path / "Corefile", "import empty.conf"))) == []


def test_glob_matches_sorted(tmp_path: Path) -> None:
    for name, key in [("import_glob2.txt", "glob2"), ("import_glob0.txt", "glob0"), ("import_glob1.txt", "glob1")]:
        write(tmp_path / name, f"{key}.host0 {{\n}}\n")
    write(tmp_path / "import_glob0.txt", "glob0.host0 {\n}\nglob0.host1 {\n}\n")
    write(tmp_path / "other.txt", "nope {\n}\n")
    main = write(tmp_path / "Corefile", "import import_glob*.txt")
    assert [b.key_texts for b in parse_file(str(main))] == [
        ["glob0.host0"],
        ["glob0.host1"],
        ["glob1.host0"],
        ["glob2.host0"],
    ]


def test_glob_star_matches_dotfiles_and_question_mark(tmp_path: Path) -> None:
    write(tmp_path / "d" / ".hidden", "h {\n}")
    write(tmp_path / "d" / "b", "b {\n}")
    write(tmp_path / "q" / "x1.conf", "x1 {\n}")
    write(tmp_path / "q" / "x22.conf", "x22 {\n}")
    main = write(tmp_path / "Corefile", "import d/*\nimport q/x?.conf")
    assert [b.key_texts for b in parse_file(str(main))] == [["h"], ["b"], ["x1"]]


def test_wildcard_in_directory_part(tmp_path: Path) -> None:
    write(tmp_path / "zones" / "a" / "z.conf", "a {\n}")
    write(tmp_path / "zones" / "b" / "z.conf", "b {\n}")
    main = write(tmp_path / "Corefile", "import zones/*/z.conf")
    assert [b.key_texts for b in parse_file(str(main))] == [["a"], ["b"]]


def test_glob_counts_as_one_file_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_FILE_EXPANSIONS", 2)
    for i in range(25):
        write(tmp_path / "many" / f"f{i:02d}", "")
    assert parse_file(str(write(tmp_path / "Corefile", "import many/*"))) == []


def test_glob_without_match_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    main = write(tmp_path / "Corefile", "import notfound/*\n. {\n whoami\n}")
    with caplog.at_level(logging.WARNING, logger="pycoredns"):
        blocks = parse_file(str(main))
    assert [b.key_texts for b in blocks] == [["."]]
    assert "[WARNING] No files matching import glob pattern: notfound/*" in caplog.text


def test_lone_bracket_literal_missing_is_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pycoredns"):
        assert parse_file(str(write(tmp_path / "Corefile", "import nope]"))) == []
    assert "No files matching import glob pattern: nope]" in caplog.text


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("notfound/file.conf", "File to import not found: notfound/file.conf", id="missing-file"),
        pytest.param(
            "/*/*.txt", "Glob pattern may only contain one wildcard (*), but has others: /*/*.txt", id="two-stars"
        ),
        pytest.param(
            "/??", "Glob pattern may only contain one wildcard (*), but has others: /??", id="two-question-marks"
        ),
        pytest.param(
            "/???/?*?o", "Glob pattern may only contain one wildcard (*), but has others: /???/?*?o", id="fuzz"
        ),
        pytest.param("/[a-z]", "Glob pattern may only contain one wildcard (*), but has others: /[a-z]", id="class"),
        pytest.param("/tmp/x[", "Failed to use import pattern /tmp/x[: syntax error in pattern", id="unclosed-class"),
    ],
)
def test_import_errors(tmp_path: Path, pattern: str, message: str) -> None:
    main = write(tmp_path / "Corefile", f"import {pattern}")
    assert error_of(main) == f"{main}:1 - Error during parsing: {message}"


def test_relative_wildcards_counted_on_joined_path(tmp_path: Path) -> None:
    parent = tmp_path / "a*b"
    main = write(parent / "Corefile", "import *.conf")
    message = f"Glob pattern may only contain one wildcard (*), but has others: {parent}/*.conf"
    assert error_of(main) == f"{main}:1 - Error during parsing: {message}"


def test_import_directory_is_error(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    main = write(tmp_path / "Corefile", ". {\n import adir\n}")
    assert error_of(main) == f"{main}:2 - Error during parsing: Could not import {tmp_path}/adir: is a directory"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = write(tmp_path / "secret.conf", "log")

    def denied(path: str, mode: str = "r") -> None:
        raise PermissionError(13, "Permission denied", path)

    # Simulated: the tests may run as root, who reads any file.
    monkeypatch.setattr(parser_module, "open", denied, raising=False)
    with pytest.raises(CorefileError) as info:
        parse(". {\n import secret.conf\n}", str(tmp_path / "Corefile"))
    assert str(info.value) == (
        f"{tmp_path}/Corefile:2 - Error during parsing: Could not import {secret}: open {secret}: permission denied"
    )


def test_file_import_cycle_stops_at_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_FILE_EXPANSIONS", 50)
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    write(a, f"import {b}")
    write(b, f"import {a}")
    main = write(tmp_path / "Corefile", f"import {a}")
    # The message prints the snippet cap, as CoreDNS does.
    assert error_of(main) == f"{b}:1 - Error during parsing: maximum file import depth (10000) exceeded"


@pytest.mark.slow
def test_file_import_self_cycle_real_cap(tmp_path: Path) -> None:
    loop = write(tmp_path / "loop.conf", "import loop.conf")
    assert error_of(loop) == f"{loop}:1 - Error during parsing: maximum file import depth (10000) exceeded"


def test_snippet_visible_in_later_imported_file(tmp_path: Path) -> None:
    site = write(tmp_path / "site.conf", "http://example.com {\n import common\n}")
    main = write(tmp_path / "Corefile", f"(common) {{\n gzip foo\n}}\nimport {site}\n")
    assert summary(parse_file(str(main))) == [(["http://example.com"], {"gzip": ["gzip", "foo"]})]


def test_snippet_defined_in_imported_file(tmp_path: Path) -> None:
    write(tmp_path / "snippets.conf", "(common) {\n log\n errors\n}")
    main = write(tmp_path / "Corefile", "import snippets.conf\n. {\n import common\n}")
    blocks = parse_file(str(main))
    assert summary(blocks) == [(["."], {"log": ["log"], "errors": ["errors"]})]
    assert blocks[0].directives["log"][0].file == str(tmp_path / "snippets.conf")


def test_snippet_wins_over_file_of_same_name(tmp_path: Path) -> None:
    write(tmp_path / "common", "errors")
    main = write(tmp_path / "Corefile", "(common) {\n log\n}\n. {\n import common\n}")
    assert summary(parse_file(str(main))) == [(["."], {"log": ["log"]})]


def test_import_word_in_imported_file_argument_not_import(tmp_path: Path) -> None:
    inc = write(tmp_path / "inc.conf", "http://example.com {\n basicauth / import password\n}")
    blocks = parse(f"import {inc}", "Corefile")
    assert summary(blocks) == [(["http://example.com"], {"basicauth": ["basicauth", "/", "import", "password"]})]


def test_env_in_import_pattern(tmp_path: Path) -> None:
    write(tmp_path / "zones" / "a.conf", "log")
    main = write(tmp_path / "Corefile", ". {\n import {$DIR}/a.conf\n}")
    blocks = parse_file(str(main), env={"DIR": "zones"})
    assert summary(blocks) == [(["."], {"log": ["log"]})]


def test_parse_file_missing() -> None:
    with pytest.raises(CorefileError, match=r"^open /nonexistent/Corefile: no such file or directory$"):
        parse_file("/nonexistent/Corefile")


def test_parse_file_bom_and_crlf(tmp_path: Path) -> None:
    main = tmp_path / "Corefile"
    main.write_bytes(b"\xef\xbb\xbf. {\r\n whoami\r\n}\r\n")
    assert summary(parse_file(str(main))) == [(["."], {"whoami": ["whoami"]})]
