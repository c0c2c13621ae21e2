"""trace against test receivers: a Zipkin v2 HTTP endpoint and a Datadog agent's trace intake."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dnslib
import pytest

from pycoredns.plugin import Directive, Plugin, Request, Result
from pycoredns.testing import FakeUpstream, fixed_port, query, registry_with, running_server


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body it is sent, by path and method."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, Any, dict[str, str]]] = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def _take(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.posts.append((self.command, self.path, json.loads(body), dict(self.headers)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _take

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def spans(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s for _m, _p, body, _h in self.posts for s in body]

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.spans()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.spans()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def by_name(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        out.setdefault(s["name"], []).append(s)
    return out


def test_zipkin_receives_a_span_per_query_with_a_child_per_plugin(receiver: Receiver) -> None:
    with FakeUpstream() as up:
        text = (f".:0 {{\n trace http://127.0.0.1:{receiver.port}/api/v2/spans {{\n"
                f"  service dnsproxy\n  zipkin_max_batch_interval 100ms\n }}\n"
                f" cache 30\n forward . {up.address}\n}}\n")
        with running_server(text) as s:
            assert query("a.example.org", "A", s.port).header.rcode == 0  # a miss: cache, then forward
            assert query("a.example.org", "A", s.port).header.rcode == 0  # a hit: cache only
            spans = receiver.wait(5)
    assert all(m == "POST" and p == "/api/v2/spans" for m, p, _b, _h in receiver.posts)
    assert all(h["Content-Type"] == "application/json" for _m, _p, _b, h in receiver.posts)
    names = by_name(spans)
    assert sorted(names) == ["cache", "forward", "servedns"]
    assert len(names["servedns"]) == 2 and len(names["cache"]) == 2 and len(names["forward"]) == 1
    roots = {r["id"]: r for r in names["servedns"]}
    for r in roots.values():
        assert r["localEndpoint"] == {"serviceName": "dnsproxy"}
        assert r["kind"] == "SERVER" and "parentId" not in r
        assert r["tags"] == {"coredns.io/name": "a.example.org.", "coredns.io/type": "A",
                             "coredns.io/rcode": "NOERROR", "coredns.io/proto": "udp",
                             "coredns.io/remote": "127.0.0.1"}
        assert len(r["traceId"]) == 16 and len(r["id"]) == 16
        assert r["duration"] >= 1 and r["timestamp"] > 1_600_000_000_000_000
    caches = {c["id"]: c for c in names["cache"]}
    assert {c["parentId"] for c in caches.values()} == set(roots)  # each query's cache span is its root's child
    fwd = names["forward"][0]
    assert fwd["parentId"] in caches and fwd["traceId"] == caches[fwd["parentId"]]["traceId"]
    parent = roots[caches[fwd["parentId"]]["parentId"]]
    assert parent["timestamp"] <= fwd["timestamp"] and fwd["duration"] <= parent["duration"]
    assert all(s["localEndpoint"]["serviceName"] == "dnsproxy" for s in spans)


def test_every_traces_one_query_in_n(receiver: Receiver) -> None:
    with FakeUpstream() as up:
        text = (f".:0 {{\n trace 127.0.0.1:{receiver.port} {{\n every 3\n"
                f"  zipkin_max_batch_interval 100ms\n }}\n forward . {up.address}\n}}\n")
        with running_server(text) as s:
            for i in range(9):
                query(f"q{i}.example.org", "A", s.port)
            spans = receiver.wait(6)
            time.sleep(0.3)  # nothing more comes
            spans = receiver.spans()
    roots = by_name(spans)["servedns"]
    assert sorted(r["tags"]["coredns.io/name"] for r in roots) == ["q2.example.org.", "q5.example.org.",
                                                                    "q8.example.org."]
    assert len(by_name(spans)["forward"]) == 3


def test_a_failed_query_is_tagged_as_an_error(receiver: Receiver) -> None:
    dead = fixed_port()  # nothing listens there: forward fails and the server writes SERVFAIL
    text = (f".:0 {{\n trace 127.0.0.1:{receiver.port} {{\n  zipkin_max_batch_interval 100ms\n }}\n"
            f" forward . 127.0.0.1:{dead} {{\n  max_fails 0\n }}\n}}\n")
    with running_server(text) as s:
        assert query("x.example.org", "A", s.port, timeout=10).header.rcode == dnslib.RCODE.SERVFAIL
        spans = receiver.wait(2)
    root = by_name(spans)["servedns"][0]
    assert root["tags"]["coredns.io/rcode"] == "SERVFAIL" and root["tags"]["error"] == "true"
    assert "connection refused" in root["annotations"][0]["value"]
    assert by_name(spans)["forward"][0]["parentId"] == root["id"]


class Before(Plugin):
    """A handler placed before trace in the chain order (as bufsize is): outside the trace."""

    name = "before"

    def serve(self, req: Request) -> Result:
        return self.next_or_failure(req)


def _before_setup(c: Any) -> None:
    while c.next():
        pass
    c.add_plugin(lambda nxt: Before(nxt))


def test_handlers_placed_before_trace_are_outside_the_trace(receiver: Receiver) -> None:
    registry = registry_with([Directive("before", _before_setup, before="trace")])
    text = (f".:0 {{\n before\n trace 127.0.0.1:{receiver.port} {{\n  zipkin_max_batch_interval 100ms\n }}\n"
            f" whoami\n}}\n")
    with running_server(text, registry=registry) as s:
        assert query("w.example.org", "A", s.port).header.rcode == 0
        spans = receiver.wait(2)
    names = by_name(spans)
    assert sorted(names) == ["servedns", "whoami"]
    assert names["whoami"][0]["parentId"] == names["servedns"][0]["id"]


def test_datadog_agent_receives_the_root_span(receiver: Receiver) -> None:
    text = f".:0 {{\n trace datadog 127.0.0.1:{receiver.port} {{\n  datadog_analytics_rate 0.5\n }}\n whoami\n}}\n"
    with running_server(text) as s:
        query("d.example.org", "A", s.port)
        receiver.wait(1, timeout=5)  # sent within the reporter's second
    [(method, path, body, headers)] = receiver.posts
    assert (method, path, headers["X-Datadog-Trace-Count"]) == ("PUT", "/v0.4/traces", "1")
    [[span]] = body
    assert span["name"] == "servedns" and span["service"] == "coredns" and span["type"] == "dns"
    assert span["parent_id"] == 0 and span["error"] == 0 and span["metrics"]["_dd1.sr.eausr"] == 0.5
    assert span["meta"]["coredns.io@name"] == "d.example.org." and span["meta"]["coredns.io@rcode"] == "NOERROR"


def test_chain_of_trace_alone_fails_as_coredns() -> None:
    with running_server(".:0 {\n trace 127.0.0.1:9 {\n every 0\n }\n}\n") as s:
        assert query("n.example.org", "A", s.port).header.rcode == dnslib.RCODE.SERVFAIL
