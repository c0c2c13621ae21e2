"""Parse ``loop`` (no arguments) and start the self-probe once the block's listeners are open."""

from __future__ import annotations

from pycoredns.plugin import Controller
from pycoredns.plugins.loop.handler import Loop
from pycoredns.plugins.loop.probe import count_only, probe_address, run_probe


def setup(c: Controller) -> None:
    c.next()  # 'loop'
    c.no_args()
    # The zone is the block's first key (CoreDNS normalises only that one).
    addresses = c.addresses
    zone = addresses[0].zone if addresses else "."
    worker = c.runtime.worker
    loop = Loop(zone, c.runtime, instance=worker.instance_id if worker.count > 1 else "")
    c.add_plugin(loop.with_next)

    async def start_probe() -> None:
        # Read at start: every plugin's setup (bind's listen addresses included) is done by now.
        hosts = c.listen_hosts
        host = hosts[0] if hosts else ""
        port = int(addresses[0].port) if addresses else 53
        loop.address = probe_address(host, port)
        if worker.primary:
            loop.start_probe(run_probe(loop, loop.address))
        else:  # one probe per instance: the primary worker sends it, every worker counts it
            loop.start_probe(count_only(loop))

    c.on_listen(start_probe)
    c.on_shutdown(loop.stop_probe)
