"""Server blocks, keys, braces, directives, snippets and error texts (corefile.md 2 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.corefile import CorefileError, ServerBlock, parse, tokens_digest

DIRECTIVES = frozenset("whoami log errors forward cache reload loop bind prometheus health hosts template any".split())

Summary = list[tuple[list[str], dict[str, list[str]]]]


def summary(blocks: list[ServerBlock]) -> Summary:
    return [(b.key_texts, {name: [t.text for t in toks] for name, toks in b.directives.items()}) for b in blocks]


def parse_summary(text: str, directives: frozenset[str] | None = DIRECTIVES) -> Summary:
    return summary(parse(text, "Corefile", directives=directives, env={"HOME": "/root"}))


def parse_error(text: str, directives: frozenset[str] | None = DIRECTIVES) -> str:
    with pytest.raises(CorefileError) as info:
        parse(text, "Corefile", directives=directives, env={})
    return str(info.value)


# corefile.md section 10, every row that the parser decides.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("example.org\n{\n  whoami\n}", [(["example.org"], {"whoami": ["whoami"]})], id="brace-next-line"),
        pytest.param(
            ". {\n forward . 1.1.1.1\n {\n  force_tcp\n }\n}",
            [(["."], {"forward": ["forward", ".", "1.1.1.1", "{", "force_tcp", "}"]})],
            id="directive-brace-next-line-parses",
        ),
        pytest.param(
            ". {\n forward . 1.1.1.1 { force_tcp }\n}",
            [(["."], {"forward": ["forward", ".", "1.1.1.1", "{", "force_tcp", "}"]})],
            id="one-line-directive-block-parses",
        ),
        pytest.param(
            ". {\n whoami\n}\n}", [(["."], {"whoami": ["whoami"]}), (["}"], {})], id="stray-close-becomes-key"
        ),
        pytest.param(
            ". {\n forward . 1.1.1.1 {\n  force_tcp\n }",
            [(["."], {"forward": ["forward", ".", "1.1.1.1", "{", "force_tcp", "}"]})],
            id="missing-final-brace-undetected",
        ),
        pytest.param("example.org {}", [(["example.org", "{}"], {})], id="empty-braces-are-a-key"),
        pytest.param(
            "a.org,\nb.org {\n whoami\n}", [(["a.org", "b.org"], {"whoami": ["whoami"]})], id="comma-continues"
        ),
        pytest.param(
            ". {\n forward . 1.1.1.1#c\n}", [(["."], {"forward": ["forward", ".", "1.1.1.1"]})], id="hash-cuts-to"
        ),
        pytest.param('. {\n log a"b c"\n}', [(["."], {"log": ["log", 'a"b', 'c"']})], id="mid-token-quote"),
        pytest.param(". {\n log `a b`\n}", [(["."], {"log": ["log", "`a", "b`"]})], id="backticks"),
        pytest.param(
            "(s) {\n . {\n  whoami\n }\n}\nimport s", [(["."], {"whoami": ["whoami"]})], id="snippet-whole-block"
        ),
        pytest.param(
            "(s) {\n log {args[0]}\n}\n. {\n import s\n}",
            [(["."], {"log": ["log", "{args[0]}"]})],
            id="no-snippet-args",
        ),
        pytest.param(
            "example.org\nwhoami\nlog", [(["example.org"], {"whoami": ["whoami"], "log": ["log"]})], id="braceless"
        ),
        pytest.param(". {\n log {$}{$HOME}\n}", [(["."], {"log": ["log", "{$}{$HOME}"]})], id="empty-env-name"),
        pytest.param(":53 {\n whoami\n}", [([":53"], {"whoami": ["whoami"]})], id="colon-key-parses"),
    ],
)
def test_section10_parses(text: str, expected: Summary) -> None:
    assert parse_summary(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            ". { whoami }",
            "Corefile:1 - Error during parsing: Unexpected '}' because no matching opening brace",
            id="one-line-block",
        ),
        pytest.param(
            ". {\n whoami", "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'", id="unclosed-block"
        ),
        pytest.param(
            "a.org\nb.org {\n whoami\n}",
            "Corefile:2 - Error during parsing: Unknown directive 'b.org'",
            id="keys-without-comma",
        ),
        pytest.param(
            "(s) {\n whoami\n}\n. {\n import s arg1\n}",
            "Corefile:5 - Error during parsing: Import takes only one argument (glob pattern or file)",
            id="snippet-arguments",
        ),
        pytest.param(
            ". {\n import s\n}\n(s) {\n whoami\n}",
            "Corefile:2 - Error during parsing: File to import not found: s",
            id="snippet-used-before-definition",
        ),
        pytest.param(
            "(s) {\n whoami\n}\n(s) {\n log\n}",
            "Corefile:4 - Error during parsing: redeclaration of previously declared snippet s",
            id="snippet-redeclared",
        ),
    ],
)
def test_section10_errors(text: str, message: str) -> None:
    assert parse_error(text) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("# only a comment\n", [], id="only-comment"),
        pytest.param('""', [], id="only-empty-key"),
        pytest.param("localhost", [(["localhost"], {})], id="key-only"),
        pytest.param("localhost\n  dir1", [(["localhost"], {"dir1": ["dir1"]})], id="braceless-directive"),
        pytest.param(
            "localhost:1234\n  dir1 foo bar",
            [(["localhost:1234"], {"dir1": ["dir1", "foo", "bar"]})],
            id="braceless-args",
        ),
        pytest.param(
            "localhost:1234 {\n dir1 foo bar\n dir2\n}",
            [(["localhost:1234"], {"dir1": ["dir1", "foo", "bar"], "dir2": ["dir2"]})],
            id="block",
        ),
        pytest.param(
            "http://localhost https://localhost {\n dir1 foo bar\n}",
            [(["http://localhost", "https://localhost"], {"dir1": ["dir1", "foo", "bar"]})],
            id="two-keys-one-line",
        ),
        pytest.param(
            "http://localhost, https://localhost {\n dir1\n}",
            [(["http://localhost", "https://localhost"], {"dir1": ["dir1"]})],
            id="comma-then-key-same-line",
        ),
        pytest.param(
            "host1:80, http://host2.com\n dir1 foo bar\n dir2 baz",
            [(["host1:80", "http://host2.com"], {"dir1": ["dir1", "foo", "bar"], "dir2": ["dir2", "baz"]})],
            id="comma-keys-braceless",
        ),
        pytest.param(
            "http://host1.com,\n http://host2.com,\n https://host3.com",
            [(["http://host1.com", "http://host2.com", "https://host3.com"], {})],
            id="comma-continuation-over-lines",
        ),
        pytest.param(
            "example.org,example.com:1053 {\n}",
            [(["example.org,example.com:1053"], {})],
            id="comma-inside-token-not-separator",
        ),
        pytest.param(
            "127.0.0.1\n dir1 {\n  bar baz\n }\n dir2 {\n  foo bar\n }",
            [(["127.0.0.1"], {"dir1": ["dir1", "{", "bar", "baz", "}"], "dir2": ["dir2", "{", "foo", "bar", "}"]})],
            id="directive-blocks",
        ),
        pytest.param(
            "localhost\n dir1 {\n  nested {\n   foo\n  }\n }\n dir2 foo bar",
            [(["localhost"], {"dir1": ["dir1", "{", "nested", "{", "foo", "}", "}"], "dir2": ["dir2", "foo", "bar"]})],
            id="nested-blocks",
        ),
        pytest.param(
            "localhost\n dir1 {\n }", [(["localhost"], {"dir1": ["dir1", "{", "}"]})], id="empty-directive-block"
        ),
        pytest.param("example.org {\n}", [(["example.org"], {})], id="empty-block"),
        pytest.param("a {\n}\nb {\n}", [(["a"], {}), (["b"], {})], id="two-blocks"),
        pytest.param(
            ". {\n log\n errors\n log stdout\n}",
            [(["."], {"log": ["log", "log", "stdout"], "errors": ["errors"]})],
            id="repeated-directive-concatenated",
        ),
        pytest.param(
            ". {\n dir1 a\n {\n b\n }\n}", [(["."], {"dir1": ["dir1", "a", "{", "b", "}"]})], id="brace-on-next-line"
        ),
        pytest.param(
            "http://example.com {\n basicauth / import password\n}",
            [(["http://example.com"], {"basicauth": ["basicauth", "/", "import", "password"]})],
            id="import-as-ordinary-word",
        ),
        pytest.param("a.org import {\n}", [(["a.org", "import"], {})], id="import-as-key-mid-line"),
        pytest.param(
            "(common) {\n gzip foo\n errors stderr\n}\nhttp://example.com {\n import common\n}",
            [(["http://example.com"], {"gzip": ["gzip", "foo"], "errors": ["errors", "stderr"]})],
            id="snippet",
        ),
        pytest.param(
            "(a) {\n log\n}\n(b) {\n import a\n errors\n}\n. {\n import b\n}",
            [(["."], {"log": ["log"], "errors": ["errors"]})],
            id="snippet-inside-snippet",
        ),
        pytest.param(
            "(opts) {\n force_tcp\n}\n. {\n forward . 1.1.1.1 {\n  import opts\n  max_fails 3\n }\n}",
            [(["."], {"forward": ["forward", ".", "1.1.1.1", "{", "force_tcp", "max_fails", "3", "}"]})],
            id="snippet-inside-directive-block",
        ),
        pytest.param("(empty) {\n}\n. {\n import empty\n}", [(["."], {})], id="empty-snippet"),
        pytest.param("(s) {\n whoami\n}", [], id="only-snippet"),
        pytest.param("(s) (t) {\n}", [(["(s)", "(t)"], {})], id="two-paren-keys-not-snippet"),
        pytest.param('"" a.org {\n}', [(["a.org"], {})], id="empty-quoted-key-dropped"),
        pytest.param(",\na.org {\n}", [(["", "a.org"], {})], id="comma-alone-gives-empty-key"),
    ],
)
def test_parse(text: str, expected: Summary) -> None:
    assert parse_summary(text, directives=None) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "http://localhost, {\n}",
            "Corefile:1 - Error during parsing: Expected another address but had '{' - check for extra comma",
            id="comma-then-brace",
        ),
        pytest.param(
            "localhost:1234, http://host2,", "Corefile:1 - Error during parsing: Unexpected EOF", id="comma-at-eof"
        ),
        pytest.param(
            "localhost\n dir1 {\n  foo",
            "Corefile:3 - Error during parsing: Unexpected EOF",
            id="directive-block-open-at-eof",
        ),
        pytest.param(
            "localhost\n dir1 {\n } }",
            "Corefile:3 - Error during parsing: Unexpected '}' because no matching opening brace",
            id="extra-close",
        ),
        pytest.param(
            "(s)\n whoami",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '{'",
            id="snippet-needs-brace",
        ),
        pytest.param(
            "(s) {\n whoami",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'",
            id="snippet-unclosed",
        ),
        pytest.param(
            ". {\n import\n}",
            "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'",
            id="import-no-argument",
        ),
        pytest.param(
            '. {\n import ""\n}',
            "Corefile:2 - Error during parsing: Import requires a non-empty filepath",
            id="import-empty",
        ),
        pytest.param(
            "import {$NOT_SET}",
            "Corefile:1 - Error during parsing: Import requires a non-empty filepath",
            id="import-empty-env",
        ),
        pytest.param(
            "import {$}", "Corefile:1 - Error during parsing: File to import not found: {$}", id="import-empty-env-name"
        ),
        pytest.param(
            "import {%%}",
            "Corefile:1 - Error during parsing: File to import not found: {%%}",
            id="import-empty-windows-name",
        ),
        pytest.param(
            "import a b",
            "Corefile:1 - Error during parsing: Import takes only one argument (glob pattern or file)",
            id="import-two-args",
        ),
        pytest.param(
            "(loop) {\n import loop\n}\nimport loop",
            "Corefile:3 - Error during parsing: maximum snippet import depth (10000) exceeded",
            id="snippet-self-import",
        ),
        pytest.param(
            "(loop) {\n { }\n import loop\n}\nimport loop",
            "Corefile:4 - Error during parsing: maximum snippet import depth (10000) exceeded",
            id="snippet-self-import-after-braces",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    assert parse_error(text, directives=None) == message


def test_unknown_directive_only_checked_with_a_list() -> None:
    assert parse_summary(". {\n foo\n}", directives=None) == [(["."], {"foo": ["foo"]})]
    assert parse_error(". {\n whoami\n foo bar\n}") == "Corefile:3 - Error during parsing: Unknown directive 'foo'"


def test_error_names_the_file_as_given() -> None:
    with pytest.raises(CorefileError, match=r"^/etc/coredns/Corefile:1 - Error during parsing: Unexpected '}'"):
        parse(". { whoami }", "/etc/coredns/Corefile")


def test_import_snippet_defined_in_directive_position_is_whole_line() -> None:
    # "import" mid-line inside a directive block is an ordinary argument.
    assert parse_summary(". {\n forward . 1.1.1.1 {\n  except import x\n }\n}") == [
        (["."], {"forward": ["forward", ".", "1.1.1.1", "{", "except", "import", "x", "}"]})
    ]


def test_token_lines_and_files() -> None:
    blocks = parse('. {\n log "a\nb" c\n errors\n}', "Corefile")
    log, a, c = blocks[0].directives["log"]
    assert (log.line, a.line, a.newlines, c.line) == (2, 2, 1, 3)
    assert blocks[0].directives["errors"][0].line == 4
    assert {t.file for t in blocks[0].keys} == {"Corefile"}


def test_quoted_multiline_argument_keeps_directive_going() -> None:
    # The token after a multi-line quote, on the quote's last line, is still an argument.
    blocks = parse('. {\n template "x\ny" z\n log\n}', "Corefile")
    assert summary(blocks) == [(["."], {"template": ["template", "x\ny", "z"], "log": ["log"]})]


def test_snippet_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Indirect recursion is only stopped by the cap (10000 expansions), reported at the import.
    text = "(a) {\n import b\n}\n(b) {\n import a\n}\n. {\n import a\n}"
    with pytest.raises(CorefileError) as info:
        parse(text, "Corefile")
    assert str(info.value).endswith("Error during parsing: maximum snippet import depth (10000) exceeded")


def test_snippet_cap_counts_every_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    from pycoredns.corefile import parser

    monkeypatch.setattr(parser, "MAX_SNIPPET_EXPANSIONS", 3)
    text = "(s) {\n log\n}\n" + "".join(f"b{i} {{\n import s\n}}\n" for i in range(4))
    with pytest.raises(CorefileError) as info:
        parse(text, "Corefile")
    assert str(info.value) == "Corefile:14 - Error during parsing: maximum snippet import depth (3) exceeded"
    monkeypatch.setattr(parser, "MAX_SNIPPET_EXPANSIONS", 4)
    assert len(parse(text, "Corefile")) == 4


NODE_LOCAL_DNS = """\
cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . 10.96.0.11 {
            force_tcp
    }
    prometheus :9253
    health 169.254.20.10:8080
    }
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . 10.96.0.11 {
            force_tcp
    }
    prometheus :9253
    }
