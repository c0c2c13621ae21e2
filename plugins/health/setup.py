"""Parse ``health [ADDRESS] [{ lameduck DURATION }]`` and run the endpoint with the process."""

from __future__ import annotations

from pycoredns.plugin import Controller, http
from pycoredns.plugins.health.health import Health

DEFAULT_ADDR = ":8080"
_BAD_LAMEDUCK = 'unable to parse lameduck duration value: "{value}": {error}'


def parse(c: Controller) -> tuple[str, float]:
    addr, lameduck = DEFAULT_ADDR, 0.0
    while c.next():
        addr = http.address_arg(c, addr)
        while c.next_block():
            option = c.val()
            if option != "lameduck":
                raise c.errf("unknown property '%s'", option)
            (value,) = c.remaining_args(at_least=1, at_most=1)
            lameduck = c.duration(value, plain=True, message=_BAD_LAMEDUCK)
    return addr, lameduck


def setup(c: Controller) -> None:
    addr, lameduck = parse(c)
    health = Health(c, addr, lameduck)
    c.on_startup(health.start)
    c.on_shutdown(health.shutdown)
