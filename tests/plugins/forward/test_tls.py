"""forward to a DNS-over-TLS upstream with a CA and certificates made by the test (openssl CLI)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import dnslib
import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.server.config import load
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.pki import HAVE_OPENSSL, make_ca, make_leaf

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="needs the openssl command-line tool")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d)
    make_leaf(d, "server", "dns.test", "DNS:dns.test,IP:127.0.0.1")
    make_leaf(d, "client", "forward.test", "DNS:forward.test")
    return d


class TLSUpstream:
    """A DNS-over-TLS server on 127.0.0.1: answers A with 192.0.2.85, records SNI and client certs."""

    def __init__(self, pki: Path, require_client_cert: bool = False) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki / "ca.pem")
        self.server_names: list[str | None] = []
        self.client_cns: list[str] = []
        ctx.sni_callback = lambda sock, name, _ctx: self.server_names.append(name)  # type: ignore[assignment,func-returns-value]
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                raw, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        with conn:
            peer = conn.getpeercert()
            if peer:
                self.client_cns.append(dict(x[0] for x in peer["subject"])["commonName"])
            with contextlib.suppress(OSError, struct.error):
                while True:
                    head = _recv(conn, 2)
                    q = dnslib.DNSRecord.parse(_recv(conn, struct.unpack(">H", head)[0]))
                    r = q.reply()
                    r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.85"), ttl=60))
                    out = r.pack()
                    conn.sendall(struct.pack(">H", len(out)) + out)

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def _recv(conn: ssl.SSLSocket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


@contextlib.contextmanager
def tls_upstream(pki: Path, require_client_cert: bool = False) -> Iterator[TLSUpstream]:
    up = TLSUpstream(pki, require_client_cert)
    try:
        yield up
    finally:
        up.stop()


def _a(client: DNSClient, proto: str = "udp") -> list[str]:
    r = client.query("tls.example.org", "A", proto=proto)
    return [str(rr.rdata) for rr in r.rr]


@pytest.mark.parametrize("client", ["udp", "tcp"])
def test_tls_upstream_answers_with_the_test_ca(
    dns_client: DNSClient, dns_server: ServerFactory, pki: Path, client: str
) -> None:
    with tls_upstream(pki) as up:
        text = f".:0 {{\n forward . tls://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n }}\n}}\n"
        dns_server(text)
        assert _a(dns_client, client) == ["192.0.2.85"]
        assert _a(dns_client, client) == ["192.0.2.85"]  # over the pooled connection
        assert up.server_names == [None]  # an IP: no SNI, the certificate's IP SAN is checked


def test_servername_per_upstream_is_sent_and_verified(
    dns_client: DNSClient, dns_server: ServerFactory, pki: Path
) -> None:
    with tls_upstream(pki) as up:
        to = f"tls://127.0.0.1%dns.test:{up.port}"
        text = f".:0 {{\n forward . {to} {{\n  tls {pki / 'ca.pem'}\n }}\n}}\n"
        dns_server(text)
        assert _a(dns_client) == ["192.0.2.85"]
        assert up.server_names == ["dns.test"]


def test_wrong_servername_fails_verification(dns_server: ServerFactory, dns_client: DNSClient, pki: Path) -> None:
    with tls_upstream(pki) as up:
        text = (f".:0 {{\n forward . tls://127.0.0.1:{up.port} {{\n  tls {pki / 'ca.pem'}\n"
                "  tls_servername other.test\n  max_fails 0\n }\n}\n")
        dns_server(text)
        assert dns_client.query("tls.example.org", "A", timeout=10).header.rcode == dnslib.RCODE.SERVFAIL


def test_client_certificate_from_tls_cert_key_ca(dns_client: DNSClient, dns_server: ServerFactory, pki: Path) -> None:
    with tls_upstream(pki, require_client_cert=True) as up:
        tls = f"{pki / 'client.pem'} {pki / 'client.key'} {pki / 'ca.pem'}"
        text = f".:0 {{\n forward . tls://127.0.0.1:{up.port} {{\n  tls {tls}\n }}\n}}\n"
        dns_server(text)
        assert _a(dns_client) == ["192.0.2.85"]
        assert up.client_cns == ["forward.test"]


def test_unloadable_cert_is_a_setup_error(pki: Path) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(f". {{\n forward . tls://127.0.0.1 {{\n  tls {pki / 'ca.pem'} {pki / 'server.key'}\n }}\n}}\n")
    assert str(got.value).startswith("plugin/forward: could not load TLS cert: ")