ip6.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . 10.96.0.11 {
            force_tcp
    }
    prometheus :9253
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . /etc/resolv.conf
    prometheus :9253
    }
"""


def test_node_local_dns_corefile() -> None:
    blocks = parse(NODE_LOCAL_DNS, "Corefile", directives=DIRECTIVES)
    assert [b.key_texts for b in blocks] == [["cluster.local:53"], ["in-addr.arpa:53"], ["ip6.arpa:53"], [".:53"]]
    first = summary(blocks)[0][1]
    assert first["cache"] == ["cache", "{", "success", "9984", "30", "denial", "9984", "5", "}"]
    assert first["forward"] == ["forward", ".", "10.96.0.11", "{", "force_tcp", "}"]
    assert first["health"] == ["health", "169.254.20.10:8080"]
    assert list(first) == ["errors", "cache", "reload", "loop", "bind", "forward", "prometheus", "health"]
    assert summary(blocks)[3][1]["forward"] == ["forward", ".", "/etc/resolv.conf"]
    assert blocks[0].directives["health"][0].line == 14


def test_repository_corefiles_parse() -> None:
    root = Path(__file__).resolve().parents[2] / "corefiles"
    for path in sorted(root.glob("**/*")) if root.is_dir() else []:
        if path.is_file() and not path.name.endswith((".md", ".py")):
            parse(path.read_text(), str(path))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(". {\n whoami\n}", ". {\n whoami   # comment\n}", True, id="comment-and-spaces-ignored"),
        pytest.param(". {\n whoami\n}", ". {\n\n whoami\n}", False, id="moved-line-changes"),
        pytest.param(". {\n log a\n}", ". {\n log b\n}", False, id="argument-changes"),
        pytest.param("a {\n}", "b {\n}", False, id="key-changes"),
        pytest.param(". {\n log\n errors\n}", ". {\n log\n errors\n}", True, id="identical"),
    ],
)
def test_tokens_digest(a: str, b: str, same: bool) -> None:
    da, db = tokens_digest(parse(a, "Corefile")), tokens_digest(parse(b, "Corefile"))
    assert len(da) == 128
    assert (da == db) is same


def test_tokens_digest_sees_environment() -> None:
    text = ". {\n log {$FMT}\n}"
    one = tokens_digest(parse(text, "Corefile", env={"FMT": "a"}))
    two = tokens_digest(parse(text, "Corefile", env={"FMT": "b"}))
    assert one != two
