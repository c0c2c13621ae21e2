"""The token level: words, quotes, comments, carriage returns and line numbers (corefile.md 1)."""

from __future__ import annotations

import pytest

from pycoredns.corefile import Token, lex


def texts_lines(text: str) -> list[tuple[str, int]]:
    return [(t.text, t.line) for t in lex(text, "Corefile")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("\n", [], id="newline-only"),
        pytest.param(" \t\n", [], id="whitespace-only"),
        pytest.param("a b c\nd e", [("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 2)], id="words-and-lines"),
        pytest.param("host:123\n\n\ndir", [("host:123", 1), ("dir", 4)], id="blank-lines-count"),
        pytest.param("{\n}", [("{", 1), ("}", 2)], id="braces"),
        pytest.param("{}", [("{}", 1)], id="empty-braces-one-token"),
        pytest.param("example.org{", [("example.org{", 1)], id="brace-glued-to-word"),
        pytest.param("}}", [("}}", 1)], id="double-close-one-token"),
        pytest.param("foobar # another comment\nx", [("foobar", 1), ("x", 2)], id="comment-after-word"),
        pytest.param("# whole line\nx", [("x", 2)], id="comment-line"),
        pytest.param("#", [], id="lone-hash"),
        pytest.param("1.1.1.1#x", [("1.1.1.1", 1)], id="hash-mid-token"),
        pytest.param("1.1.1.1#x y\nz", [("1.1.1.1", 1), ("y", 1), ("z", 2)], id="hash-mid-token-then-arg"),
        pytest.param('a#"b c" d', [("a", 1), ('c"', 1), ("d", 1)], id="hash-tail-hides-quote"),
        pytest.param('"a # b" c', [("a # b", 1), ("c", 1)], id="hash-inside-quotes"),
        pytest.param(
            "skip those\r\nCR characters", [("skip", 1), ("those", 1), ("CR", 2), ("characters", 2)], id="crlf"
        ),
        pytest.param("who\rami", [("whoami", 1)], id="cr-inside-word-dropped"),
        pytest.param("a\rb\r\r", [("ab", 1)], id="cr-never-separates"),
        pytest.param("a\r\n\rb", [("a", 1), ("b", 2)], id="cr-around-newline"),
        pytest.param('"a\r\nb"', [("a\r\nb", 1)], id="cr-kept-in-quotes"),
        pytest.param('"quoted" word', [("quoted", 1), ("word", 1)], id="quoted"),
        pytest.param('""', [("", 1)], id="empty-quoted"),
        pytest.param('"" x', [("", 1), ("x", 1)], id="empty-quoted-then-word"),
        pytest.param('"a"b', [("a", 1), ("b", 1)], id="quote-ends-token"),
        pytest.param('a"b c"', [('a"b', 1), ('c"', 1)], id="quote-mid-token-literal"),
        pytest.param("`a b`", [("`a", 1), ("b`", 1)], id="backtick-is-ordinary"),
        pytest.param("'a b'", [("'a", 1), ("b'", 1)], id="single-quote-is-ordinary"),
        pytest.param('"a\\"b"', [('a"b', 1)], id="escaped-quote"),
        pytest.param('"don\'t\\escape"', [("don't\\escape", 1)], id="other-escape-kept"),
        pytest.param('"don\'t\\\\escape"', [("don't\\\\escape", 1)], id="double-backslash-kept"),
        pytest.param('"C:\\php\\php-cgi.exe"', [("C:\\php\\php-cgi.exe", 1)], id="windows-path"),
        pytest.param('"a\\\\" b', [("a\\\\", 1), ("b", 1)], id="backslashes-before-closing-quote"),
        pytest.param("a\\b", [("a\\b", 1)], id="backslash-outside-quotes"),
        pytest.param('"unterminated x\ny', [("unterminated x\ny", 1)], id="unterminated-runs-to-eof"),
        pytest.param('x "', [("x", 1)], id="lone-quote-at-eof-no-token"),
        pytest.param('"abc\\', [("abc", 1)], id="pending-escape-at-eof"),
        pytest.param('"a\\"', [('a"', 1)], id="unterminated-with-escaped-quote"),
        pytest.param("\ufeffa b", [("a", 1), ("b", 1)], id="bom-dropped"),
        pytest.param("a \ufeffb", [("a", 1), ("\ufeffb", 1)], id="bom-only-leading"),
        pytest.param("a\u00a0b\u2003c\u3000d", [("a", 1), ("b", 1), ("c", 1), ("d", 1)], id="unicode-spaces"),
        pytest.param("a\x0bb\x0cc", [("a", 1), ("b", 1), ("c", 1)], id="vt-ff-separate"),
        pytest.param("a\x1cb", [("a\x1cb", 1)], id="file-separator-not-space-in-go"),
        pytest.param("a\u2028b", [("a", 1), ("b", 1)], id="line-separator-no-line-count"),
        pytest.param('"a"#c d\ne', [("a", 1), ("e", 2)], id="comment-right-after-quote"),
    ],
)
def test_lex(text: str, expected: list[tuple[str, int]]) -> None:
    assert texts_lines(text) == expected


def test_multiline_quoted_token_records_start_line_and_newlines() -> None:
    tokens = lex('dir "line one\nline two\nline three" after\nnext', "Corefile")
    assert tokens == [
        Token("dir", "Corefile", 1),
        Token("line one\nline two\nline three", "Corefile", 1, newlines=2, quoted=True),
        Token("after", "Corefile", 3),
        Token("next", "Corefile", 4),
    ]


def test_tokens_carry_filename() -> None:
    assert {t.file for t in lex("a\nb", "/etc/coredns/Corefile")} == {"/etc/coredns/Corefile"}


def test_quoted_flag_only_on_quoted_tokens() -> None:
    assert [t.quoted for t in lex('a "b" c', "F")] == [False, True, False]
