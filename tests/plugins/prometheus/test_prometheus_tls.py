"""``prometheus { tls CONFIG_FILE }``: /metrics over HTTPS with the exporter-toolkit web
configuration (certificates the test makes with openssl, bcrypt basic auth, headers, client
certificates), and the load errors for bad files."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.server.config import load
from pycoredns.testing import DNSClient
from pycoredns.testing.fixtures import ServerFactory
from pycoredns.testing.pki import HAVE_OPENSSL, make_ca, make_leaf

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="needs the openssl command-line tool")

METRICS = "127.0.0.1:0"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d)
    make_leaf(d, "server", "metrics.test", "DNS:metrics.test,IP:127.0.0.1")
    make_leaf(d, "client", "scraper.test", "DNS:scraper.test")
    make_leaf(d, "other", "other.test", "DNS:other.test")
    return d


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _web(pki: Path, body: str, name: str = "web.yml") -> Path:
    path = pki / name
    path.write_text(body)
    return path


TLS = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"


def _client(pki: Path, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    return ctx


def _get(port: int, ctx: ssl.SSLContext, auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return int(resp.status), dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), dict(e.headers), e.read().decode()


def _corefile(web: Path) -> str:
    return f".:0 {{\n    bind 127.0.0.1\n    whoami\n    prometheus {METRICS} {{\n        tls {web}\n    }}\n}}\n"


def test_https_scrape_with_basic_auth_and_headers(
    pki: Path, dns_server: ServerFactory, dns_client: DNSClient
) -> None:
    web = _web(pki, TLS + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
               f"basic_auth_users:\n  prom: {_hash('s3cret')}\n")
    s = dns_server(_corefile(web))
    dns_client.query("example.org", "A", s.port_of("127.0.0.1"), host="127.0.0.1")
    port = s.http_port(METRICS)
    status, headers, body = _get(port, _client(pki), ("prom", "s3cret"))
    assert status == 200
    assert 'coredns_dns_requests_total{' in body
    assert headers["X-Frame-Options"] == "deny"
    for auth in (("prom", "wrong"), ("nobody", "s3cret"), None):
        status, headers, body = _get(port, _client(pki), auth)
        assert (status, body) == (401, "Unauthorized\n")
        assert headers["WWW-Authenticate"] == "Basic"
        assert headers["X-Frame-Options"] == "deny"
    # plain HTTP on the TLS port is no scrape
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()


def test_client_certificates_and_allowed_sans(pki: Path, dns_server: ServerFactory) -> None:
    web = _web(pki, TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
               "  client_allowed_sans: [scraper.test]\n", "mtls.yml")
    port = dns_server(_corefile(web)).http_port(METRICS)
    assert _get(port, _client(pki, "client"))[0] == 200
    for cert in (None, "other"):  # no certificate; one whose SANs are not allowed
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError, OSError)):
            _get(port, _client(pki, cert))


def test_min_version_and_ciphers(pki: Path, dns_server: ServerFactory) -> None:
    web = _web(pki, TLS + "  min_version: TLS13\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
               "  curve_preferences: [X25519]\n", "v13.yml")
    port = dns_server(_corefile(web)).http_port(METRICS)
    assert _get(port, _client(pki))[0] == 200
    old = _client(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((urllib.error.URLError, ssl.SSLError, OSError)):
        _get(port, old)


def test_no_tls_section_is_plain_http_with_auth(pki: Path, dns_server: ServerFactory) -> None:
    web = _web(pki, f"basic_auth_users:\n  prom: {_hash('pw')}\n", "plain.yml")
    port = dns_server(_corefile(web)).http_port(METRICS)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 401
    req.add_header("Authorization", "Basic " + base64.b64encode(b"prom:pw").decode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(TLS + "  foo: 1\n", "yaml: unmarshal errors:\n  line 4: field foo not found in type web.TLSConfig",
                     id="unknown-field"),
        pytest.param("tls_server_config:\n  cert_file: server.pem\n", "missing one of key or key_file", id="no-key"),
        pytest.param("tls_server_config:\n  key_file: server.key\n", "missing one of cert or cert_file", id="no-cert"),
        pytest.param(TLS + "  client_auth_type: Sometimes\n", "invalid ClientAuth: Sometimes", id="client-auth"),
        pytest.param(TLS + "  client_ca_file: ca.pem\n",
                     "client CA's have been configured without a Client Auth Policy", id="ca-without-policy"),
        pytest.param(TLS + "  min_version: TLS14\n", "unknown TLS version: TLS14", id="version"),
        pytest.param(TLS + "  cipher_suites: [RC4]\n", "unknown cipher: RC4", id="cipher"),
        pytest.param(TLS + "  curve_preferences: [P999]\n", "unknown curve: P999", id="curve"),
        pytest.param(TLS + "  prefer_server_cipher_suites: maybe\n",
                     "yaml: unmarshal errors:\n  line 4: cannot unmarshal !!str `maybe` into bool", id="bool"),
        pytest.param(TLS + "  client_allowed_sans: [a]\n",
                     "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or "
                     "RequireAndVerifyClientCert", id="sans-without-auth"),
        pytest.param("http_server_config:\n  headers:\n    Server: pycoredns\n",
                     'HTTP header "Server" can not be configured', id="header"),
        pytest.param("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                     'invalid value for X-Frame-Options. Expected one of: ["deny" "sameorigin"], but got: "allow"',
                     id="header-value"),
        pytest.param("basic_auth_users:\n  prom: plain\n",
                     "crypto/bcrypt: hashedSecret too short to be a bcrypted password", id="not-bcrypt"),
        pytest.param("tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n",
                     "failed to load X509KeyPair: tls: private key does not match public key", id="key-mismatch"),
        pytest.param("tls_server_config:\n  cert_file: gone.pem\n  key_file: server.key\n",
                     "failed to read cert_file ({dir}/gone.pem): open {dir}/gone.pem: no such file or directory",
                     id="cert-missing"),
        pytest.param("rate_limit:\n  interval: 5x\n", 'time: unknown unit "x" in duration "5x"', id="duration"),
    ],
)
def test_bad_web_config_fails_the_load(pki: Path, body: str, error: str) -> None:
    web = _web(pki, body, "bad.yml")
    with pytest.raises(PluginSetupError) as e:
        load(_corefile(web))
    assert str(e.value) == "plugin/prometheus: " + error.format(dir=pki)


def test_missing_file_fails_the_load(pki: Path) -> None:
    with pytest.raises(PluginSetupError) as e:
        load(_corefile(pki / "absent.yml"))
    assert str(e.value) == f"plugin/prometheus: stat {pki}/absent.yml: no such file or directory"


def test_require_any_client_cert_says_why(pki: Path) -> None:
    web = _web(pki, TLS + "  client_auth_type: RequireAnyClientCert\n", "any.yml")
    with pytest.raises(PluginSetupError, match="Python's ssl cannot require a client certificate without verifying"):
        load(_corefile(web))


def test_changes_to_the_file_apply_without_a_reload(pki: Path, dns_server: ServerFactory) -> None:
    # The toolkit reads the file again for each connection and request: a new password works at once.
    web = _web(pki, TLS + f"basic_auth_users:\n  prom: {_hash('old')}\n", "live.yml")
    port = dns_server(_corefile(web)).http_port(METRICS)
    assert _get(port, _client(pki), ("prom", "old"))[0] == 200
    web.write_text(TLS + f"basic_auth_users:\n  prom: {_hash('new')}\nrate_limit:\n  burst: 2\n  interval: 1m\n")
    assert _get(port, _client(pki), ("prom", "old"))[0] == 401
    assert _get(port, _client(pki), ("prom", "new"))[0] == 200  # the limit counts every request
    status, headers, body = _get(port, _client(pki), ("prom", "new"))
    assert (status, body) == (429, "Too Many Requests\n")


def test_reload_adds_and_drops_tls(pki: Path, dns_server: ServerFactory) -> None:
    plain = f".:0 {{\n    bind 127.0.0.1\n    whoami\n    prometheus {METRICS}\n}}\n"
    web = _web(pki, TLS, "reload.yml")
    s = dns_server(plain)
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port(METRICS)}/metrics", timeout=5) as resp:
        assert resp.status == 200
    assert s.reload(_corefile(web))
    assert _get(s.http_port(METRICS), _client(pki))[0] == 200
    assert s.reload(plain)
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port(METRICS)}/metrics", timeout=5) as resp:
        assert resp.status == 200


def test_health_on_the_same_address_is_served_over_tls(pki: Path, dns_server: ServerFactory) -> None:
    web = _web(pki, TLS, "shared.yml")
    corefile = (f".:0 {{\n    bind 127.0.0.1\n    whoami\n    health {METRICS}\n"
                f"    prometheus {METRICS} {{\n        tls {web}\n    }}\n}}\n")
    port = dns_server(corefile).http_port(METRICS)
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=5, context=_client(pki)) as resp:
        assert (resp.status, resp.read()) == (200, b"OK")


def test_a_file_that_goes_bad_fails_requests_until_fixed(pki: Path, dns_server: ServerFactory) -> None:
    web = _web(pki, "http_server_config:\n  headers:\n    X-Frame-Options: deny\n", "bad-later.yml")
    port = dns_server(_corefile(web)).http_port(METRICS)
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.headers["X-Frame-Options"] == "deny"
    web.write_text("http_server_config:\n  nope: 1\n")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=5)
    assert e.value.code == 500
    web.write_text("{}\n")
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200 and resp.headers["X-Frame-Options"] is None
