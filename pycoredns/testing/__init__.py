"""The public test kit for plugin authors: a fake upstream, a server in a thread, query helpers.

    from pycoredns.testing import FakeUpstream, running_server, query, serve_handler

Everything binds to loopback only, and to port 0: the kernel picks a free port when the socket is
bound, and the test reads it back (``RunningServer.port``, ``RunningServer.http_port``,
``FakeUpstream.port``, ``wait_dns_port`` for another process), so no port is ever picked first
and bound later, when something else may have taken it.
"""

from pycoredns.testing.client import loopback_address, query, raw_query
from pycoredns.testing.handler import make_request, serve_handler
from pycoredns.testing.ports import fixed_port, listening_ports, wait_dns_port
from pycoredns.testing.server import RunningServer, running_server
from pycoredns.testing.upstream import FakeUpstream, answer_a

__all__ = [
    "fixed_port",
    "FakeUpstream",
    "RunningServer",
    "answer_a",
    "listening_ports",
    "loopback_address",
    "make_request",
    "query",
    "raw_query",
    "running_server",
    "serve_handler",
    "wait_dns_port",
]
