"""Parse ``rewrite [continue|stop] FIELD ARGS...`` lines; every occurrence adds one rule.

In the block form ``rewrite [continue|stop] { ... }`` every token inside the braces, whatever
line it is on, joins the one rule (CoreDNS reads it that way).
"""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.parse import new_rule
from pycoredns.plugins.rewrite.rules import Rule


def setup(c: Controller) -> None:
    rules: list[Rule] = []
    upstream = c.upstream
    while c.next():
        args = c.remaining_args()
        if len(args) < 2:
            while c.next_block():
                args.append(c.val())
        rules.append(new_rule(args, upstream))
    c.add_plugin(lambda next: Rewrite(next, rules))
