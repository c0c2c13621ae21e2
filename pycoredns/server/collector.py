"""The garbage collector's settings for a serving process.

CPython's cyclic collector stops the event loop while it runs, for a time that grows with the
number of container objects alive. A DNS server holds many: the modules and plugins it loaded,
and, while an upstream is down, every query in flight with its socket (12,000 queries and 17,000
sockets at 3,000 misses a second, about 300,000 objects). With the default thresholds a full
collection then ran every two or three seconds and stopped the loop for 100-300 ms each time,
so cached answers waited that long.

Two settings, applied by the command-line entry points only (a test process that starts many
servers keeps the interpreter's defaults):

* What the process loaded before serving is frozen once it serves (``gc.freeze``): it lives as
  long as the process, and no collection walks it again.
* The youngest generation is collected after :data:`YOUNG` new container objects rather than
  700. Objects that live for one query are freed by their reference counts before any
  collection sees them; the collector then runs mostly when the number of objects alive grows,
  rather than hundreds of times a second, and promotes fewer of them to the older generations,
  whose collection is the long stop. Garbage in reference cycles is still collected, a little
  later.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # new container objects between two collections of the youngest generation

_serving = False


def serve_mode() -> None:
    """Called by the program's entry points (``pycoredns``, ``node-cache``, a worker)."""
    global _serving
    _serving = True
    gc.set_threshold(YOUNG, 10, 10)


def settle() -> None:
    """Once the server serves: collect what loading left behind, freeze what remains."""
    if not _serving:
        return
    gc.collect()
    gc.freeze()
