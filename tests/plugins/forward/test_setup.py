"""forward's Corefile parsing: every option valid and invalid, with CoreDNS's exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugin import go_duration
from pycoredns.plugins.forward.handler import Forward
from pycoredns.plugins.forward.policy import RandomPolicy, RoundRobinPolicy, SequentialPolicy
from pycoredns.server.config import load
from pycoredns.testing.fixtures import UpstreamFactory


def forwards(body: str) -> list[Forward]:
    inst = load(". {\n" + body + "}\n")
    return [h for h in inst.configs[0].handlers if isinstance(h, Forward)]


def load_error(body: str) -> str:
    with pytest.raises(PyCoreDNSError) as got:
        load(". {\n" + body + "}\n")
    return str(got.value)


def one(body: str) -> Forward:
    fs = forwards(body)
    assert len(fs) == 1
    return fs[0]


def ups(f: Forward) -> list[str]:
    return [("tls://" if p.tls else "") + p.to for p in f.proxies]


@pytest.mark.parametrize(
    ("body", "from_zone", "upstreams"),
    [
        pytest.param("forward . 127.0.0.1\n", ".", ["127.0.0.1:53"], id="ip"),
        pytest.param("forward . 127.0.0.1:8080\n", ".", ["127.0.0.1:8080"], id="ip-port"),
        pytest.param("forward . dns://127.0.0.1\n", ".", ["127.0.0.1:53"], id="dns-scheme"),
        pytest.param("forward . dns://127.0.0.1:5353\n", ".", ["127.0.0.1:5353"], id="dns-scheme-port"),
        pytest.param("forward . [::1]:53\n", ".", ["[::1]:53"], id="ipv6"),
        pytest.param("forward . [2003::1]\n", ".", ["[2003::1]:53"], id="ipv6-no-port"),
        pytest.param("forward . tls://127.0.0.1\n", ".", ["tls://127.0.0.1:853"], id="tls-default-port"),
        pytest.param("forward . tls://127.0.0.1:8853\n", ".", ["tls://127.0.0.1:8853"], id="tls-port"),
        pytest.param("forward example.ORG 127.0.0.1\n", "example.org.", ["127.0.0.1:53"], id="from-normalised"),
        pytest.param("forward 10.9.3.0/18 127.0.0.1\n", "0.9.10.in-addr.arpa.", ["127.0.0.1:53"],
                     id="cidr-first-zone"),
        pytest.param("forward . 127.0.0.1 127.0.0.1:53 dns://127.0.0.1 127.0.0.2\n", ".",
                     ["127.0.0.1:53", "127.0.0.2:53"], id="duplicates-removed"),
        pytest.param("forward . 127.0.0.1 {\n}\n", ".", ["127.0.0.1:53"], id="empty-block"),
    ],
)
def test_upstreams(body: str, from_zone: str, upstreams: list[str]) -> None:
    f = one(body)
    assert f.opts.from_zone == from_zone
    assert ups(f) == upstreams


def test_defaults() -> None:
    f = one("forward . 127.0.0.1\n")
    o = f.opts
    assert (o.force_tcp, o.prefer_udp, o.max_fails, o.max_concurrent, o.failfast) == (False, False, 2, 0, False)
    assert o.max_connect_attempts is None and o.hc_interval == 0.5
    assert isinstance(f.policy, RandomPolicy)
    p = f.proxies[0]
    assert (p.expire, p.max_age, p.max_idle_conns, p.read_timeout) == (10.0, 0.0, 0, 2.0)
    assert (p.health.proto, p.health.domain, p.health.recursion_desired) == ("udp", ".", True)


@pytest.mark.parametrize(
    ("option", "check"),
    [
        pytest.param("except miek.nl example.ORG", lambda f: f.opts.ignored == ["miek.nl.", "example.org."],
                     id="except"),
        pytest.param("force_tcp", lambda f: f.opts.force_tcp and f.proxies[0].health.proto == "tcp", id="force_tcp"),
        pytest.param("prefer_udp", lambda f: f.opts.prefer_udp, id="prefer_udp"),
        pytest.param("max_fails 3", lambda f: f.opts.max_fails == 3, id="max_fails"),
        pytest.param("max_fails 0", lambda f: f.opts.max_fails == 0, id="max_fails-0"),
        pytest.param("max_connect_attempts 0", lambda f: f.opts.max_connect_attempts == 0, id="max_connect_attempts-0"),
        pytest.param("max_connect_attempts 5", lambda f: f.opts.max_connect_attempts == 5, id="max_connect_attempts"),
        pytest.param("expire 5s", lambda f: f.proxies[0].expire == 5.0, id="expire"),
        pytest.param("expire 0s", lambda f: f.proxies[0].expire == 0.0, id="expire-0"),
        pytest.param("max_age 30s", lambda f: f.proxies[0].max_age == 30.0, id="max_age"),
        pytest.param("max_idle_conns 10", lambda f: f.proxies[0].max_idle_conns == 10, id="max_idle_conns"),
        pytest.param("read_timeout 300ms", lambda f: f.proxies[0].read_timeout == 0.3, id="read_timeout"),
        pytest.param("policy random", lambda f: isinstance(f.policy, RandomPolicy), id="policy-random"),
        pytest.param("policy round_robin", lambda f: isinstance(f.policy, RoundRobinPolicy), id="policy-round_robin"),
        pytest.param("policy sequential", lambda f: isinstance(f.policy, SequentialPolicy), id="policy-sequential"),
        pytest.param("health_check 1s", lambda f: f.opts.hc_interval == 1.0, id="health_check"),
        pytest.param("health_check 0.5s no_rec", lambda f: not f.proxies[0].health.recursion_desired,
                     id="health_check-no_rec"),
        pytest.param("health_check 0.5s no_rec domain Example.org",
                     lambda f: (f.proxies[0].health.domain, f.proxies[0].health.recursion_desired)
                     == ("example.org.", False), id="health_check-no_rec-domain"),
        pytest.param("health_check 0.5s domain example.org.", lambda f: f.proxies[0].health.domain == "example.org.",
                     id="health_check-domain-fqdn"),
        pytest.param("health_check 0.5s domain .", lambda f: f.proxies[0].health.domain == ".",
                     id="health_check-domain-root"),
        pytest.param("max_concurrent 1000",
                     lambda f: (f.opts.max_concurrent, f.opts.limit_message)
                     == (1000, "concurrent queries exceeded maximum 1000"), id="max_concurrent"),
        pytest.param("max_concurrent 0", lambda f: f.opts.max_concurrent == 0, id="max_concurrent-unlimited"),
        pytest.param("max_concurrent 20",
                     lambda f: (f.opts.max_concurrent, f.opts.limit_message)
                     == (20, "concurrent queries exceeded maximum 20"), id="max_concurrent-20"),
        pytest.param("next NXDOMAIN servfail", lambda f: f.opts.next_rcodes == {3, 2}, id="next"),
        pytest.param("next_on_nodata", lambda f: f.opts.next_on_nodata, id="next_on_nodata"),
        pytest.param("failfast_all_unhealthy_upstreams", lambda f: f.opts.failfast, id="failfast"),
        pytest.param("failover ServFail REFUSED", lambda f: f.opts.failover_rcodes == {2, 5}, id="failover"),
        pytest.param("source_address 127.0.0.1", lambda f: f.proxies[0].local == "127.0.0.1", id="source_address"),
        pytest.param("doh_method GET", lambda f: True, id="doh_method"),
        pytest.param("tls", lambda f: True, id="tls-no-args"),
        pytest.param("resolver 127.0.0.1 [::1]:53", lambda f: True, id="resolver"),
    ],
)
def test_valid_options(option: str, check: object) -> None:
    f = one(f"forward . 127.0.0.1 {{\n{option}\n}}\n")
    assert callable(check) and check(f)


def test_force_tcp_and_prefer_udp_both_kept() -> None:
    f = one("forward . 127.0.0.1 {\nforce_tcp\nprefer_udp\n}\n")
    assert f.opts.force_tcp and f.opts.prefer_udp


E = "plugin/forward: Corefile:3 - Error during parsing: "


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("forward\n", "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or "
                     "unexpected line ending after 'forward'", id="no-args"),
        pytest.param("forward .\n", "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or "
                     "unexpected line ending after '.'", id="no-to"),
        pytest.param("forward " + "x" * 64 + " 127.0.0.1\n", f"plugin/forward: unable to normalize '{'x' * 64}'",
                     id="bad-from"),
        pytest.param("forward . " + " ".join(f"127.0.0.{i}" for i in range(1, 17)) + "\n",
                     "plugin/forward: more than 15 TOs configured: 16", id="too-many-tos"),
        pytest.param("forward . https://1.1.1.1/\n", "plugin/forward: paths are not allowed in HTTPS upstream "
                     "addresses (the /dns-query path is used by default): https://1.1.1.1/", id="https-path"),
        pytest.param("forward . quic://127.0.0.1\n", "plugin/forward: 'quic' is not supported as a destination "
                     "protocol in forward: quic://127.0.0.1:853", id="quic"),
        pytest.param("forward . grpc://127.0.0.1:8443\n", "plugin/forward: 'grpc' is not supported as a "
                     "destination protocol in forward: grpc://127.0.0.1:8443", id="grpc"),
        pytest.param("forward . dns://\n", 'plugin/forward: invalid address: "dns://"', id="empty-address"),
        pytest.param("forward . tls://127.0.0.1%a.example {\ntls_servername b.example\n}\n",
                     "plugin/forward: both forward ('b.example') and proxy level ('a.example') TLS servernames "
                     "are set for upstream proxy 'tls://127.0.0.1:853'", id="two-servernames"),
        pytest.param("forward . 127.0.0.1 {\nblaatl\n}\n", E + "unknown property 'blaatl'", id="unknown-property"),
        pytest.param("forward . 127.0.0.1 {\nexcept\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'except'", id="except-no-args"),
        pytest.param("forward . 127.0.0.1 {\nmax_fails\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'max_fails'", id="max_fails-no-arg"),
        pytest.param("forward . 127.0.0.1 {\nmax_fails -1\n}\n",
                     'plugin/forward: strconv.ParseUint: parsing "-1": invalid syntax', id="max_fails-negative"),
        pytest.param("forward . 127.0.0.1 {\nmax_fails 4294967296\n}\n",
                     'plugin/forward: strconv.ParseUint: parsing "4294967296": value out of range',
                     id="max_fails-range"),
        pytest.param("forward . 127.0.0.1 {\nmax_connect_attempts many\n}\n",
                     'plugin/forward: strconv.ParseUint: parsing "many": invalid syntax', id="max_connect_attempts"),
        pytest.param("forward . 127.0.0.1 {\nforce_tcp yes\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'yes'", id="force_tcp-arg"),
        pytest.param("forward . 127.0.0.1 {\nprefer_udp yes\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'yes'", id="prefer_udp-arg"),
        pytest.param("forward . 127.0.0.1 {\nexpire\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'expire'", id="expire-no-arg"),
        pytest.param("forward . 127.0.0.1 {\nexpire 10\n}\n",
                     'plugin/forward: time: missing unit in duration "10"', id="expire-no-unit"),
        pytest.param("forward . 127.0.0.1 {\nexpire -1s\n}\n",
                     "plugin/forward: expire can't be negative: -1s", id="expire-negative"),
        pytest.param("forward . 127.0.0.1 {\nmax_age -1m30s\n}\n",
                     "plugin/forward: max_age can't be negative: -1m30s", id="max_age-negative"),
        pytest.param("forward . 127.0.0.1 {\nmax_age 5s\n}\n",
                     "plugin/forward: max_age (5s) must not be less than expire (10s)", id="max_age-below-expire"),
        pytest.param("forward . 127.0.0.1 {\nmax_idle_conns many\n}\n",
                     'plugin/forward: strconv.Atoi: parsing "many": invalid syntax', id="max_idle_conns-invalid"),
        pytest.param("forward . 127.0.0.1 {\nmax_idle_conns -1\n}\n",
                     "plugin/forward: max_idle_conns can't be negative: -1", id="max_idle_conns-negative"),
        pytest.param("forward . 127.0.0.1 {\nread_timeout 0s\n}\n",
                     "plugin/forward: read_timeout must be positive: 0s", id="read_timeout-zero"),
        pytest.param("forward . 127.0.0.1 {\nhealth_check no_rec\n}\n",
                     'plugin/forward: time: invalid duration "no_rec"', id="health_check-no-duration"),
        pytest.param("forward . 127.0.0.1 {\nhealth_check -1s\n}\n",
                     "plugin/forward: health_check can't be negative: -1000000000", id="health_check-negative"),
        pytest.param("forward . 127.0.0.1 {\nhealth_check 0.5s rec\n}\n",
                     "plugin/forward: health_check: unknown option rec", id="health_check-unknown"),
        pytest.param("forward . 127.0.0.1 {\nhealth_check 0.5s domain\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'domain'", id="health_check-domain"),
        pytest.param("forward . 127.0.0.1 {\nhealth_check 0.5s domain example..org\n}\n",
                     "plugin/forward: health_check: invalid domain name example..org", id="health_check-bad-domain"),
        pytest.param("forward . 127.0.0.1 {\ntls a b c d\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'd'", id="tls-four-args"),
        pytest.param("forward . 127.0.0.1 {\ntls /nonexistent/ca.pem\n}\n",
                     "plugin/forward: error reading /nonexistent/ca.pem: No such file or directory", id="tls-no-ca"),
        pytest.param("forward . 127.0.0.1 {\ntls_servername\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'tls_servername'",
                     id="tls_servername-no-arg"),
        pytest.param("forward . 127.0.0.1 {\npolicy\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'policy'", id="policy-no-arg"),
        pytest.param("forward . 127.0.0.1 {\npolicy fastest\n}\n", E + "unknown policy 'fastest'", id="policy-unknown"),
        pytest.param("forward . 127.0.0.1 {\nmax_concurrent many\n}\n",
                     'plugin/forward: strconv.Atoi: parsing "many": invalid syntax', id="max_concurrent-invalid"),
        pytest.param("forward . 127.0.0.1 {\nmax_concurrent -4\n}\n",
                     "plugin/forward: max_concurrent can't be negative: -4", id="max_concurrent-negative"),
        pytest.param("forward . 127.0.0.1 {\nnext\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'next'", id="next-no-args"),
        pytest.param("forward . 127.0.0.1 {\nnext NXDOMAIN BOGUS\n}\n",
                     "plugin/forward: BOGUS is not a valid rcode", id="next-bad-rcode"),
        pytest.param("forward . 127.0.0.1 {\nnext_on_nodata yes\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'yes'", id="next_on_nodata-arg"),
        pytest.param("forward . 127.0.0.1 {\nfailfast_all_unhealthy_upstreams false\n}\n",
                     E + "Wrong argument count or unexpected line ending after 'false'", id="failfast-arg"),
        pytest.param("forward . 127.0.0.1 {\nfailover NOERROR\n}\n",
                     "plugin/forward: NoError cannot be used in failover", id="failover-noerror"),
        pytest.param("forward . 127.0.0.1 {\nfailover WHAT\n}\n",
                     "plugin/forward: WHAT is not a valid rcode", id="failover-bad"),
        pytest.param("forward . 127.0.0.1 {\ndoh_method put\n}\n",
                     "plugin/forward: doh_method must be either POST or GET", id="doh_method"),
        pytest.param("forward . 127.0.0.1 {\nresolver dns.example\n}\n",
                     'plugin/forward: resolver must be an IP address or IP:port: "dns.example"', id="resolver"),
        pytest.param("forward . 127.0.0.1 {\nsource_address nope\n}\n",
                     E + "invalid IP address: nope", id="source_address"),
    ],
)
def test_invalid(body: str, error: str) -> None:
    assert load_error(body) == error


def test_go_duration() -> None:
    assert [go_duration(x) for x in (0, 0.5, 1.5, 90, 3600, -1, 0.000001)] == [
        "0s", "500ms", "1.5s", "1m30s", "1h0m0s", "-1s", "1µs"]


def test_resolv_conf_file(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# test\nsearch example.org\nnameserver 127.0.0.7\nnameserver fe80::1%eth0\noptions ndots:5\n")
    f = one(f"forward . {conf} 127.0.0.8\n")
    assert ups(f) == ["127.0.0.7:53", "[fe80::1]:53", "127.0.0.8:53"]


def test_empty_file_is_skipped_and_not_counted(tmp_path: Path) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("search example.org\n")
    f = one(f"forward . {empty} 127.0.0.1\n")
    assert ups(f) == ["127.0.0.1:53"]
    assert load_error(f"forward . {empty}\n") == "plugin/forward: no valid upstream addresses found"


def test_file_counts_once_toward_the_limit(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("".join(f"nameserver 127.0.1.{i}\n" for i in range(1, 4)))
    tos = " ".join(f"127.0.0.{i}" for i in range(1, 15))
    f = one(f"forward . {conf} {tos}\n")  # 15 arguments, 17 upstreams: accepted at HEAD
    assert len(f.proxies) == 17


def test_tls_servername_per_upstream_and_block() -> None:
    f = one("forward . tls://127.0.0.1%dns.example:8853 tls://[::1%other.example]\n")
    assert [(p.to, p.server_name) for p in f.proxies] == [("127.0.0.1:8853", "dns.example"),
                                                          ("[::1]:853", "other.example")]
    f = one("forward . tls://127.0.0.1 {\ntls_servername dns.example\n}\n")
    assert f.proxies[0].server_name == "dns.example"
    assert f.proxies[0].health.proto == "tcp-tls"


def test_tls_option_only_applies_to_tls_upstreams() -> None:
    f = one("forward . 127.0.0.1 tls://127.0.0.2 {\ntls\n}\n")
    assert f.proxies[0].tls is None and f.proxies[1].tls is not None


def test_hostname_resolved_with_resolver_option(fake_upstream: UpstreamFactory) -> None:
    up = fake_upstream()  # answers every A question with 192.0.2.1
    f = one(f"forward . dns.example.test:5300 {{\nresolver {up.address}\n}}\n")
    assert ups(f) == ["192.0.2.1:5300"]


def test_several_stanzas_chain_in_file_order() -> None:
    fs = forwards("forward example.org 127.0.0.1\nforward . 127.0.0.2\n")
    assert [f.opts.from_zone for f in fs] == ["example.org.", "."]
    assert fs[0].next is fs[1]
    assert fs[1].next is None


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        pytest.param(". {\n forward . 1.1.1.1\n {\n  force_tcp\n }\n}",
                     "plugin/forward: Corefile:3 - Error during parsing: Unexpected token '{', expecting argument",
                     id="brace-on-next-line"),
        pytest.param(". {\n forward . 1.1.1.1 { force_tcp }\n}",
                     "plugin/forward: Corefile:2 - Error during parsing: Wrong argument count or unexpected line "
                     "ending after '}'", id="one-line-block"),
        pytest.param(". {\n forward . 1.1.1.1 {\n  force_tcp\n }", "force_tcp", id="missing-final-brace"),
        pytest.param(". {\n forward . 1.1.1.1#c\n}", "plain", id="comment-after-to"),
    ],
)
def test_spec_edge_cases(text: str, outcome: str) -> None:
    if outcome.startswith("plugin/"):
        with pytest.raises(PyCoreDNSError) as got:
            load(text)
        assert str(got.value) == outcome
        return
    f = load(text).configs[0].handlers[0]
    assert isinstance(f, Forward)
    assert ups(f) == ["1.1.1.1:53"] and f.opts.force_tcp is (outcome == "force_tcp")


# -- DNS over HTTPS (CoreDNS's https rows of TestSetup, TestSetupDOHHealthcheckTLSConfig) -----------
def test_https_upstream_defaults() -> None:
    from pycoredns.plugins.forward.doh import DoHHealthChecker, DoHProxy

    f = one("forward . https://127.0.0.1 \n")
    [p] = f.proxies
    assert isinstance(p, DoHProxy) and isinstance(p.health, DoHHealthChecker)
    assert (p.to, p.method, p.authority, p.read_timeout, p.server_name) == ("127.0.0.1:443", "POST",
                                                                           "127.0.0.1:443", 2.0, None)
    assert p.health.recursion_desired and p.health.domain == "."


def test_https_doh_method_port_and_servername() -> None:
    f = one("forward . https://127.0.0.1:8443 {\n doh_method GET\n tls_servername dns.example\n"
            " health_check 1s no_rec domain example.org\n}\n")
    [p] = f.proxies
    assert (p.to, p.method, p.server_name) == ("127.0.0.1:8443", "GET", "dns.example")
    assert p.health.server_name == "dns.example"  # the health check verifies the same name
    assert not p.health.recursion_desired and p.health.domain == "example.org."
    assert p.tls is not None and p.health.ssl_context is p.tls


def test_https_and_tls_upstreams_do_not_share_alpn() -> None:
    f = one("forward . tls://127.0.0.1 https://127.0.0.2 {\n tls\n}\n")
    tls, doh = f.proxies
    assert tls.tls is not None and doh.tls is not None and tls.tls is not doh.tls


def test_https_zone_server_name_is_not_used() -> None:
    # CoreDNS keeps %NAME for tls:// only: an https:// upstream verifies its IP (or tls_servername).
    [p] = one("forward . https://127.0.0.1%dns.example:443\n").proxies
    assert (p.to, p.server_name) == ("127.0.0.1:443", None)
