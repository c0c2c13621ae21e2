"""The /ready endpoint: 200 once every plugin that reports readiness says it is ready.

The state is process-wide (one per address, shared by the blocks that use ``ready``) and is
rebuilt by each new configuration: the first block of a configuration to start clears the list,
as CoreDNS's setup resets its global plugin list. With workers, /ready answers for the instance:
whichever worker takes the request asks the others (their plugins, and whether they have
started), and a worker that is down counts as ``worker N`` not ready.
"""

from __future__ import annotations

from typing import Any

from pycoredns.plugin import Key, Readiness, Runtime, http, plugin_log

TOPIC = "ready"  # what workers ask each other

log = plugin_log("ready")


class ReadyState:
    """Which objects are asked, which already answered, and whether startup has completed."""

    def __init__(self) -> None:
        self.plugins: list[tuple[str, Readiness]] = []
        self.seen_ready: set[int] = set()  # until-ready: not asked again once ready
        self.keep_readiness = False  # monitor continuously
        self.done = False
        self.owner = 0  # the configuration (generation) the list belongs to

    def renew(self, owner: int) -> None:
        if self.owner != owner:
            self.plugins, self.seen_ready, self.owner = [], set(), owner

    def add(self, name: str, obj: Readiness) -> None:
        if all(o is not obj for _, o in self.plugins):
            self.plugins.append((name, obj))

    def not_ready(self) -> list[str]:
        names = []
        for name, obj in self.plugins:
            if id(obj) in self.seen_ready and not self.keep_readiness:
                continue
            try:
                ok = bool(obj.ready())
            except Exception:  # a plugin that cannot tell is not ready
                ok = False
            if ok:
                self.seen_ready.add(id(obj))
            else:
                self.seen_ready.discard(id(obj))
                names.append(name)
        return sorted(set(names))

    def route(self, method: str, headers: dict[str, str]) -> http.Response:
        if not self.done:
            return http.Response(503, b"Shutting down")
        return _answer(self.not_ready())

    def report(self) -> list[Any]:
        """This worker's state for the others: [started, names not ready]."""
        return [self.done, self.not_ready() if self.done else []]

    async def route_workers(self, runtime: Runtime) -> http.Response:
        if not self.done:
            return http.Response(503, b"Shutting down")
        missing = set(self.not_ready())
        for index, got in (await runtime.ask_workers(TOPIC)).items():
            if not isinstance(got, list) or len(got) != 2 or not got[0]:
                missing.add(f"worker {index}")
            else:
                missing.update(str(n) for n in got[1])
        return _answer(sorted(missing))


def _answer(missing: list[str]) -> http.Response:
    if not missing:
        return http.Response(200, b"OK")
    text = ",".join(missing)
    log.info('Plugins not ready: "%s"', text)
    return http.Response(503, text.encode())


STATE: Key[ReadyState] = Key("ready")


def readiness_objects(handlers: list[Any], observers: list[Any]) -> list[tuple[str, Readiness]]:
    """The block's handlers and observers that report readiness, with their plugin names."""
    out = []
    for obj in [*handlers, *observers]:
        if isinstance(obj, Readiness):
            out.append((str(getattr(obj, "name", type(obj).__name__.lower())), obj))
    return out
