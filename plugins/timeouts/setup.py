"""Parse ``timeouts { read D; write D; idle D; maxtcpqueries N; max_connections N }``.

CoreDNS's limits and errors; ``max_connections`` is an extension (the option of CoreDNS's https
and grpc_server servers, for DNS over TCP, whose CoreDNS server has no cap).

timeouts adds no handler: it sets the block's connection limits, which the TCP listeners apply
(see :meth:`Controller.set_timeouts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pycoredns.plugin import Controller, go_duration, parse_atoi, parse_duration

MIN_TIMEOUT = 1.0  # one second
MAX_TIMEOUT = 24 * 3600.0  # 24 hours
TIMEOUTS = ("read", "write", "idle")


def duration_from_arg(c: Controller, text: str) -> float:
    """A duration as CoreDNS's ``durations.NewDurationFromArg`` reads it: a bare integer is seconds."""
    try:
        parse_atoi(text)
        text += "s"
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise c.errf("failed to parse duration '%s'", text) from None


@dataclass
class Timeouts:
    """What the block's ``timeouts`` set (None: not set, the server's default applies)."""

    read: float | None = None
    write: float | None = None
    idle: float | None = None
    maxtcpqueries: int | None = None
    max_connections: int | None = None


def parse(c: Controller) -> Timeouts:
    found = Timeouts()
    while c.next():
        c.remaining_args(at_most=0)
        count = 0
        while c.next_block():
            option = c.val()
            value = c.only_arg()
            if option == "maxtcpqueries":
                n = c.integer(value, message="invalid value for maxtcpqueries '{value}': {error}")
                if n == 0 or n < -1:
                    raise c.errf("maxtcpqueries provided '%d' needs to be -1 (unlimited) or a positive integer", n)
                found.maxtcpqueries = n
                count += 1
                continue
            if option == "max_connections":  # the extension, worded as CoreDNS's https plugin
                n = c.integer(value, message="invalid max_connections value '{value}': {error}")
                if n < 0:
                    raise c.errf("max_connections must be a non-negative integer: %d", n)
                found.max_connections = n
                count += 1
                continue
            timeout = duration_from_arg(c, value)
            if timeout < MIN_TIMEOUT or timeout > MAX_TIMEOUT:
                raise c.errf("timeout provided '%s' needs to be between 1 second and 24 hours", go_duration(timeout))
            if option not in TIMEOUTS:
                raise c.errf("unknown option: '%s'", option)
            setattr(found, option, timeout)
            count += 1
        if count == 0:
            raise c.err("timeouts block with no timeouts specified")
    return found


def setup(c: Controller) -> None:
    t = parse(c)
    c.set_timeouts(read=t.read, write=t.write, idle=t.idle, max_tcp_queries=t.maxtcpqueries,
                   max_connections=t.max_connections)
