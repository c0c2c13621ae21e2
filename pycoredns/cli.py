"""The ``pycoredns`` command: CoreDNS's flags (Go-style single dash) plus ``-validate``."""

from __future__ import annotations

import sys

from pycoredns import COREDNS_VERSION, __version__
from pycoredns import log as clog
from pycoredns.errors import PyCoreDNSError
from pycoredns.goflags import FlagSet
from pycoredns.registry import Registry


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


def version_text() -> str:
    return f"CoreDNS-{COREDNS_VERSION}\npycoredns-{__version__}"


def plugins_text(registry: Registry) -> str:
    lines = ["Server types:", "  dns", "", "Caddyfile loaders:", "  flag", "  default", "", "Other plugins:"]
    lines += [f"  dns.{name}" for name in sorted(registry.names())]
    return "\n".join(lines)


def validate(conf: str, dns_port: str, registry: Registry) -> int:
    """Parse and set up without opening sockets. 0 when fine, 1 with CoreDNS's message otherwise."""
    from pycoredns.server.app import App

    app = App(conf, dns_port=dns_port, registry=registry)
    try:
        app.load()
    except PyCoreDNSError as e:
        print(e, file=sys.stderr)
        return 1
    print("Corefile OK")
    return 0


def run_server(conf: str, dns_port: str, quiet: bool, pidfile: str, registry: Registry) -> int:
    import uvloop

    from pycoredns.server.app import App

    async def main() -> int:
        app = App(conf, dns_port=dns_port, quiet=quiet, pidfile=pidfile, registry=registry)
        try:
            return await app.run()
        except PyCoreDNSError as e:
            print(e, file=sys.stderr)
            await app.shutdown()
            return 1

    return uvloop.run(main())


def main(argv: list[str] | None = None) -> int:
    fs = FlagSet("pycoredns")
    coredns_flags(fs)
    fs.parse_or_exit(sys.argv[1:] if argv is None else argv)
    if fs.args:
        print(f"extra command line arguments: {fs.args}", file=sys.stderr)
        return 1
    clog.setup()
    registry = Registry.default()
    if fs["version"]:
        print(version_text())
        return 0
    if fs["plugins"]:
        print(plugins_text(registry))
        return 0
    if fs["validate"]:
        return validate(fs["conf"], fs["dns.port"], registry)
    return run_server(fs["conf"], fs["dns.port"], fs["quiet"], fs["pidfile"], registry)


if __name__ == "__main__":
    sys.exit(main())
