"""Group a Corefile's tokens into server blocks, expanding imports, snippets and env references.

This is a recursive parser over the token list, as in Caddy (caddyfile/parse.go), rather than a
grammar: ``import`` splices tokens into the list while it is being read, and "end of line" is a
property of neighbouring tokens, so structure only exists after expansion. Each step below
mirrors one of Caddy's, including where the cursor is left, because CoreDNS users depend on the
resulting quirks (see corefile.md section 2 and the table in section 10).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Collection, Mapping

from pycoredns.corefile.dispenser import Dispenser
from pycoredns.corefile.env import replace_env
from pycoredns.corefile.globbing import BadPattern, go_clean, go_glob
from pycoredns.corefile.lexer import lex
from pycoredns.corefile.tokens import ServerBlock, Token
from pycoredns.errors import CorefileError

__all__ = ["parse", "parse_file", "tokens_digest", "MAX_SNIPPET_EXPANSIONS", "MAX_FILE_EXPANSIONS"]

log = logging.getLogger("pycoredns")

# Caps on expansions per parse, so import cycles end with an error instead of exhausting memory.
# Module-level so tests can lower them (Caddy makes them variables for the same reason).
MAX_SNIPPET_EXPANSIONS = 10_000
MAX_FILE_EXPANSIONS = 100_000


def parse(
    text: str,
    filename: str,
    *,
    directives: Collection[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[ServerBlock]:
    """The server blocks of a Corefile's text; ``filename`` names it in errors and tokens.

    With ``directives`` given, any other directive name is an error; imports relative to the
    Corefile are resolved from the directory of ``filename``. Raises :class:`CorefileError`.
    """
    return _Parser(lex(text, filename), filename, directives, env).parse_all()


def parse_file(
    path: str,
    *,
    directives: Collection[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[ServerBlock]:
    """Read and parse the Corefile at ``path`` (named as given in errors)."""
    return parse(_read(path), path, directives=directives, env=env)


def tokens_digest(blocks: list[ServerBlock]) -> str:
    """SHA-512 over keys and every directive token's text, line and file (reload's "changed?").

    Whitespace and comments inside a line do not change it; moved lines, edits in imported files
    and changed environment values do.
    """
    data = [
        {
            "Keys": block.key_texts,
            "Tokens": {
                name: [{"File": t.file, "Line": t.line, "Text": t.text} for t in tokens]
                for name, tokens in block.directives.items()
            },
        }
        for block in blocks
    ]
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha512(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def corefile_digest(text: str, filename: str) -> str:
    """SHA-512 hex of the parsed Corefile (imports expanded, env substituted, directives unchecked)."""
    return tokens_digest(parse(text, filename, directives=None))


def _read(path: str) -> str:
    """A file's text; undecodable bytes become U+FFFD, as Go's rune reader makes them."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CorefileError(f"open {path}: {_reason(e)}") from e
    return data.decode("utf-8", "replace")


def _reason(error: OSError) -> str:
    """An OS error's reason in Go's words (lower-case ``permission denied``)."""
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


