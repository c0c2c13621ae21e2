"""Split one Corefile's text into tokens with the Lark grammar in ``corefile.lark``.

The grammar fixes what a token is; this module only turns Lark's tokens into ours: it cuts the
mid-word comment tail, drops carriage returns, unescapes ``\\"`` and records each token's file,
start line and inner line breaks.
"""

from __future__ import annotations

import re

from lark import Lark
from lark import Token as LarkToken

from pycoredns.corefile.tokens import Token

__all__ = ["lex"]

# Built once: grammar analysis is far more expensive than lexing a Corefile.
_LARK = Lark.open("corefile.lark", rel_to=__file__, parser="lalr", maybe_placeholders=False)

# Inside quotes a backslash pairs with the next character; only the pair \" loses its backslash.
_ESCAPE_PAIR = re.compile(r"\\([\s\S])")


def _unescape(match: re.Match[str]) -> str:
    return '"' if match.group(1) == '"' else match.group(0)


def _quoted_text(raw: str) -> str | None:
    """The text of a QUOTED match, or None when it yields no token (a lone ``"`` at EOF)."""
    body = raw[1:]
    closed = body.endswith('"') and not _ends_escaped(body[:-1])
    if closed:
        body = body[:-1]
    elif body.endswith("\\") and _ends_escaped(body):
        # A backslash waiting for its partner when the input ended is discarded, as in Caddy.
        body = body[:-1]
    text = _ESCAPE_PAIR.sub(_unescape, body)
    if not closed and not text:
        return None
    return text


def _ends_escaped(body: str) -> bool:
    """True if ``body`` ends with an odd run of backslashes (an unfinished escape pair)."""
    run = len(body) - len(body.rstrip("\\"))
    return run % 2 == 1


def _word_text(raw: str) -> str:
    # A "#" inside a word hides the rest of that word; "\r" never counts, even mid-word.
    return raw.split("#", 1)[0].replace("\r", "")


def lex(text: str, filename: str) -> list[Token]:
    """Tokens of one file's text; ``filename`` is recorded on every token."""
    if text.startswith("\ufeff"):
        text = text[1:]  # one leading byte-order mark is not content
    tree = _LARK.parse(text)
    out: list[Token] = []
    for child in tree.children:
        assert isinstance(child, LarkToken)  # the grammar has no sub-rules
        raw = str(child)
        line = child.line or 1
        if child.type == "QUOTED":
            quoted = _quoted_text(raw)
            if quoted is None:
                continue
            out.append(Token(quoted, filename, line, quoted.count("\n"), quoted=True))
        else:
            out.append(Token(_word_text(raw), filename, line))
    return out
