"""Parse ``health [ADDRESS] [{ lameduck DURATION; liveness [DURATION] }]`` and run the endpoint."""

from __future__ import annotations

from pycoredns.plugin import Controller, http
from pycoredns.plugins.health.health import Health

DEFAULT_ADDR = ":8080"
DEFAULT_MAX_STALL = 5.0  # liveness: how long DNS may go unanswered before /health fails
_BAD_LAMEDUCK = 'unable to parse lameduck duration value: "{value}": {error}'


def parse(c: Controller) -> tuple[str, float, float]:
    """(address, lameduck, liveness): a liveness of 0 means the option is off (CoreDNS's /health)."""
    addr, lameduck, liveness = DEFAULT_ADDR, 0.0, 0.0
    while c.next():
        addr = http.address_arg(c, addr)
        while c.next_block():
            option = c.val()
            if option == "lameduck":
                lameduck = c.duration(c.only_arg(), plain=True, message=_BAD_LAMEDUCK)
            elif option == "liveness":  # an extension: CoreDNS's health has no such option
                args = c.remaining_args(at_most=1)
                liveness = c.duration(args[0]) if args else DEFAULT_MAX_STALL
                if liveness <= 0:
                    raise c.err(f"liveness duration must be positive: {args[0]}")
            else:
                raise c.unknown_property()
    return addr, lameduck, liveness


def setup(c: Controller) -> None:
    addr, lameduck, liveness = parse(c)
    health = Health(c, addr, lameduck, liveness)
    c.on_startup(health.start)
    c.on_shutdown(health.shutdown)
