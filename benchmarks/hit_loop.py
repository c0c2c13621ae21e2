"""The cost of a cache hit inside the process: the real dispatcher, a warmed cache, no sockets.

    .venv/bin/python benchmarks/hit_loop.py                      # ns per hit, each Corefile
    .venv/bin/python benchmarks/hit_loop.py --callgrind          # instructions per hit (valgrind)

Loads the node-cache-shaped Corefile (errors, cache, forward, prometheus) and the same with
``trace { every 1000 }`` (and ``every 1`` for scale) through the real loader, runs their startup
hooks, answers 100 names once through forward (a fake upstream on loopback), then calls
``Dispatcher.handle`` on those queries as a UDP socket does (with the datagram and its sender, the
listener's own arguments bound) in a tight loop with a send that drops the reply: the path from
the transport's ``datagram_received`` call to ``sendto`` minus the two system calls. With ``--callgrind`` each
Corefile runs once under valgrind with only the hit loop collected (it runs inside
``functools.reduce``, whose C function toggles the collection), and the instructions of an empty
loop of the same shape are taken off: the instructions of one hit, exact and repeatable on a busy
machine, where timings are not. ``--tree DIR`` measures another checkout's pycoredns (the base
line before a change).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import inspect
import itertools
import logging
import operator
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Last, not first: with --tree the checkout measured comes in PYTHONPATH, ahead of this one.
    sys.path.append(str(Path(__file__).resolve().parent.parent))

import dnslib

CONFIGS = {
    "node-cache set": "",
    "node-cache set + trace every 1000": " trace 127.0.0.1:9 {\n  every 1000\n }\n",
    "node-cache set + trace every 1": " trace 127.0.0.1:9 {\n  every 1\n }\n",
}
NAMES = [f"host{i}.bench.test" for i in range(100)]
EMPTY = "empty loop"  # the loop's own cost, taken off the others
WARM = 2500  # hits before the measured ones: two sampled by trace every 1000


def corefile(upstream: str, extra: str) -> str:
    return (f".:53 {{\n bind 127.0.0.1\n{extra} errors\n cache 300\n forward . {upstream}\n"
            f" prometheus 127.0.0.1:0\n}}\n")


def _as_datagram(d: Any, local: Any, send: Any) -> Any:
    """The dispatcher's handle as a UDP socket calls it, with (data, remote): the listener's own
    arguments bound (functools.partial, as listener.UDPProtocol does). A tree from before they came
    first is called as its listener called it, from a Python function."""
    if next(iter(inspect.signature(d.handle).parameters)) == "local":
        return functools.partial(d.handle, local, "udp", send)
    handle = d.handle

    def datagram_received(data: bytes, remote: Any) -> None:
        handle(data, remote, local, "udp", send)

    return datagram_received


def _each(call: Any, queries: list[bytes], remote: Any) -> None:
    """``call(query, remote)`` for every query, from C (map), as a transport calls its protocol."""
    collections.deque(map(call, queries, itertools.repeat(remote, len(queries))), maxlen=0)


def measure(extra: str | None, hits: int, rounds: int, reduce_loop: bool = False) -> list[float]:
    """CPU ns per hit (this thread's CPU time) for each round (the process is set up once).

    ``extra`` None is the empty loop; ``reduce_loop`` runs the hits once inside functools.reduce."""
    import uvloop

    from pycoredns.server.config import load
    from pycoredns.server.dispatch import Dispatcher
    from pycoredns.testing import FakeUpstream

    logging.getLogger("pycoredns").setLevel(logging.CRITICAL)  # the trace endpoint is not there
    queries = [bytes(dnslib.DNSRecord.question(n, "A").pack()) for n in NAMES]
    out: list[float] = []

    with FakeUpstream() as up:
        inst = load(corefile(up.address, extra or ""))
        key = next(iter(inst.listeners))

        async def main() -> None:
            for hook in inst.lifecycle.startup:
                await hook()
            d = Dispatcher(key, inst.listeners[key], inst.dropped)
            answered: list[bytes] = []
            remote, local = ("127.0.0.1", 40000), ("127.0.0.1", 53)
            for q in queries:  # misses: forward fills the cache
                _as_datagram(d, local, lambda r, _a: answered.append(r))(q, remote)
            for _ in range(500):
                if len(answered) == len(queries):
                    break
                await asyncio.sleep(0.01)
            assert len(answered) == len(queries), "the upstream did not answer"
            up.stop()  # hits need no upstream, and its polling threads would count under valgrind

            def drop(reply: bytes, addr: Any) -> None:
                pass

            handle = _as_datagram(d, local, drop)
            n = len(queries)
            each = [queries[i % n] for i in range(hits)]
            for i in range(WARM):  # first-use costs (a regex compiled, a table built) out of the count
                handle(queries[i % n], remote)
            if reduce_loop:
                # The cache re-patches an entry's TTLs when the second changes, and under valgrind
                # a second is a few hundred hits: its clock stands still so the count does not
                # depend on how fast the machine ran valgrind.
                for h in inst.configs[0].handlers:
                    if hasattr(h, "clock"):
                        h.clock = itertools.repeat(h.clock()).__next__
                # Likewise the duration clock: under valgrind a hit can take longer than the
                # first duration bound, and prometheus counts such a reply on its slower path,
                # for a share of hits that followed the machine's load.
                import pycoredns.plugins.prometheus.observer as observer
                import pycoredns.request as request

                request.perf_counter = observer.perf_counter = itertools.repeat(time.perf_counter()).__next__
                # The hits are the only code that runs inside functools.reduce: called from C (map),
                # as the transport calls datagram_received.
                call = operator.is_ if extra is None else handle  # the empty loop: a C call of two
                functools.reduce(lambda acc, _: _each(call, each, remote), range(1), None)
            for _ in range(rounds):
                start = time.thread_time_ns()
                _each(handle, each, remote)
                out.append((time.thread_time_ns() - start) / hits)
            for hook in inst.lifecycle.shutdown:
                await hook()

        uvloop.run(main())
    return out


def callgrind_instructions(name: str, hits: int) -> int:
    """Instructions valgrind counts inside the hit loop (``functools.reduce``) of one run."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--collect-atstart=no",
           "--toggle-collect=functools_reduce", sys.executable, __file__,
           "--one", name, "--hits", str(hits), "--rounds", "0"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=True)
    m = re.search(r"Collected : (\d+)", done.stderr)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hits", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--callgrind", action="store_true", help="count instructions with valgrind instead")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # run one configuration (used under valgrind)
    ap.add_argument("--tree", help="measure the pycoredns of this source tree (its plugins/ and pycoredns/)")
    args = ap.parse_args(argv)
    if args.one is not None:
        measure(None if args.one == EMPTY else CONFIGS[args.one], args.hits, args.rounds, reduce_loop=True)
        return 0
    if args.tree:
        os.environ["PYTHONPATH"] = os.path.abspath(args.tree)
    if args.callgrind:
        if shutil.which("valgrind") is None:
            print("valgrind not found (apt-get install valgrind)", file=sys.stderr)
            return 2
        hits = min(args.hits, 20_000)
        empty = callgrind_instructions(EMPTY, hits)
        print(f"instructions per hit ({hits} hits; the loop's own {empty / hits:.0f} taken off)")
        base = None
        names = list(CONFIGS)[:1] if args.tree else list(CONFIGS)[:2]  # every 1 is for scale in timings
        for name in names:
            per_hit = (callgrind_instructions(name, hits) - empty) / hits
            base = per_hit if base is None else base
            print(f"{per_hit:10.1f}  {per_hit / base:6.3f}x  {name}")
        return 0
    print(f"ns per hit, {args.rounds} rounds of {args.hits} (best, then every round)")
    base = None
    for name, extra in CONFIGS.items():
        rounds = measure(extra, args.hits, args.rounds)
        best = min(rounds)
        base = best if base is None else base
        print(f"{best:8.1f}  {best / base:6.3f}x  {name}   [{' '.join(f'{r:.0f}' for r in rounds)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
