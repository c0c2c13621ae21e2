"""The ``node-cache`` program: NodeLocal DNSCache's entrypoint, CoreDNS and its nanny in one process.

Order (node-cache's): flags, upstream Service IP from the environment, node-cache's own /metrics
listener, the Corefile written from the template (once with an empty kube-dns config, then with
the ConfigMap's), the interface (no rules yet, so a server that fails to start never attracts
traffic), the DNS server, the rules as soon as it listens (with ``-pidfile``; otherwise at the
first sync tick), then the periodic sync and the ConfigMap pollers. On SIGTERM, SIGINT or SIGQUIT
the rules and the interface are removed first (unless ``-skipteardown``), whatever a reload is
doing, and only then are the listeners closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pycoredns import __version__
from pycoredns import log as clog
from pycoredns.cli import list_plugins, version_text, workers_for
from pycoredns.errors import PyCoreDNSError
from pycoredns.nodecache import metrics_server
from pycoredns.nodecache.flags import FlagValidationError, NodeCacheParams, build_flagset, validate
from pycoredns.nodecache.template import TemplateValues, upstream_service_ip
from pycoredns.nodecache.watch import ConfigSync, CorefileWriter
from pycoredns.server import collector
from pycoredns.server.instances import Membership, NodeRegistry
from pycoredns.server.sizing import raise_open_files_limit
from pycoredns.server.supervisor import Supervisor
from pycoredns.workers import new_instance_id

if TYPE_CHECKING:
    from pycoredns.server.app import App

log = logging.getLogger("pycoredns.nodecache")


class _GoLogFormat(logging.Formatter):
    """Before the DNS server runs, node-cache's lines carry Go's log timestamp (stderr)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.getMessage()}"


@contextlib.contextmanager
def _early_log() -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_GoLogFormat())
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = True


def main(argv: list[str] | None = None) -> int:
    clog.setup()
    args = sys.argv[1:] if argv is None else argv
    fs = build_flagset(os.environ.get("PYCOREDNS_PROGRAM_NAME", "/node-cache"))
    with _early_log():
        log.info("[INFO] Starting node-cache image: %s", __version__)
        fs.parse_or_exit(args)
        if fs["version"]:
            clog.out(version_text())
            return 0
        if fs["plugins"]:
            from pycoredns.registry import Registry

            return list_plugins(Registry.default())
        try:
            params = validate(fs)
        except FlagValidationError as e:
            log.critical("[FATAL] Error parsing flags - %s, Exiting", e)
            return 1
        log.info("[INFO] Using Corefile %s", params.corefile)
        log.info("[INFO] Using Pidfile %s", params.pidfile)
        if params.extra_args:
            # CoreDNS's check, made before any network change rather than after.
            log.critical("[FATAL] extra command line arguments: [%s]", " ".join(params.extra_args))
            return 1
        if fs["validate"]:
            return _validate_only(params)
    params.workers = workers_for(params.workers)  # -workers auto: chosen (and logged) once
    raise_open_files_limit()  # as Go's runtime does for node-cache (the workers inherit it)
    if params.workers > 1:
        # The supervisor carries no queries: the standard event loop does, and costs less memory.
        return asyncio.run(NodeCache(params).run())
    import uvloop

    collector.serve_mode()
    return uvloop.run(NodeCache(params).run())


def _writer(params: NodeCacheParams, reload_signal: bool) -> CorefileWriter:
    values = TemplateValues(
        local_ips=params.local_ips,
        local_port=params.local_port,
        cluster_dns=upstream_service_ip(params.upstream_svc),
        prometheus_endpoint=params.prometheus_listen_address,
    )

    def signal_reload() -> None:
        pid = os.getpid()
        log.info("[INFO] Sending reload signal to PID %d", pid)
        try:
            os.kill(pid, signal.SIGUSR1)
        except OSError as e:
            log.error("[ERROR] Failed to trigger CoreDNS reload: %s", e)

    return CorefileWriter(params.base_corefile, params.corefile, values, signal_reload if reload_signal else None)


def _validate_only(params: NodeCacheParams) -> int:
    from pycoredns.cli import validate as validate_corefile

    ConfigSync(_writer(params, False), params.kubedns_cm_path).start()
    from pycoredns.registry import Registry

    return validate_corefile(params.corefile, params.local_port, Registry.default())


