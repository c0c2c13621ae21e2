"""Build the Controller a plugin's ``setup`` would receive, to test option parsing on its own."""

from __future__ import annotations

from pycoredns.corefile import parse, parse_key
from pycoredns.plugin import Controller
from pycoredns.registry import Registry
from pycoredns.server.config import BlockConfig, Instance


def controller(corefile: str, directive: str, block: int = 0, filename: str = "Corefile") -> Controller:
    """A Controller over ``directive``'s tokens in server block ``block`` of ``corefile``."""
    registry = Registry.default()
    blocks = parse(corefile, filename, directives=registry.names())
    configs = [
        BlockConfig(i, b, [a for key in b.keys for a in parse_key(key.text, "53")]) for i, b in enumerate(blocks)
    ]
    instance = Instance(filename, corefile, blocks, configs, directive_order=registry.names())
    cfg = configs[block]
    return Controller(directive, cfg.block.directives.get(directive, []), cfg, instance, block)
