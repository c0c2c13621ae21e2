"""Parse ``hosts [FILE [ZONES...]] { INLINE; ttl; no_reverse; reload; fallthrough; ... }``.

The file is read at startup and then polled every ``reload`` (size and mtime, as CoreDNS) by an
asyncio task that the block's shutdown cancels; a changed file is parsed in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat

from pycoredns.plugin import Controller, Fall, plugin_log
from pycoredns.plugins.hosts import metrics
from pycoredns.plugins.hosts.handler import Hosts
from pycoredns.plugins.hosts.hostsfile import Hostsfile, parse

log = plugin_log("hosts")

DEFAULT_PATH = "/etc/hosts"
DEFAULT_TTL = 3600
DEFAULT_RELOAD = 5.0


def setup(c: Controller) -> None:
    path = DEFAULT_PATH
    zones: list[str] = []
    ttl = DEFAULT_TTL
    reload = DEFAULT_RELOAD
    auto_reverse = True
    fall = Fall()
    fallthrough_unsupported = False
    inline: list[str] = []

    c.next()  # the directive; "once per block" is enforced by the engine
    args = c.remaining_args()
    if args:
        path = c.root_path(args[0])
        args = args[1:]
        _check_file(c, path)
    zones = c.zones_or_block(args)

    while c.next_block():
        option = c.val()
        if option == "fallthrough":
            fall = Fall.from_args(c.remaining_args())
        elif option == "fallthrough_unsupported":
            c.remaining_args(at_most=0)
            fallthrough_unsupported = True
        elif option == "no_reverse":
            auto_reverse = False
        elif option == "ttl":
            ttl = _ttl(c, c.remaining_args())
        elif option == "reload":
            reload = _reload(c, c.remaining_args())
        elif not fall:
            # Before "fallthrough", any other line is a hosts entry written inline.
            inline.append(" ".join([option, *c.remaining_args()]))
        else:
            raise c.unknown_property()
    if fallthrough_unsupported and not fall:
        raise c.err("fallthrough_unsupported requires fallthrough")

    hostsfile = Hostsfile(path, zones, auto_reverse, parse("\n".join(inline), zones, auto_reverse))
    metrics.register(c)
    state: dict[str, asyncio.Task[None]] = {}

    async def start() -> None:
        await _read(hostsfile)
        if reload > 0:
            state["task"] = asyncio.get_running_loop().create_task(_reload_loop(hostsfile, reload))

    async def stop() -> None:
        task = state.pop("task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    c.on_startup(start)
    c.on_shutdown(stop)
    c.add_plugin(lambda next: Hosts(next, hostsfile, zones, ttl, fall, fallthrough_unsupported))


def _check_file(c: Controller, path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        log.warning("File does not exist: %s", path)
        return
    except (OSError, ValueError) as e:
        reason = os.strerror(e.errno).lower() if isinstance(e, OSError) and e.errno else "invalid argument"
        raise c.errf("unable to access hosts file '%s': stat %s: %s", path, path, reason) from None
    if stat.S_ISDIR(st.st_mode):
        log.warning('Hosts file "%s" is a directory', path)


def _ttl(c: Controller, args: list[str]) -> int:
    if not args:
        raise c.err("ttl needs a time in second")
    ttl = c.integer(args[0], message="ttl needs a number of second")
    if ttl <= 0 or ttl > 65535:
        raise c.err("ttl provided is invalid")
    return ttl


def _reload(c: Controller, args: list[str]) -> float:
    if len(args) != 1:
        raise c.err("reload needs a duration (zero seconds to disable)")
    seconds = c.duration(args[0], message="invalid duration for reload '{value}'")
    if seconds < 0:
        raise c.errf("invalid negative duration for reload '%s'", args[0])
    return seconds


async def _read(hostsfile: Hostsfile) -> None:
    """Re-read the file if it changed; the parse runs in a thread so big block lists do not
    stall queries."""
    st = hostsfile.changed()
    if st is None:
        return
    text = await asyncio.to_thread(hostsfile.read_text)
    if text is None:
        return
    hmap = await asyncio.to_thread(parse, text, hostsfile.origins, hostsfile.auto_reverse)
    hostsfile.install(st, hmap)


async def _reload_loop(hostsfile: Hostsfile, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await _read(hostsfile)
        except Exception as e:  # a bad read must not end the polling for good
            log.error("reading %s: %s", hostsfile.path, e)
