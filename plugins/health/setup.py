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
            if c.val() != "lameduck":
                raise c.unknown_property()
            lameduck = c.duration(c.only_arg(), plain=True, message=_BAD_LAMEDUCK)
    return addr, lameduck


def setup(c: Controller) -> None:
    addr, lameduck = parse(c)
    health = Health(c, addr, lameduck)
    c.on_startup(health.start)
    c.on_shutdown(health.shutdown)
