"""The ``pycoredns`` command: CoreDNS's flags (Go-style single dash) plus ``-validate``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from pycoredns import COREDNS_VERSION, __version__
from pycoredns import log as clog
from pycoredns.errors import PyCoreDNSError
from pycoredns.goflags import FlagSet
from pycoredns.server import collector
from pycoredns.workers import AUTO, parse_workers

if TYPE_CHECKING:  # the plugins and the engine: a supervisor of workers does without them
    from pycoredns.registry import Registry

# -instancedir's default, so a manifest can set it without an argument an older image would refuse.
INSTANCE_DIR_ENV = "PYCOREDNS_INSTANCEDIR"


def _port(text: str) -> str:
    if not text.isdigit():
        raise ValueError("parse error")
    return text


def coredns_flags(fs: FlagSet) -> None:
    """The flags CoreDNS defines; node-cache shares them in one flag set."""
    fs.string("conf", "", "Corefile to load (default \"Corefile\")")
    fs.value("dns.port", "53", "Default port", _port)
    fs.alias("p", "dns.port")
    fs.string("pidfile", "", "Path to write pid file")
    fs.bool("quiet", False, "Quiet mode (no initialization output)")
    fs.bool("plugins", False, "List installed plugins")
    fs.bool("version", False, "Show version")
    fs.bool("validate", False, "Load the Corefile and set up every plugin, then exit (no sockets)")


def instance_flags(fs: FlagSet) -> None:
    """pycoredns's own flags, in both commands: how many processes serve, and where the instances
    on a node meet."""
    fs.value(
        "workers", 1,
        "worker processes on the same listeners, one logical cache (a number, or auto: the CPU quota, "
        "capped by the memory limit)",
        parse_workers,
    )
    fs.string(
        "instancedir", os.environ.get(INSTANCE_DIR_ENV, ""),
        "folder shared by the instances on this node (a hostPath): they serve side by side during an "
        f"upgrade, and the last one out removes the interface and rules (default: ${INSTANCE_DIR_ENV})",
    )


def workers_for(value: int) -> int:
    """The number of workers for a ``-workers`` value (``auto`` chosen now, and logged)."""
    if value != AUTO:
        return value
    import logging

    from pycoredns.server.sizing import auto_workers

    choice = auto_workers()
    logging.getLogger("pycoredns").info("[INFO] -workers auto: %d (%s)", choice.workers, choice.reason)
    return choice.workers


def version_text() -> str:
    return f"CoreDNS-{COREDNS_VERSION}\npycoredns-{__version__}"


def plugins_text(registry: Registry) -> str:
    """CoreDNS's ``-plugins`` listing; a third-party plugin is followed by its distribution."""
    dists = {e.name: e.dist for e in registry.entries() if e.external is not None and e.dist}
    lines = ["Server types:", "  dns", "", "Caddyfile loaders:", "  flag", "  default", "", "Other plugins:"]
    for name in sorted(registry.names()):
        lines.append(f"  dns.{name} ({dists[name]})" if name in dists else f"  dns.{name}")
    return "\n".join(lines)


def list_plugins(registry: Registry) -> int:
    """Print the listing; report the third-party plugins that could not be loaded (status 1)."""
    clog.out(plugins_text(registry))
    for broken in registry.broken:
        print(broken, file=sys.stderr)
    return 1 if registry.broken else 0


def validate(conf: str, dns_port: str, registry: Registry) -> int:
    """Parse and set up without opening sockets. 0 when fine, 1 with CoreDNS's message otherwise."""
    from pycoredns.server.app import App

    app = App(conf, dns_port=dns_port, registry=registry)
    try:
        app.load()
    except PyCoreDNSError as e:
        print(e, file=sys.stderr)
        return 1
    clog.out("Corefile OK")
    return 0


def run_server(
    conf: str, dns_port: str, quiet: bool, pidfile: str, registry: Registry | None, workers: int = 1,
    instancedir: str = "",
) -> int:
    from pycoredns.server.instances import Membership, NodeRegistry
    from pycoredns.server.sizing import raise_open_files_limit
    from pycoredns.workers import new_instance_id

    raise_open_files_limit()  # the workers inherit it
    instance_id = new_instance_id()
    if workers > 1:
        import asyncio

        from pycoredns.server.supervisor import Supervisor

        async def supervise() -> int:
            sup = Supervisor(conf, workers=workers, dns_port=dns_port, quiet=quiet, pidfile=pidfile,
                             instance_id=instance_id)
            member = Membership(NodeRegistry(instancedir, instance_id, workers), sup) if instancedir else None
            if member is not None:
                await member.join()
            try:
                return await sup.run(on_serving=member.serving if member is not None else None)
            finally:
                if member is not None:
                    member.close()

        # The supervisor carries no queries: the standard event loop does, and costs less memory.
        return asyncio.run(supervise())

    import uvloop

    from pycoredns.server.app import App

    async def main() -> int:
        app = App(conf, dns_port=dns_port, quiet=quiet, pidfile=pidfile, registry=registry)
        member = Membership(NodeRegistry(instancedir, instance_id), app) if instancedir else None
        try:
            if member is not None:
                await member.join()
            return await app.run(on_serving=member.serving if member is not None else None)
        except PyCoreDNSError as e:
            print(e, file=sys.stderr)
            await app.shutdown()
            return 1
        finally:
            if member is not None:
                member.close()

    collector.serve_mode()
    return uvloop.run(main())


def main(argv: list[str] | None = None) -> int:
    fs = FlagSet("pycoredns")
    coredns_flags(fs)
    instance_flags(fs)
    fs.parse_or_exit(sys.argv[1:] if argv is None else argv)
    if fs.args:
        print(f"extra command line arguments: {fs.args}", file=sys.stderr)
        return 1
    clog.setup()
    if fs["version"]:
        clog.out(version_text())
        return 0
    if fs["plugins"] or fs["validate"]:
        from pycoredns.registry import Registry

        if fs["plugins"]:
            return list_plugins(Registry.default())
        return validate(fs["conf"], fs["dns.port"], Registry.default())
    workers = workers_for(fs["workers"])
    if workers > 1:  # a supervisor: the workers load the plugins
        return run_server(fs["conf"], fs["dns.port"], fs["quiet"], fs["pidfile"], None, workers, fs["instancedir"])
    from pycoredns.registry import Registry

    return run_server(fs["conf"], fs["dns.port"], fs["quiet"], fs["pidfile"], Registry.default(), workers,
                      fs["instancedir"])


if __name__ == "__main__":
    sys.exit(main())
