"""Parse ``pprof [ADDRESS] [{ block [RATE] }]`` (CoreDNS's plugin/pprof/setup.go, its errors)."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.pprof.pprof import PProf

DEFAULT_ADDR = "localhost:6053"
_BAD_RATE = "property 'block' invalid integer value '{value}'"


def parse(c: Controller) -> tuple[str, int]:
    addr, rate = DEFAULT_ADDR, 0
    while c.next():
        args = c.remaining_args(at_most=1)
        if args:
            c.host_port(args[0])
            addr = args[0]
        while c.next_block():
            if c.val() != "block":
                raise c.unknown_property()
            words = c.remaining_args(at_most=1)
            rate = c.integer(words[0], message=_BAD_RATE) if words else 1
    return addr, rate


def setup(c: Controller) -> None:
    addr, rate = parse(c)
    pprof = PProf(c, addr, rate)
    c.on_startup(pprof.start)
    c.on_shutdown(pprof.shutdown)
