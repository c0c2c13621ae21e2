"""Parse ``loop`` (no arguments) and start the self-probe once the block's listeners are open."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.loop.handler import Loop
from pycoredns.plugins.loop.probe import probe_address, run_probe


def setup(c: Controller) -> None:
    c.next()  # 'loop'
    if c.next_arg():
        raise c.arg_err()
    # The zone is the block's first key (CoreDNS normalises only that one).
    zone = c.config.addresses[0].zone if c.config.addresses else "."
    app = c.process.get("app")
    loop = Loop(zone, app)
    c.add_plugin(loop.with_next)
    config = c.config

    async def start_probe() -> None:
        # Read at start: bind (set up earlier in the chain order) has filled listen_hosts by now.
        host = config.listen_hosts[0] if config.listen_hosts else ""
        port = int(config.addresses[0].port) if config.addresses else 53
        loop.start_probe(run_probe(loop, probe_address(host, port)))

    c.on_listen(start_probe)
    c.on_shutdown(loop.stop_probe)
