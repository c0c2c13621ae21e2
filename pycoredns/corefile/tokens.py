"""The units the Corefile parser produces: tokens with their origin, and server blocks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Token:
    """One Corefile token: its text and where it started.

    ``file`` is the Corefile path as given to the loader for the main file and the absolute path
    for imported files; ``line`` is the 1-based line the token starts on; ``newlines`` counts the
    line breaks inside a quoted token, so "same line" checks can see past multi-line strings.
    """

    text: str
    file: str
    line: int
    newlines: int = 0
    quoted: bool = False


@dataclass(slots=True)
class ServerBlock:
    """A server block as the parser leaves it: keys plus per-directive token streams.

    ``keys`` are the block's key tokens after environment substitution (empty keys dropped, the
    trailing comma of a continued key stripped). ``directives`` maps each directive name, in the
    order it first appears, to the concatenated tokens of all of its occurrences in the block (the
    directive token itself included each time), in file order.
    """

    keys: list[Token]
    directives: dict[str, list[Token]] = field(default_factory=dict)

    @property
    def key_texts(self) -> list[str]:
        return [k.text for k in self.keys]
