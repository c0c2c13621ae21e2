"""The /debug/pprof endpoints: index, cmdline, profile, heap, goroutine, block, symbol.

Routes and texts follow Go's net/http/pprof as CoreDNS serves it (5 s write timeout included, so a
CPU profile must be shorter than 5 s). Profiles are pprof protobuf, gzip-compressed, unless
``debug=N`` (N > 0) asks for text. Every profile is computed off the event loop: the CPU sampler
and the heap walk run in a worker thread, and the loop keeps answering queries meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import html
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pycoredns.plugin import Controller, http, plugin_log
from pycoredns.plugins.pprof import heap
from pycoredns.plugins.pprof.sampler import CPUSampler, InUse, LoopStalls

log = plugin_log("pprof")
PATH = "/debug/pprof"
WRITE_TIMEOUT = http.TIMEOUT  # CoreDNS's pprof server: WriteTimeout 5 s
OCTETS = "application/octet-stream"
T = TypeVar("T")
SAMPLER = CPUSampler()  # one CPU profile at a time in the process, as Go's runtime allows

_PROFILES = {  # name -> the index's description (Go's profileDescriptions, in Python terms)
    "block": "Where callbacks waited for the event loop, and behind which stack (needs the block option)",
    "cmdline": "The command line invocation of the current program",
    "goroutine": "Stack traces of all Python threads and asyncio tasks",
    "heap": "Objects tracked by the garbage collector, by type; allocation sites when tracemalloc traces. "
            "You can specify the gc GET parameter to run a collection before taking the heap sample.",
    "profile": "CPU profile. You can specify the duration in the seconds GET parameter. After you get the "
               "profile file, use the go tool pprof command to investigate the profile.",
    "symbol": "Every frame of these profiles is named: there are no addresses to look up.",
}


class PProf:
    """The endpoints of one pprof directive, on the process's HTTP listener for its address."""

    def __init__(self, c: Controller, addr: str, block_rate: int) -> None:
        self.addr = addr
        self.server = c.http_server(addr)
        self.stalls = LoopStalls(block_rate)
        self.loop: asyncio.AbstractEventLoop | None = None

    def routes(self) -> dict[str, http.Route]:
        q = http.WithQuery
        return {
            PATH: self.redirect,
            PATH + "/": q(self.index),
            PATH + "/cmdline": self.cmdline,
            PATH + "/profile": q(self.profile),
            PATH + "/symbol": self.symbol,
            PATH + "/heap": q(self.heap),
            PATH + "/goroutine": q(self.goroutine),
            PATH + "/block": q(self.block),
        }

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.acquire(self, self.routes())
        self.stalls.start()

    async def shutdown(self) -> None:
        self.stalls.stop()
        await self.server.release(self)

    # -- pages ---------------------------------------------------------------------------------
    def redirect(self, method: str, headers: dict[str, str]) -> http.Response:
        return http.Response(302, b'<a href="/debug/pprof/">Found</a>.\n\n', "text/html; charset=utf-8",
                             headers=(("Location", PATH + "/"),))

    def index(self, method: str, headers: dict[str, str], query: dict[str, str]) -> http.Response:
        rows = "".join(
            f"<tr><td>{'' if name in ('cmdline', 'profile', 'symbol') else '-'}</td>"
            f"<td><a href='{name}?debug=1'>{name}</a></td></tr>\n"
            for name in sorted(_PROFILES)
        )
        notes = "".join(f"<li><div class=profile-name>{name}: </div> {html.escape(text)}</li>\n"
                        for name, text in sorted(_PROFILES.items()))
        page = (
            "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/\n<br>\n"
            "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n<br>\n"
            f"Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n{rows}"
            "</table>\n<a href=\"goroutine?debug=2\">full goroutine stack dump</a>\n<br>\n<p>\n"
            f"Profile Descriptions:\n<ul>\n{notes}</ul>\n</p>\n</body>\n</html>\n"
        )
        return http.Response(200, page.encode(), "text/html; charset=utf-8")

    def cmdline(self, method: str, headers: dict[str, str]) -> http.Response:
        return http.Response(200, "\x00".join([sys.executable, *sys.argv]).encode())

    def symbol(self, method: str, headers: dict[str, str]) -> http.Response:
        return http.Response(200, b"num_symbols: 0\n")

    async def profile(self, method: str, headers: dict[str, str], query: dict[str, str]) -> http.Response:
        seconds = _seconds(query.get("seconds", ""), default=30)
        if seconds >= WRITE_TIMEOUT:
            return _error(400, "profile duration exceeds server's WriteTimeout")
        try:
            prof = await SAMPLER.profile(seconds)
        except InUse:
            return _error(500, "Could not enable CPU profiling: cpu profiling already in use")
        return _attachment(prof.gzipped(), "profile")

    async def heap(self, method: str, headers: dict[str, str], query: dict[str, str]) -> http.Response:
        seconds = _seconds(query.get("seconds", ""), default=0)
        if seconds >= WRITE_TIMEOUT:
            return _error(400, "profile duration exceeds server's WriteTimeout")
        if query.get("gc", "") not in ("", "0"):
            gc.collect()
        if seconds > 0 or heap.traced_by_process():
            snapshot = await self._off_loop(heap.trace_for, seconds)
            prof, rows = heap.traced_heap(snapshot)
            source = "live allocations traced by tracemalloc"
        else:
            prof, rows = await self._off_loop(heap.gc_heap)
            source = "objects tracked by the garbage collector, by type"
        if _debug(query):
            return http.Response(200, heap.heap_text(rows, source).encode())
        return _attachment(prof.gzipped(), "heap")

    def goroutine(self, method: str, headers: dict[str, str], query: dict[str, str]) -> http.Response:
        entries = heap.stacks(self.loop)
        if _debug(query):
            return http.Response(200, heap.goroutine_text(entries).encode())
        return _attachment(heap.goroutine_profile(entries).gzipped(), "goroutine")

    def block(self, method: str, headers: dict[str, str], query: dict[str, str]) -> http.Response:
        prof = self.stalls.profile()
        if _debug(query):
            lines = [f"--- contention:\ncycles/second=1000000000\nsampling period={self.stalls.rate}"]
            for stack, (count, delay), _labels in prof.samples:
                lines.append(f"{delay} {count} @")
                lines += [f"#\t{fr.name}\t{fr.filename}:{fr.line}" for fr in stack]
            return http.Response(200, ("\n".join(lines) + "\n").encode())
        return _attachment(prof.gzipped(), "block")

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _seconds(text: str, default: int) -> float:
    """Go's ``strconv.ParseInt(FormValue("seconds"))``; anything else (or <= 0) is the default."""
    try:
        n = int(text, 10)
    except ValueError:
        return default
    return n if n > 0 else default


def _debug(query: dict[str, str]) -> bool:
    try:
        return int(query.get("debug", "0") or "0") > 0
    except ValueError:
        return False


def _error(status: int, text: str) -> http.Response:
    return http.Response(status, (text + "\n").encode(), headers=(("X-Go-Pprof", "1"),))


def _attachment(body: bytes, name: str) -> http.Response:
    return http.Response(200, body, OCTETS, headers=(("Content-Disposition", f'attachment; filename="{name}"'),))
