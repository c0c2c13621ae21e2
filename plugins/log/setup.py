"""Parse ``log [NAMES...] [FORMAT] [{ class CLASSES... }]``: one rule per name, in file order."""

from __future__ import annotations

from pycoredns.plugin import ConfigError, Controller
from pycoredns.plugins.log.classify import ALL, CLASSES
from pycoredns.plugins.log.format import COMBINED, COMMON, DEFAULT
from pycoredns.plugins.log.observer import LogObserver, Rule


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def parse(c: Controller) -> list[Rule]:
    rules: list[Rule] = []
    while c.next():
        args = c.remaining_args()
        fmt = DEFAULT
        if not args:
            names = ["."]
        elif len(args) == 1:
            names = [fqdn(args[0])]  # a single argument is always a name, even with a "{"
        else:
            if "{" in args[-1]:
                fmt = args[-1].replace("{common}", COMMON).replace("{combined}", COMBINED)
                args = args[:-1]
            names = [fqdn(a) for a in args]
        classes: set[str] = set()
        while c.next_block():
            if c.val() != "class":
                raise c.unknown_property()
            for v in c.remaining_args(at_least=1):
                if v not in CLASSES:
                    raise ConfigError(f"invalid Class: {v}")
                classes.add(v)
        for name in names:
            rules.append(Rule(name, fmt, set(classes) or {ALL}))
    return rules


def setup(c: Controller) -> None:
    c.add_observer(LogObserver(parse(c)))
