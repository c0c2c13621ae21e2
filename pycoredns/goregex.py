"""Go (RE2) regular expressions as Python's ``re`` runs them, for rewrite and template.

The two syntaxes agree on what Corefiles use (classes, groups, ``(?P<name>...)``, anchors); Go's
newer ``(?<name>...)`` and its end-of-text ``\\z`` are translated. Patterns longer than CoreDNS's
10000-character cap are rejected by the callers, with their own messages.
"""

from __future__ import annotations

import re

MAX_REGEXP_LEN = 10000


def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regexp; raises ``re.error`` when Python cannot read it."""
    translated = re.sub(r"\(\?<(?![=!])", "(?P<", pattern).replace(r"\z", r"\Z")
    return re.compile(translated)


def submatches(pattern: re.Pattern[str], text: str) -> list[str] | None:
    """Go's FindStringSubmatch: the whole match then every group ("" when a group is unused)."""
    m = pattern.search(text)
    if m is None:
        return None
    return [m.group(0)] + [g or "" for g in m.groups()]


def expand(template: str, groups: list[str]) -> str:
    """Replace ``{0}``, ``{1}``... in ``template`` with the groups (CoreDNS's rewrite syntax)."""
    out = template
    for i, value in enumerate(groups):
        out = out.replace("{" + str(i) + "}", value)
    return out