class _Parser(Dispenser):
    """One parse: the token list (which imports rewrite in place), snippets and counters."""

    def __init__(
        self,
        tokens: list[Token],
        filename: str,
        directives: Collection[str] | None,
        env: Mapping[str, str] | None,
    ) -> None:
        super().__init__(tokens, filename=filename)
        self._valid = None if directives is None else frozenset(directives)
        self._env = env
        self._snippets: dict[str, list[Token]] = {}
        self._snippet_expansions = 0
        self._file_expansions = 0
        # Lexed imports by path: a cycle re-imports the same files up to the cap, and a file does
        # not change within one parse.
        self._lexed: dict[str, list[Token]] = {}
        self._eof = False  # set when a key line runs into EOF: the input ends there

    def _sub(self, text: str) -> str:
        return replace_env(text, self._env)

    def parse_all(self) -> list[ServerBlock]:
        blocks = []
        while self.next():
            block = ServerBlock(keys=[])
            self._parse_one(block)
            if block.keys:
                blocks.append(block)
        return blocks

    def _parse_one(self, block: ServerBlock) -> None:
        if not self._tokens:
            return
        self._addresses(block)
        if self._eof:
            return  # only keys, and nothing after them
        name = _snippet_name(block)
        if name is not None:
            self._define_snippet(name)
            block.keys.clear()  # a snippet is not a server block
            return
        self._block_contents(block)

    # -- keys --------------------------------------------------------------------------------
    def _addresses(self, block: ServerBlock) -> None:
        expecting_another = False
        while True:
            text = self._sub(self.val())
            if text == "import" and self._is_new_line():
                self._do_import()
                continue  # the cursor is now on the first imported token
            if text == "{":
                if expecting_another:
                    raise self.err("Expected another address but had '{' - check for extra comma")
                break
            if text:  # a key that is empty after substitution ("" or an unset variable) is dropped
                # A trailing comma announces another key, possibly on the next line.
                expecting_another = text.endswith(",")
                if expecting_another:
                    text = text[:-1]
                current = self.token()
                assert current is not None  # val() was non-empty
                block.keys.append(dataclasses.replace(current, text=text))
            has_next = self.next()
            if expecting_another and not has_next:
                raise self.eof_err()
            if not has_next:
                self._eof = True
                break
            if not expecting_another and self._is_new_line():
                break

    # -- bodies ------------------------------------------------------------------------------
    def _block_contents(self, block: ServerBlock) -> None:
        opened = self.val() == "{"
        if not opened:
            self._cursor -= 1  # brace-less single block: the body starts at this token
        self._directives(block)
        # A missing "}" goes unnoticed when the last directive ended with its own "}" (as in Caddy).
        if opened and self.val() != "}":
            raise self.syntax_err("}")

    def _directives(self, block: ServerBlock) -> None:
        while self.next():
            if self.val() == "}":
                break
            if self.val() == "import":
                self._do_import()
                self._cursor -= 1  # the loop's next() lands on the first imported token
                continue
            self._directive(block)

    def _directive(self, block: ServerBlock) -> None:
        """Collect one directive: to the end of its line, or to the ``}`` matching a ``{``."""
        name = self._sub(self.val())
        if self._valid is not None and name not in self._valid:
            raise self.err(f"Unknown directive '{name}'")
        first = self.token()
        assert first is not None
        collected = block.directives.setdefault(name, [])
        collected.append(first)  # kept as written, as Caddy does
        nesting = 0
        while self.next():
            text = self.val()
            if text == "{":
                nesting += 1
            elif nesting == 0 and self._is_new_line():
                self._cursor -= 1  # that token starts the next directive
                break
            elif text == "}" and nesting > 0:
                nesting -= 1
            elif text == "}":
                raise self.err("Unexpected '}' because no matching opening brace")
            elif text == "import" and self._is_new_line():
                self._do_import()
                self._cursor -= 1
                continue
            collected.append(self._substituted_current())
        if nesting > 0:
            raise self.eof_err()

    def _substituted_current(self) -> Token:
        """The current token with env references replaced, written back so line checks see it."""
        tok = self._tokens[self._cursor]
        text = self._sub(tok.text)
        if text != tok.text:
            tok = dataclasses.replace(tok, text=text, newlines=text.count("\n"))
            self._tokens[self._cursor] = tok
        return tok

    # -- snippets ----------------------------------------------------------------------------
    def _define_snippet(self, name: str) -> None:
        if name in self._snippets:
            raise self.err(f"redeclaration of previously declared snippet {name}")
        if self.val() != "{":
            raise self.syntax_err("{")
        depth = 1
        body: list[Token] = []
        while self.next():
            text = self.val()
            if text == "}":
                depth -= 1
                if depth == 0:
                    break
            elif text == "{":
                depth += 1
            current = self.token()
            assert current is not None
            body.append(current)
        if depth != 0:
            raise self.syntax_err("}")
        # Reject the obvious cycle (the body importing itself) now rather than at the cap.
        for i in range(len(body) - 1):
            tok, prev = body[i], body[i - 1] if i else None
            at_line_start = prev is None or prev.file != tok.file or prev.line != tok.line
            if tok.text == "import" and at_line_start and self._sub(body[i + 1].text) == name:
                raise self.err(f"maximum snippet import depth ({MAX_SNIPPET_EXPANSIONS}) exceeded")
        self._snippets[name] = body

    # -- import ------------------------------------------------------------------------------
    def _do_import(self) -> None:
        """Replace ``import PATTERN`` by a snippet's or files' tokens.

        Leaves the cursor where ``import`` was, i.e. on the first spliced token.
        """
        if not self.next_arg():
            raise self.arg_err()
        pattern = self._sub(self.val())
        if not pattern:
            raise self.err("Import requires a non-empty filepath")
        if self.next_arg():
            raise self.err("Import takes only one argument (glob pattern or file)")
        if pattern in self._snippets:
            if self._snippet_expansions >= MAX_SNIPPET_EXPANSIONS:
                raise self.err(f"maximum snippet import depth ({MAX_SNIPPET_EXPANSIONS}) exceeded")
            self._snippet_expansions += 1
            imported = list(self._snippets[pattern])
        else:
            if self._file_expansions >= MAX_FILE_EXPANSIONS:
                # Caddy prints the snippet cap here; kept, since users search for the message.
                raise self.err(f"maximum file import depth ({MAX_SNIPPET_EXPANSIONS}) exceeded")
            self._file_expansions += 1
            imported = self._import_files(pattern)
        self._tokens[self._cursor - 1 : self._cursor + 1] = imported
        self._cursor -= 1

    def _import_files(self, pattern: str) -> list[Token]:
        # Relative to the file holding the import token, not to the working directory.
        if os.path.isabs(pattern):
            glob_pattern = pattern
        else:
            glob_pattern = go_clean(os.path.join(os.path.dirname(os.path.abspath(self.file())), pattern))
        if glob_pattern.count("*") > 1 or glob_pattern.count("?") > 1 or ("[" in glob_pattern and "]" in glob_pattern):
            # Many wildcards can make matching take very long (Caddy issue #2096).
            raise self.err(f"Glob pattern may only contain one wildcard (*), but has others: {glob_pattern}")
        try:
            matches = go_glob(glob_pattern)
        except BadPattern as e:
            raise self.err(f"Failed to use import pattern {pattern}: {e}") from None
        if not matches:
            if any(c in glob_pattern for c in "*?[]"):
                log.warning("[WARNING] No files matching import glob pattern: %s", pattern)
            else:
                raise self.err(f"File to import not found: {pattern}")
        imported: list[Token] = []
        for path in matches:
            imported.extend(self._import_one(path))
        return imported

    def _import_one(self, path: str) -> list[Token]:
        cached = self._lexed.get(path)
        if cached is not None:
            return cached
        if os.path.isdir(path):
            raise self.err(f"Could not import {path}: is a directory")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise self.err(f"Could not import {path}: open {path}: {_reason(e)}") from None
        # Imported tokens name their file by absolute path, so errors point at the right file.
        tokens = lex(data.decode("utf-8", "replace"), os.path.abspath(path))
        self._lexed[path] = tokens
        return tokens


def _snippet_name(block: ServerBlock) -> str | None:
    """The name if the block's only key is ``(name)``, else None."""
    if len(block.keys) != 1:
        return None
    key = block.keys[0].text
    if key.startswith("(") and key.endswith(")"):
        return key[1:].removesuffix(")")
    return None
