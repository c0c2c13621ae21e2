"""node-cache's own metrics endpoint (``-metrics-listen-address``, default ``0.0.0.0:9353``).

It serves ``/metrics`` from the process registry, so ``coredns_nodecache_setup_errors_total`` is
there (and, as in node-cache, also on the Corefile's prometheus port). If the address cannot be
listened on, node-cache logs the error, carries on, and leaves the error counter unregistered;
``-metrics-listen-address 0`` is the known way to switch this endpoint off.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pycoredns import metrics
from pycoredns.nodecache import errors_metric

log = logging.getLogger("pycoredns.nodecache")

Render = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)


class _MetricsHandler(BaseHTTPRequestHandler):
    render: Render = staticmethod(metrics.exposition)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "404 page not found")
            return
        try:
            body, content_type = self.render(self.headers.get("Accept", "") or "")
        except Exception as e:  # a scrape must never take anything down
            log.error("[ERROR] metrics: %s", e)
            self.send_error(500)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes are not worth a log line
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Unlike node-cache's (kubernetes/dns#667), so that a second instance on the node (the new pod
    # of a rolling update) can listen on the same address while the first one still serves.
    allow_reuse_port = True


class MetricsServer:
    """The listener and its thread; :meth:`close` stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _listen(address: str, render: Render | None = None) -> ThreadingHTTPServer:
    from pycoredns.corefile.values import split_host_port

    try:
        host, port_text = split_host_port(address)
    except ValueError as e:
        raise OSError(f"listen tcp {address}: {e}") from None
    if not port_text.isdigit():
        raise OSError(f"listen tcp: lookup port {port_text}: unknown port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    cls = type("_FamilyServer", (_Server,), {"address_family": family})
    handler: type[_MetricsHandler] = _MetricsHandler
    if render is not None:
        handler = type("_Handler", (_MetricsHandler,), {"render": staticmethod(render)})
    return cls((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), int(port_text)), handler)


def start(address: str, render: Render | None = None) -> MetricsServer | None:
    """Serve /metrics on ``address`` (``render``: the whole instance's, with workers); None
    (logged) when it cannot listen."""
    try:
        server = _listen(address, render)
    except OSError as e:
        log.error("[ERROR] Failed to start metrics handler: %s", e)
        return None
    errors_metric.register()
    thread = threading.Thread(target=server.serve_forever, name="nodecache-metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
