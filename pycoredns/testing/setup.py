"""Build the Controller a plugin's ``setup`` would receive, to test option parsing on its own."""

from __future__ import annotations

from collections.abc import Iterable

from pycoredns.corefile import parse, parse_key
from pycoredns.plugin import Controller, Directive
from pycoredns.registry import Registry
from pycoredns.server.config import BlockConfig, Instance, load


def registry_with(plugins: Iterable[Directive] = ()) -> Registry:
    """The directives installed (built-in and third-party) plus ``plugins``, placed by their
    ``before``/``after``: a plugin under test need not be installed."""
    registry = Registry.default()
    plugins = list(plugins)
    return registry.with_directives(plugins) if plugins else registry


def controller(
    corefile: str,
    directive: str | None = None,
    block: int = 0,
    filename: str = "Corefile",
    *,
    plugins: Iterable[Directive] = (),
) -> Controller:
    """A Controller over ``directive``'s tokens in server block ``block`` of ``corefile``, as the
    directive's ``setup`` receives it (CoreDNS's ``caddy.NewTestController``).

    ``directive`` may be left out when the block uses exactly one. ``plugins`` adds directives
    that are not installed (see :func:`registry_with`).
    """
    registry = registry_with(plugins)
    blocks = parse(corefile, filename, directives=registry.names())
    if not 0 <= block < len(blocks):
        raise IndexError(f"the Corefile has {len(blocks)} server block(s), no block {block}")
    configs = [
        BlockConfig(i, b, [a for key in b.keys for a in parse_key(key.text, "53")]) for i, b in enumerate(blocks)
    ]
    instance = Instance(filename, corefile, blocks, configs, directive_order=registry.names())
    cfg = configs[block]
    if directive is None:
        used = list(cfg.block.directives)
        if len(used) != 1:
            raise ValueError(f"server block {block} uses {len(used)} directives {used}: name the one to set up")
        directive = used[0]
    return Controller(directive, cfg.block.directives.get(directive, []), cfg, instance, block)


def validate_corefile(corefile: str, filename: str = "Corefile", *, plugins: Iterable[Directive] = ()) -> None:
    """Parse ``corefile`` and set up every plugin without opening a socket or running a hook (what
    ``pycoredns -validate`` does); raises the load error, in CoreDNS's layout, when it fails."""
    load(corefile, filename, registry=registry_with(plugins))
