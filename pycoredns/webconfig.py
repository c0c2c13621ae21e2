"""The Prometheus exporter-toolkit web configuration (``prometheus { tls CONFIG_FILE }``).

CoreDNS hands the file to the exporter toolkit, which serves /metrics over TLS, checks HTTP basic
auth against bcrypt hashes, adds the configured security headers and may rate-limit. This module
reads the same YAML with the same strictness (an unknown field is an error, with its line), makes
a :class:`ssl.SSLContext` from ``tls_server_config``, and answers the per-request questions
(which headers, is this user allowed, is the rate exceeded) for :mod:`pycoredns.http`.

The toolkit re-reads the file for every connection and request, so a renewed certificate or a
new password applies without a reload; :meth:`WebConfig.current` does the same, re-reading only
when the file (or a certificate file it names) changed on disk.

Where Go's crypto/tls offers more than Python's ssl: ``RequestClientCert`` never asks for a
certificate here (nothing reads an unverified one), ``RequireAnyClientCert`` is refused (OpenSSL,
as Python exposes it, cannot demand a certificate without verifying it), only the first of
``curve_preferences`` is set (``SSLContext.set_ecdh_curve`` takes one curve), and the listener
speaks HTTP/1.1 whatever ``http2`` says.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pycoredns.corefile.values import parse_duration

# Go's crypto/tls names (tls.CipherSuites(): the secure ones) and OpenSSL's for each. The TLS 1.3
# suites are accepted and, as in Go, change nothing: neither library lets them be chosen.
CIPHERS = {
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = ("", "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "RequireClientCert",
               "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
# The only headers the toolkit lets a configuration add, and the values allowed where it checks.
EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
# The toolkit compares an unknown user against this hash ("fakepassword") so that timing does
# not tell which users exist.
_FAKE_HASH = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"


class WebConfigError(Exception):
    """The file is unreadable or invalid; the text is the exporter toolkit's."""


log = logging.getLogger("pycoredns")


# -- strict YAML decoding (go-yaml v2's UnmarshalStrict) ---------------------------------------
_STR, _BOOL, _INT, _DURATION = "string", "bool", "int", "time.Duration"
_SCHEMA: dict[str, dict[str, Any]] = {
    "web.Config": {
        "tls_server_config": "web.TLSConfig",
        "http_server_config": "web.HTTPConfig",
        "rate_limit": "web.RateLimiterConfig",
        "basic_auth_users": ("map", _STR),
    },
    "web.TLSConfig": {
        "cert": _STR, "key": _STR, "client_ca": _STR, "cert_file": _STR, "key_file": _STR,
        "client_auth_type": _STR, "client_ca_file": _STR, "cipher_suites": ("list", "web.Cipher"),
        "curve_preferences": ("list", "web.Curve"), "min_version": "web.TLSVersion",
        "max_version": "web.TLSVersion", "prefer_server_cipher_suites": _BOOL,
        "client_allowed_sans": ("list", _STR),
    },
    "web.HTTPConfig": {"http2": _BOOL, "headers": ("map", _STR)},
    "web.RateLimiterConfig": {"burst": _INT, "interval": _DURATION},
}