class NodeCache:
    """One run of the program; ``run`` returns the exit status."""

    def __init__(self, params: NodeCacheParams) -> None:
        from pycoredns.nodecache.netsetup import NetSetup, NetSetupConfig

        self.params = params
        self.netsetup = NetSetup(
            NetSetupConfig(
                addresses=params.local_ips,
                interface=params.interface_name,
                setup_interface=params.setup_interface,
                setup_iptables=params.setup_iptables,
                dns_port=int(params.local_port),
                health_port=int(params.health_port),
                sync_interval=params.sync_interval,
                teardown=not params.skip_teardown,
            )
        )
        self.app: App | Supervisor | None = None
        self._quit_now = False

    async def run(self) -> int:
        p = self.params
        # node-cache's own lines carry Go's timestamp on stderr until the DNS server runs.
        early = contextlib.ExitStack()
        early.enter_context(_early_log())
        workers = workers_for(p.workers)
        instance_id = new_instance_id()
        app: App | Supervisor
        if workers > 1:
            # The network setup and teardown stay here, in the supervisor: they run once.
            app = Supervisor(p.corefile, workers=workers, dns_port=p.local_port, quiet=p.quiet, pidfile=p.pidfile,
                             instance_id=instance_id)
            render = _threadsafe(app)
        else:
            from pycoredns.server.app import App  # the supervisor does without the engine

            app = App(p.corefile, dns_port=p.local_port, quiet=p.quiet, pidfile=p.pidfile)
            render = None
        self.app = app
        app.exit_hooks.append(self.netsetup.teardown)
        member: Membership | None = None
        if p.instance_dir:
            # Side by side with the other instances on the node (an upgrade): the interface and
            # rules are shared, and the last instance out removes them.
            registry = NodeRegistry(p.instance_dir, instance_id, workers)
            self.netsetup.share = registry
            member = Membership(registry, app)
        self._trap_signals(app)
        metrics = metrics_server.start(p.metrics_listen_address, render)
        sync = ConfigSync(_writer(p, p.reload_with_signal), p.kubedns_cm_path)
        sync.start()
        if member is not None:
            await member.join()
        await asyncio.to_thread(self.netsetup.ensure_interface)
        tasks: list[asyncio.Task[None]] = []
        try:
            if not app.stopped.is_set():
                try:
                    await app.start()
                except PyCoreDNSError as e:
                    log.critical("[FATAL] %s", e)
                    app.exit_code = 1
                    return 1
                early.close()
                if member is not None:
                    await member.serving()
                if p.pidfile:
                    # The server listens (it wrote its pidfile): install the rules now.
                    await asyncio.to_thread(self.netsetup.sync)
                tasks.append(asyncio.create_task(self.netsetup.run(), name="nodecache-netsetup"))
                tasks.append(asyncio.create_task(sync.run(), name="nodecache-configsync"))
                collector.settle()
                await app.stopped.wait()
            return app.exit_code
        finally:
            early.close()
            if member is not None:
                member.close()
            for t in tasks:
                t.cancel()
            if self._quit_now:
                await asyncio.to_thread(app.run_exit_hooks)
            else:
                # CoreDNS's order: shutdown hooks (lameduck), the exit hooks (our teardown), then
                # the listeners close. Teardown never waits for a reload in flight.
                await app.shutdown()
            if metrics is not None:
                metrics.close()

    def _trap_signals(self, app: App | Supervisor) -> None:
        loop = asyncio.get_running_loop()

        def stop(name: str) -> None:
            if app.stopped.is_set():
                return
            log.info("[INFO] %s: Shutting down servers then terminating", name)
            app.stop(0)

        def quit_now() -> None:
            self._quit_now = True
            app.stop(0)
            if isinstance(app, Supervisor):
                app.kill_workers()

        loop.add_signal_handler(signal.SIGTERM, stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, stop, "SIGINT")
        loop.add_signal_handler(signal.SIGQUIT, quit_now)
        loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(app.reload()))
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # ignored, as in CoreDNS's fork


def _threadsafe(sup: Supervisor) -> metrics_server.Render:
    """The supervisor's merged /metrics, for node-cache's own endpoint (served from threads)."""
    loop = asyncio.get_running_loop()

    def render(accept: str) -> tuple[bytes, str]:
        return asyncio.run_coroutine_threadsafe(sup.exposition(accept), loop).result(15)

    return render


if __name__ == "__main__":
    sys.exit(main())
