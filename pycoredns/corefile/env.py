"""Environment references inside Corefile tokens: ``{$NAME}`` and ``{%NAME%}``.

Substitution runs on tokens after lexing, so a value never creates tokens, quotes or braces.
The rules follow Caddy's ``replaceEnvVars`` exactly, quirks included, because Corefiles in the
wild rely on them: the Windows form is expanded first, an unset name becomes the empty string, a
reference runs to the *first* closing marker, an empty name (``{$}``) stops that pass for the
rest of the token, and scanning restarts from the start after every replacement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["replace_env"]

# Caddy rescans after each replacement, so a value containing its own reference never ends there.
# We stop after this many replacements instead of hanging the server (the only deviation).
_MAX_REPLACEMENTS = 10_000


def replace_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``{%NAME%}`` and then every ``{$NAME}`` reference replaced."""
    if "{" not in text:
        return text  # the common case: nothing to do
    values = os.environ if env is None else env
    text = _replace_references(text, "{%", "%}", values)
    return _replace_references(text, "{$", "}", values)


def _replace_references(text: str, start: str, end: str, env: Mapping[str, str]) -> str:
    index = text.find(start)
    replacements = 0
    while index != -1 and replacements < _MAX_REPLACEMENTS:
        end_index = text.find(end, index)
        if end_index == -1:
            break
        if end_index <= index + len(start):
            # An empty name is left as it is and ends this pass (Caddy returns early here).
            return text
        reference = text[index : end_index + len(end)]
        name = reference[len(start) : -len(end)]
        text = text.replace(reference, env.get(name, ""))
        replacements += 1
        index = text.find(start)
    return text