class _Decoder:
    """Walks PyYAML's node tree: go-yaml collects type errors (with lines) and reports them
    together; a custom type's own error (an unknown cipher) stops at once."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def decode(self, node: Any, kind: Any) -> Any:
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return None
        if isinstance(kind, tuple):
            container, inner = kind
            if container == "list":
                if not isinstance(node, yaml.SequenceNode):
                    return self._mismatch(node, f"[]{_go_name(inner)}")
                return [v for v in (self.decode(n, inner) for n in node.value) if v is not None]
            if not isinstance(node, yaml.MappingNode):
                return self._mismatch(node, f"map[string]{_go_name(inner)}")
            out: dict[str, Any] = {}
            for key, value in node.value:
                if key.value in out:
                    self.errors.append(f"line {key.start_mark.line + 1}: key \"{key.value}\" already set in map")
                    continue
                out[key.value] = self.decode(value, inner)
            return out
        if kind in _SCHEMA:
            if not isinstance(node, yaml.MappingNode):
                return self._mismatch(node, kind)
            fields = _SCHEMA[kind]
            got: dict[str, Any] = {}
            for key, value in node.value:
                name = key.value
                if name not in fields:
                    self.errors.append(f"line {key.start_mark.line + 1}: field {name} not found in type {kind}")
                    continue
                if name in got:
                    self.errors.append(f"line {key.start_mark.line + 1}: field {name} already set in type {kind}")
                    continue
                got[name] = self.decode(value, fields[name])
            return got
        if not isinstance(node, yaml.ScalarNode):
            return self._mismatch(node, kind)
        tag = node.tag.rsplit(":", 1)[-1]
        if kind == _STR:
            return node.value  # go-yaml gives a string field any scalar's text
        if kind == _BOOL:
            if tag != "bool":
                return self._mismatch(node, kind)
            return node.value.lower() in ("true", "yes", "on", "y")
        if kind in (_INT, _DURATION):
            if tag == "int":
                return int(node.value.replace("_", ""), 0)
            if kind == _DURATION and tag == "str":
                try:
                    return parse_duration(node.value)
                except ValueError as e:
                    raise WebConfigError(str(e)) from None
            return self._mismatch(node, kind)
        # the toolkit's own types: a string that must name something known
        if kind == "web.Cipher":
            if node.value not in CIPHERS:
                raise WebConfigError("unknown cipher: " + node.value)
        elif kind == "web.Curve":
            if node.value not in CURVES:
                raise WebConfigError("unknown curve: " + node.value)
        elif kind == "web.TLSVersion" and node.value not in VERSIONS:
            raise WebConfigError("unknown TLS version: " + node.value)
        return node.value

    def _mismatch(self, node: Any, kind: str) -> None:
        import yaml

        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            tag = "!!" + node.tag.rsplit(":", 1)[-1]
            shown = node.value if len(node.value) <= 10 else node.value[:7] + "..."
            self.errors.append(f"line {line}: cannot unmarshal {tag} `{shown}` into {_go_name(kind)}")
        else:
            tag = "!!seq" if isinstance(node, yaml.SequenceNode) else "!!map"
            self.errors.append(f"line {line}: cannot unmarshal {tag} into {_go_name(kind)}")
        return None


def _go_name(kind: Any) -> str:
    if isinstance(kind, tuple):
        return ("[]" if kind[0] == "list" else "map[string]") + _go_name(kind[1])
    return str(kind)


# -- the configuration ---------------------------------------------------------------------------
@dataclass
class TLSSettings:
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: str = ""
    client_ca_file: str = ""
    cipher_suites: list[str] = field(default_factory=list)
    curve_preferences: list[str] = field(default_factory=list)
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True
    client_allowed_sans: list[str] | None = None

    @property
    def enabled(self) -> bool:
        """Whether TLS is configured at all (the toolkit's ``IsEnabled``): if not, plain HTTP."""
        return any((self.cert_file, self.cert, self.key_file, self.key, self.client_ca_file, self.client_ca,
                    self.client_auth_type))


@dataclass
class WebConfig:
    """One parsed web configuration file."""

    path: str
    tls: TLSSettings = field(default_factory=TLSSettings)
    http2: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    burst: int = 0
    interval: float = 0.0
    context: ssl.SSLContext | None = None
    error: str = ""  # why the file, changed since it loaded, is invalid now
    _stamp: tuple[tuple[int, int], ...] = ()
    _auth_cache: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    _bucket: tuple[float, float] = (0.0, 0.0)  # (tokens, at) of the rate limiter
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str) -> WebConfig:
        """Read, validate and build the TLS context, or raise :class:`WebConfigError`."""
        cfg = cls(path)
        cfg._read()
        return cfg

    def _files(self) -> list[str]:
        return [p for p in (self.path, self.tls.cert_file, self.tls.key_file, self.tls.client_ca_file) if p]

    def _mtimes(self) -> tuple[tuple[int, int], ...]:
        """What tells a file changed: its modification time and size (two writes within the
        file system's time resolution still differ in size, most of the time)."""
        out = []
        for p in self._files():
            try:
                st = os.stat(p)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((-1, -1))
        return tuple(out)

    def _read(self) -> None:
        import yaml

        try:
            with open(self.path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            # CoreDNS stats the file before it hands it to the toolkit
            raise WebConfigError(f"stat {self.path}: no such file or directory") from None
        except OSError as e:
            raise WebConfigError(f"open {self.path}: {_os_text(e)}") from None
        try:
            root = yaml.compose(content, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise WebConfigError(f"yaml: {where}{getattr(e, 'problem', None) or e}") from None
        decoder = _Decoder()
        data: dict[str, Any] = {}
        if root is not None:
            data = decoder.decode(root, "web.Config") or {}
        if decoder.errors:
            raise WebConfigError("yaml: unmarshal errors:\n  " + "\n  ".join(decoder.errors))
        tls_data = data.get("tls_server_config") or {}
        tls = TLSSettings(**{k: v for k, v in tls_data.items() if v is not None})
        base = os.path.dirname(self.path)
        # relative paths are taken from the configuration file's folder, as the toolkit does
        for name in ("cert_file", "key_file", "client_ca_file"):
            value = getattr(tls, name)
            if value and not os.path.isabs(value):
                setattr(tls, name, os.path.join(base, value))
        http = data.get("http_server_config") or {}
        headers = http.get("headers") or {}
        _validate_headers(headers)
        users = {k: (v or "") for k, v in (data.get("basic_auth_users") or {}).items()}
        for hashed in users.values():
            _bcrypt_cost(hashed)
        rate = data.get("rate_limit") or {}
        self.tls = tls
        self.http2 = bool(http.get("http2", True))
        self.headers = headers
        self.users = users
        self.burst = int(rate.get("burst") or 0)
        self.interval = float(rate.get("interval") or 0.0)
        self.context = _context(tls) if tls.enabled else None
        self._stamp = self._mtimes()
        self._auth_cache = {}

    def current(self) -> WebConfig:
        """This configuration, re-read first if a file changed since (the toolkit re-reads on
        every connection and request). While the file is invalid, ``error`` says why: the
        toolkit then fails each request (500) and each handshake, and so do we."""
        stamp = self._mtimes()
        if stamp != self._stamp:
            self._stamp = stamp
            fresh = WebConfig(self.path)
            try:
                fresh._read()
            except WebConfigError as e:
                self.error = str(e)
                log.error("[ERROR] plugin/prometheus: unable to parse configuration %s: %s", self.path, e)
                return self
            self.error = ""
            self.tls, self.http2, self.headers, self.users = fresh.tls, fresh.http2, fresh.headers, fresh.users
            self.burst, self.interval, self.context = fresh.burst, fresh.interval, fresh.context
            self._stamp, self._auth_cache = fresh._stamp, {}
        return self

    # -- per connection and request -----------------------------------------------------------
    def server_context(self) -> ssl.SSLContext | None:
        """The context the listener starts with; each handshake then switches to the current one."""
        ctx = self.context
        if ctx is None:
            return None

        def on_hello(sock: ssl.SSLObject, server_name: str | None, initial: ssl.SSLContext) -> int | None:
            current = self.current()
            if current.error:
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
            fresh = current.context
            if fresh is not None and fresh is not sock.context:
                sock.context = fresh
            return None

        ctx.sni_callback = on_hello
        return ctx

    def peer_allowed(self, peercert: dict[str, Any] | None) -> bool:
        """``client_allowed_sans``: the verified client certificate names one of them."""
        allowed = self.tls.client_allowed_sans
        if allowed is None:
            return True
        if not peercert:
            return False
        names = [value for _, value in peercert.get("subjectAltName", ())]
        return any(n.rstrip("\n") in allowed for n in names)

    def rate_limited(self) -> bool:
        """A token bucket of ``burst`` tokens refilled every ``interval`` (Go's rate.Limiter)."""
        if self.interval <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            tokens, at = self._bucket if self._bucket[1] else (float(self.burst), now)
            tokens = min(float(self.burst), tokens + (now - at) / self.interval)
            if tokens < 1.0:
                self._bucket = (tokens, now)
                return True
            self._bucket = (tokens - 1.0, now)
            return False

    async def authorized(self, authorization: str) -> bool:
        """HTTP basic auth against the bcrypt hashes (always true when no users are set)."""
        if not self.users:
            return True
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        known = user in self.users
        hashed = self.users.get(user, _FAKE_HASH)
        key = (user, hashed, password)
        ok = self._auth_cache.get(key)
        if ok is None:
            # bcrypt is slow on purpose: off the event loop, and remembered like the toolkit does
            ok = known and await asyncio.to_thread(_bcrypt_check, password, hashed)
            if len(self._auth_cache) > 1024:
                self._auth_cache.clear()
            self._auth_cache[key] = ok
        return ok


def _bcrypt_check(password: str, hashed: str) -> bool:
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
    except ValueError:
        return False


def _bcrypt_cost(hashed: str) -> int:
    """Go's ``bcrypt.Cost``: the checks the toolkit runs on each user's hash when it loads."""
    if len(hashed) < 59:
        raise WebConfigError("crypto/bcrypt: hashedSecret too short to be a bcrypted password")
    if hashed[0] != "$":
        raise WebConfigError(
            f"crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with '{hashed[0]}'"
        )
    if hashed[1] > "2":
        raise WebConfigError(
            f"crypto/bcrypt: bcrypt algorithm version '{hashed[1]}' requested is newer than current version '2'"
        )
    rest = hashed[3:] if hashed[2] != "$" else hashed[2:]
    try:
        cost = int(rest[1:3])
    except ValueError:
        raise WebConfigError(f'strconv.Atoi: parsing "{rest[1:3]}": invalid syntax') from None
    if not 4 <= cost <= 31:
        raise WebConfigError(f"crypto/bcrypt: cost {cost} is outside allowed inclusive range 4..31")
    return cost


def _validate_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if name not in EXTRA_HEADERS:
            raise WebConfigError(f'HTTP header "{name}" can not be configured')
        allowed = EXTRA_HEADERS[name]
        if allowed and value not in allowed:
            listed = "[" + " ".join(f'"{a}"' for a in allowed) + "]"
            raise WebConfigError(f'invalid value for {name}. Expected one of: {listed}, but got: "{value}"')


def _os_text(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _context(c: TLSSettings) -> ssl.SSLContext:
    """The toolkit's ``ConfigToTLSConfig``, with its checks and messages, on Python's ssl."""
    if not c.cert_file and not c.cert:
        raise WebConfigError("missing one of cert or cert_file")
    if not c.key_file and not c.key:
        raise WebConfigError("missing one of key or key_file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        # load_cert_chain reads files only: inline PEM goes through a private temporary file
        cert_path = c.cert_file or _write(tmp, "cert.pem", c.cert)
        key_path = c.key_file or _write(tmp, "key.pem", c.key)
        for what, path in (("cert_file", c.cert_file), ("key_file", c.key_file)):
            if path and not os.path.exists(path):
                raise WebConfigError(f"failed to read {what} ({path}): open {path}: no such file or directory")
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, OSError) as e:
            reason = getattr(e, "reason", None) or str(e)
            # OpenSSL's reasons, in Go's words where Go has one for the same fault
            text = _KEYPAIR_ERRORS.get(reason, reason)
            raise WebConfigError(f"failed to load X509KeyPair: {text}") from None
    ctx.minimum_version = VERSIONS[c.min_version]
    ctx.maximum_version = VERSIONS[c.max_version]
    if c.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    openssl_names = [CIPHERS[s] for s in c.cipher_suites if CIPHERS[s]]
    if openssl_names:
        ctx.set_ciphers(":".join(openssl_names))
    if c.curve_preferences:
        ctx.set_ecdh_curve(CURVES[c.curve_preferences[0]])
    has_ca = bool(c.client_ca_file or c.client_ca)
    if c.client_ca_file:
        try:
            ctx.load_verify_locations(cafile=c.client_ca_file)
        except FileNotFoundError:
            raise WebConfigError(f"open {c.client_ca_file}: no such file or directory") from None
        except ssl.SSLError:
            pass  # Go's AppendCertsFromPEM skips what is not a certificate
    elif c.client_ca:
        try:
            ctx.load_verify_locations(cadata=c.client_ca)
        except ssl.SSLError:
            pass
    auth = c.client_auth_type
    if auth not in CLIENT_AUTH:
        raise WebConfigError("invalid ClientAuth: " + auth)
    if auth in ("RequireAnyClientCert", "RequireClientCert"):
        raise WebConfigError(
            f"client_auth_type {auth} is not supported by this build: Python's ssl cannot require a "
            "client certificate without verifying it (use RequireAndVerifyClientCert)"
        )
    if auth == "VerifyClientCertIfGiven":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    elif auth == "RequireAndVerifyClientCert":
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:  # NoClientCert, and RequestClientCert: nothing would read an unverified certificate
        ctx.verify_mode = ssl.CERT_NONE
    if has_ca and auth in ("", "NoClientCert"):
        raise WebConfigError("client CA's have been configured without a Client Auth Policy")
    if c.client_allowed_sans is not None and auth != "RequireAndVerifyClientCert":
        raise WebConfigError(
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or "
            "RequireAndVerifyClientCert"
        )
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


_KEYPAIR_ERRORS = {
    "KEY_VALUES_MISMATCH": "tls: private key does not match public key",
    "NO_START_LINE": "tls: failed to find any PEM data in certificate input",
    "PEM_LIB": "tls: failed to find any PEM data in key input",
}


def _write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
