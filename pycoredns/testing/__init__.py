"""The public test kit for plugin authors: a fake upstream, a server in a thread, query helpers.

    from pycoredns.testing import FakeUpstream, running_server, query, serve_handler

Everything binds to loopback only.
"""

from pycoredns.testing.client import free_port, query, raw_query
from pycoredns.testing.handler import make_request, serve_handler
from pycoredns.testing.server import RunningServer, running_server
from pycoredns.testing.upstream import FakeUpstream, answer_a

__all__ = [
    "FakeUpstream",
    "RunningServer",
    "answer_a",
    "free_port",
    "make_request",
    "query",
    "raw_query",
    "running_server",
    "serve_handler",
]
