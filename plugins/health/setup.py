"""Parse ``health [ADDRESS] [{ lameduck DURATION }]`` and run the endpoint with the process."""

from __future__ import annotations

from pycoredns.plugin import ConfigError, Controller, http, parse_duration
from pycoredns.plugins.health.health import Health

DEFAULT_ADDR = ":8080"


def parse(c: Controller) -> tuple[str, float]:
    addr, lameduck = DEFAULT_ADDR, 0.0
    while c.next():
        addr = http.address_arg(c, addr)
        while c.next_block():
            option = c.val()
            if option != "lameduck":
                raise c.errf("unknown property '%s'", option)
            values = c.remaining_args()
            if len(values) != 1:
                raise c.arg_err()
            try:
                lameduck = parse_duration(values[0])
            except ValueError as e:
                raise ConfigError(f'unable to parse lameduck duration value: "{values[0]}": {e}') from None
    return addr, lameduck


def setup(c: Controller) -> None:
    addr, lameduck = parse(c)
    health = Health(c, addr, lameduck)
    c.on_startup(health.start)
    c.on_shutdown(health.shutdown)
