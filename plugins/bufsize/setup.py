"""Parse ``bufsize [SIZE]``: SIZE from 512 to 4096 (RFC 6891's range), 1232 by default.

As CoreDNS, only the first ``bufsize`` of a block counts, and every error is the argument error.
"""

from __future__ import annotations

from pycoredns.plugin import Controller, parse_atoi
from pycoredns.plugins.bufsize.handler import Bufsize

DEFAULT_SIZE = 1232  # DNS Flag Day 2020's recommendation
MIN_SIZE = 512
MAX_SIZE = 4096


def parse(c: Controller) -> int:
    while c.next():
        args = c.remaining_args(at_most=1)
        if not args:
            return DEFAULT_SIZE
        try:
            size = parse_atoi(args[0])
        except ValueError:
            raise c.arg_err() from None
        if size < MIN_SIZE or size > MAX_SIZE:
            raise c.arg_err()
        return size
    raise c.arg_err()


def setup(c: Controller) -> None:
    size = parse(c)
    c.add_plugin(lambda next: Bufsize(next, size))
