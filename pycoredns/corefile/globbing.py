"""Go's ``filepath.Glob`` and ``filepath.Clean`` for ``import`` patterns (POSIX paths).

Python's ``glob`` differs in ways users would notice: it hides dot-files from ``*``, treats a
lone ``[`` as a literal and has no ``\\`` escape. Import patterns are limited to one ``*`` and one
``?`` (checked by the parser), so a small matcher is enough.
"""

from __future__ import annotations

import os
import posixpath
import re

__all__ = ["go_clean", "go_glob", "BadPattern"]


class BadPattern(ValueError):
    """Go's ``filepath.ErrBadPattern``."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def go_clean(path: str) -> str:
    """``filepath.Clean``: like ``normpath`` but a leading ``//`` collapses too."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = cleaned[1:]
    return cleaned


def _has_meta(path: str) -> bool:
    return any(c in path for c in "*?[\\")


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "*":
            parts.append("[^/]*")
        elif ch == "?":
            parts.append("[^/]")
        elif ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise BadPattern()
            parts.append(re.escape(escaped))
        elif ch == "[":
            # A character class; a complete one is refused earlier by the parser, so this one is
            # unterminated, which Go reports as a bad pattern.
            raise BadPattern()
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def go_glob(pattern: str) -> list[str]:
    """Paths matching ``pattern``, each directory's matches in byte order; [] when none."""
    _compile(pattern)  # Go checks the whole pattern before touching the file system
    if not _has_meta(pattern):
        try:
            os.lstat(pattern)
        except OSError:
            return []
        return [pattern]
    head, tail = posixpath.split(pattern)
    if not head:
        head = "."
    if not _has_meta(head):
        return _glob_in(head, tail)
    matches: list[str] = []
    for directory in go_glob(head):
        matches.extend(_glob_in(directory, tail))
    return matches


def _glob_in(directory: str, pattern: str) -> list[str]:
    matcher = _compile(pattern)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []  # Go ignores directories it cannot read
    return [go_clean(posixpath.join(directory, n)) for n in names if matcher.fullmatch(n)]
