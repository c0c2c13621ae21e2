"""Parse ``reload [INTERVAL] [JITTER]`` and hook the process-wide watcher to the new instance."""

from __future__ import annotations

import random

from pycoredns.plugin import ConfigError, Controller
from pycoredns.plugins.reload import metrics
from pycoredns.plugins.reload.watcher import STATE, ReloadState

DEFAULT_INTERVAL = 30.0
DEFAULT_JITTER = 15.0
MIN_INTERVAL = 2.0
MIN_JITTER = 1.0


def parse(c: Controller) -> tuple[float, float]:
    """(interval, jitter) in seconds, validated as CoreDNS does. Only the first occurrence counts."""
    c.next()  # 'reload'
    # CoreDNS returns time.ParseDuration's error as is, without file and line.
    args = c.remaining_args(at_most=2)
    interval = DEFAULT_INTERVAL
    if args:
        interval = c.duration(args[0], plain=True)
    if interval < MIN_INTERVAL:
        raise ConfigError("interval value must be greater or equal to 2s")
    jitter = DEFAULT_JITTER
    if len(args) > 1:
        jitter = c.duration(args[1], plain=True)
    if jitter != 0 and jitter < MIN_JITTER:
        raise ConfigError("jitter value must be 0 or greater or equal to 1s")
    if jitter > interval / 2:
        jitter = interval / 2
    return interval, jitter


def effective_interval(interval: float, jitter: float) -> float:
    """The check period: INTERVAL plus an offset drawn once, uniformly in [-JITTER/2, +JITTER/2)."""
    if jitter <= 0:
        return interval
    return interval + random.uniform(0, jitter) - jitter / 2


def setup(c: Controller) -> None:
    interval, jitter = parse(c)
    metrics.register(c)
    if not c.runtime.worker.primary:
        return  # with workers the primary one watches, and a change it loads reloads them all
    # Process-wide, as in CoreDNS: with several blocks the last one set up sets the period.
    c.process_state(STATE, ReloadState).prepare(c, effective_interval(interval, jitter))
