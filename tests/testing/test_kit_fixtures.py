"""The test kit's pytest fixtures, as a plugin author's tests use them (loaded through the
``pytest11`` entry point, not imported)."""

from __future__ import annotations

import importlib.metadata
import logging

import dnslib
import pytest

from pycoredns.plugin import Controller, Directive, Handler, Plugin, Request, Result, plugin_log
from pycoredns.testing import DNSClient, FakeUpstream
from pycoredns.testing.fixtures import ControllerFactory, ServerFactory, UpstreamFactory
from pycoredns.testing.logs import CapturedLog


def test_the_fixtures_come_from_the_entry_point() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "pycoredns"]
    assert [ep.value for ep in eps] == ["pycoredns.testing.fixtures"]


def test_server_and_client(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    with pytest.raises(LookupError, match="start a server"):
        dns_client.query("example.org")
    srv = dns_server(".:0 {\n    whoami\n}\n")
    assert dns_client.port == srv.port != 0
    r = dns_client.query("example.org", "A")
    assert r.header.rcode == 0 and any(rr.rtype == dnslib.QTYPE.SRV for rr in r.ar)
    tcp = dns_client.query("example.org", "A", proto="tcp")
    assert [rr.rtype for rr in tcp.ar if rr.rtype == dnslib.QTYPE.SRV] == [dnslib.QTYPE.SRV]
    assert any(rr.rtype == dnslib.QTYPE.SRV and rr.rdata.port != 0 for rr in tcp.ar)
    second = dns_server("example.net:0 {\n    whoami\n}\n")
    assert dns_client.port == second.port != srv.port  # the last one started
    raw = dns_client.raw_query(dnslib.DNSRecord.question("example.net").pack())
    assert dnslib.DNSRecord.parse(raw).header.rcode == 0


def test_a_server_that_does_not_start_raises_its_load_error(dns_server: ServerFactory) -> None:
    with pytest.raises(Exception, match="Unknown directive 'nosuch'"):
        dns_server(".:0 {\n    nosuch\n}\n")
    assert dns_server.last is None


def test_fake_upstream_behind_forward(
    fake_upstream: UpstreamFactory, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.53"), ttl=60))
        return r

    up = fake_upstream(answer)
    assert isinstance(up, FakeUpstream) and up.port != 0
    dns_server(f".:0 {{\n    forward . {up.address}\n}}\n")
    r = dns_client.query("www.example.org", "A")
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.53"]
    assert up.count("udp") == 1 and str(up.queries[0][1].q.qname) == "www.example.org."


def test_fake_upstream_passes_options_on(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream(host="::1") if _has_ipv6() else fake_upstream(host="127.0.0.1")
    assert up.address.endswith(f":{up.port}")
    with pytest.raises(TypeError):
        fake_upstream(no_such_option=True)


def _has_ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_setup_controller(setup_controller: ControllerFactory) -> None:
    c = setup_controller("example.org {\n    whoami\n}\n")
    assert isinstance(c, Controller) and c.directive == "whoami" and c.zones == ["example.org."]
    assert c.next() and c.val() == "whoami" and c.remaining_args() == []
    c = setup_controller(". {\n    whoami\n    log\n}\n", "log")
    assert c.directive == "log"
    with pytest.raises(ValueError, match="name the one to set up"):
        setup_controller(". {\n    whoami\n    log\n}\n")
    with pytest.raises(IndexError, match="no block 1"):
        setup_controller(". {\n    whoami\n}\n", block=1)


class _Shout(Plugin):
    name = "shout"

    def serve(self, req: Request) -> Result:
        plugin_log("shout").info("asked for %s", req.name)
        return self.next_or_failure(req)


def _shout_setup(c: Controller) -> None:
    c.next()
    if c.remaining_args():
        raise c.arg_err()

    def factory(next: Handler | None) -> Handler:
        return _Shout(next)

    c.add_plugin(factory)


SHOUT = Directive("shout", _shout_setup, before="whoami")


def test_plugins_not_installed(
    setup_controller: ControllerFactory, dns_server: ServerFactory, dns_client: DNSClient, coredns_log: CapturedLog
) -> None:
    with pytest.raises(Exception, match="Unknown directive 'shout'"):
        setup_controller(". {\n    shout\n}\n")
    c = setup_controller(". {\n    shout loud\n}\n", plugins=[SHOUT])
    with pytest.raises(Exception, match="Corefile:2 - Error during parsing: Wrong argument count"):
        _shout_setup(c)
    # Written after whoami, placed before it (before="whoami"): it sees the query first.
    dns_server(".:0 {\n    whoami\n    shout\n}\n", plugins=[SHOUT])
    r = dns_client.query("Example.ORG", "A")
    assert r.header.rcode == 0
    assert coredns_log.wait_for("plugin/shout:") == "[INFO] plugin/shout: asked for example.org."


def test_coredns_log(coredns_log: CapturedLog) -> None:
    log = plugin_log("kit")
    log.debug("fine detail")
    log.warning("careful: %d", 3)
    logging.getLogger("pycoredns").error("[ERROR] laid out by the caller")
    assert coredns_log.lines == [
        "[DEBUG] plugin/kit: fine detail",
        "[WARNING] plugin/kit: careful: 3",
        "[ERROR] laid out by the caller",
    ]
    assert coredns_log.text.endswith("caller\n")
    coredns_log.clear()
    coredns_log.set_level(logging.INFO)
    log.debug("hidden")
    assert coredns_log.lines == []
    with pytest.raises(AssertionError, match="no log line with 'never'"):
        coredns_log.wait_for("never", timeout=0.1)


def test_servers_stop_when_asked(dns_server: ServerFactory, dns_client: DNSClient) -> None:
    first = dns_server(".:0 {\n    whoami\n}\n")
    port = first.port
    assert dns_client.query("example.org").header.rcode == 0
    dns_server.close()
    assert dns_server.last is None and not first.thread.is_alive()
    with pytest.raises(OSError):  # nothing answers on that port any more
        dns_client.query("example.org", port=port, timeout=0.5)
    dns_server(".:0 {\n    whoami\n}\n")  # and the factory goes on
    assert dns_client.query("example.org").header.rcode == 0
