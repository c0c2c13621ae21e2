"""Parse ``loadbalance [round_robin | weighted WEIGHTFILE] { reload DURATION; prefer CIDR... }``.

The syntax, defaults and error texts are CoreDNS's (plugin/loadbalance/setup.go): the weighted
policy's block takes only ``reload`` (default 30s), the block of round_robin (or of no policy)
only ``prefer``; an unknown policy is reported without a position, as CoreDNS does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycoredns.plugin import ConfigError, Controller, go_strconv_quote, parse_cidr, parse_duration
from pycoredns.plugins.loadbalance.handler import LoadBalance, Network
from pycoredns.plugins.loadbalance.weightfile import WeightFile

ROUND_ROBIN = "round_robin"
WEIGHTED = "weighted"
DEFAULT_RELOAD = 30.0


@dataclass
class Config:
    policy: str = ROUND_ROBIN
    weight_file: str = ""
    reload: float = DEFAULT_RELOAD
    prefer: list[Network] = field(default_factory=list)


def parse(c: Controller) -> Config:
    cfg = Config()
    while c.next():
        args = c.remaining_args()
        if args:
            policy = args[0]
            if policy == ROUND_ROBIN:
                if len(args) > 1:
                    raise c.errf("unknown property for %s", policy)
                cfg.policy = ROUND_ROBIN
            elif policy == WEIGHTED:
                if len(args) < 2:
                    raise c.err("missing weight file argument")
                if len(args) > 2:
                    raise c.err("unexpected argument(s)")
                reload = DEFAULT_RELOAD
                while c.next_block():
                    if c.val() != "reload":
                        raise c.unknown_property()
                    values = c.remaining_args()
                    if not values:
                        raise c.err("reload duration value is missing")
                    if len(values) > 1:
                        raise c.err("unexpected argument")
                    try:
                        reload = parse_duration(values[0])
                    except ValueError:
                        raise c.errf("invalid reload duration '%s'", values[0]) from None
                    if reload < 0:  # CoreDNS's ticker would panic on it at start
                        raise c.errf("invalid reload duration '%s'", values[0])
                # As CoreDNS: choosing the weighted policy starts the configuration afresh.
                cfg = Config(WEIGHTED, c.root_path(args[1]), reload)
            else:
                raise ConfigError(f"unknown policy: {policy}")
        else:
            cfg.policy = ROUND_ROBIN
        while c.next_block():
            if c.val() != "prefer":
                raise c.unknown_property()
            for cidr in c.remaining_args():
                try:
                    cfg.prefer.append(parse_cidr(cidr))
                except ValueError as e:
                    raise c.errf("invalid CIDR %s: %s", go_strconv_quote(cidr), e) from None
    return cfg


def setup(c: Controller) -> None:
    cfg = parse(c)
    weights: WeightFile | None = None
    if cfg.policy == WEIGHTED:
        weights = WeightFile(cfg.weight_file, cfg.reload)
        c.on_startup(weights.start)
        c.on_shutdown(weights.stop)
    c.add_plugin(lambda next: LoadBalance(next, weights, cfg.prefer))
