"""Parse ``ready [ADDRESS] [{ monitor until-ready|continuously }]`` and run /ready."""

from __future__ import annotations

from pycoredns.plugin import Controller, http
from pycoredns.plugins.ready.ready import STATE, TOPIC, ReadyState, readiness_objects

DEFAULT_ADDR = ":8181"
MONITOR_TYPES = ("until-ready", "continuously")


def parse(c: Controller) -> tuple[str, str]:
    addr, monitor = DEFAULT_ADDR, "until-ready"
    c.next()
    addr = http.address_arg(c, addr)
    while c.next_block():
        if c.val() != "monitor":
            raise c.unknown_property()
        monitor = c.only_arg()
        if monitor not in MONITOR_TYPES:
            raise c.errf("monitor type '%s' not supported", monitor)
    return addr, monitor


def setup(c: Controller) -> None:
    addr, monitor = parse(c)
    state = c.process_state(STATE, ReadyState)
    server = c.http_server(addr)
    generation = c.generation
    user = object()  # this block's hold on the shared listener
    runtime = c.runtime
    route: http.Route = state.route
    if runtime.worker.count > 1:
        c.answer_workers(TOPIC, state.report)

        async def route(method: str, headers: dict[str, str]) -> http.Response:
            return await state.route_workers(runtime)

    async def startup() -> None:
        state.renew(generation)
        state.keep_readiness = monitor == "continuously"
        for name, obj in readiness_objects(c.handlers, c.observers):
            state.add(name, obj)
        await server.acquire(user, {"/ready": route})

    async def listening() -> None:
        state.done = True  # every listener is open: startup has completed

    async def shutdown() -> None:
        state.done = False
        await server.release(user)

    c.on_startup(startup)
    c.on_listen(listening)
    c.on_shutdown(shutdown)
