"""Go's ``flag`` package rules, for CLIs that must accept exactly what CoreDNS and node-cache do.

``-name value``, ``-name=value``, ``--name`` forms; booleans only as ``-name`` or ``-name=BOOL``;
parsing stops at the first non-flag argument or ``--``; an unknown flag prints the usage and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class FlagError(Exception):
    """A command line Go's flag package would reject."""


@dataclass
class Flag:
    name: str
    default: Any
    usage: str
    kind: str  # "bool", "string", "int", or "func"
    convert: Callable[[str], Any] | None = None


class FlagSet:
    def __init__(self, program: str) -> None:
        self.program = program
        self.flags: dict[str, Flag] = {}
        self.values: dict[str, Any] = {}
        self.set_explicitly: set[str] = set()
        self.args: list[str] = []

    def bool(self, name: str, default: bool, usage: str) -> None:
        self._add(Flag(name, default, usage, "bool"))

    def string(self, name: str, default: str, usage: str) -> None:
        self._add(Flag(name, default, usage, "string"))

    def value(self, name: str, default: Any, usage: str, convert: Callable[[str], Any]) -> None:
        """A flag whose text is converted (and validated) by ``convert``; ValueError is reported."""
        self._add(Flag(name, default, usage, "func", convert))

    def alias(self, name: str, target: str) -> None:
        """Two names for one value (CoreDNS's ``-p`` and ``-dns.port``)."""
        self.flags[name] = self.flags[target]

    def _add(self, flag: Flag) -> None:
        self.flags[flag.name] = flag
        self.values[flag.name] = flag.default

    def __getitem__(self, name: str) -> Any:
        return self.values[self.flags[name].name]

    def parse(self, argv: list[str]) -> None:
        i = 0
        while i < len(argv):
            arg = argv[i]
            if len(arg) < 2 or arg[0] != "-":
                break
            if arg == "--":
                i += 1
                break
            body = arg[2:] if arg.startswith("--") else arg[1:]
            if not body or body[0] in "-=":
                raise FlagError(f"bad flag syntax: {arg}")
            name, has_value, value = body.partition("=")
            if name in ("h", "help") and name not in self.flags:
                raise SystemExit(self._help())
            flag = self.flags.get(name)
            if flag is None:
                raise FlagError(f"flag provided but not defined: -{name}")
            if flag.kind == "bool":
                if not has_value:
                    value = "true"
                if value in _TRUE:
                    self.values[flag.name] = True
                elif value in _FALSE:
                    self.values[flag.name] = False
                else:
                    raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')
            else:
                if not has_value:
                    i += 1
                    if i >= len(argv):
                        raise FlagError(f"flag needs an argument: -{name}")
                    value = argv[i]
                if flag.convert is not None:
                    try:
                        self.values[flag.name] = flag.convert(value)
                    except ValueError as e:
                        raise FlagError(f'invalid value "{value}" for flag -{name}: {e}') from None
                else:
                    self.values[flag.name] = value
            self.set_explicitly.add(flag.name)
            i += 1
        self.args = argv[i:]

    def usage(self, out: TextIO | None = None) -> None:
        out = out or sys.stderr
        print(f"Usage of {self.program}:", file=out)
        for name in sorted(self.flags):
            f = self.flags[name]
            kind = "" if f.kind == "bool" else (" string" if f.kind == "string" else " value")
            print(f"  -{name}{kind}", file=out)
            default = "" if f.default in ("", False, None) else f" (default {f.default!r})"
            print(f"    \t{f.usage}{default}", file=out)

    def _help(self) -> int:
        self.usage()
        return 0

    def parse_or_exit(self, argv: list[str]) -> None:
        """Parse like Go's ExitOnError: message and usage on stderr, exit status 2."""
        try:
            self.parse(argv)
        except FlagError as e:
            print(e, file=sys.stderr)
            self.usage()
            raise SystemExit(2) from None
