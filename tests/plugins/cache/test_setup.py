"""``cache`` options: CoreDNS's defaults for valid input, its exact errors for invalid input."""

from __future__ import annotations

from typing import Any

import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.cache.handler import Cache
from pycoredns.plugins.cache.settings import CacheSettings
from pycoredns.server.config import load


def _settings(body: str, keys: str = ".") -> CacheSettings:
    inst = load(f"{keys}:1053 {{\n    whoami\n{body}}}\n")
    caches = [h for h in inst.configs[0].handlers if isinstance(h, Cache)]
    assert len(caches) == 1
    return caches[0].settings


def _error(body: str) -> str:
    with pytest.raises(PluginSetupError) as e:
        load(f".:1053 {{\n{body}}}\n")
    return str(e.value)


DEFAULTS: dict[str, Any] = {
    "zones": ["."],
    "success_capacity": 10000,
    "success_ttl": 3600,
    "success_min_ttl": 5,
    "denial_capacity": 10000,
    "denial_ttl": 1800,
    "denial_min_ttl": 5,
    "servfail_ttl": 5.0,
    "prefetch": 0,
    "prefetch_duration": 60.0,
    "prefetch_percentage": 10,
    "stale_up_to": 0.0,
    "verify_stale": False,
    "verify_timeout": 0.0,
    "stale_ttl": 0,
    "stale_recheck": 0.0,
    "prefer_positive": False,
    "success_disabled": [],
    "denial_disabled": [],
    "keepttl": False,
}


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        pytest.param("cache\n", {}, id="defaults"),
        pytest.param("cache 300\n", {"success_ttl": 300, "denial_ttl": 300}, id="ttl"),
        pytest.param("cache example.nl\n", {"zones": ["example.nl."]}, id="zone"),
        pytest.param("cache aaa example.nl\n", {"zones": ["aaa.", "example.nl."]}, id="non-number-is-zone"),
        pytest.param("cache 10 Example.NL\n", {"success_ttl": 10, "denial_ttl": 10, "zones": ["example.nl."]},
                     id="ttl-and-zone"),
        pytest.param("cache {\nsuccess 10\n}\n", {"success_capacity": 10}, id="success-capacity"),
        pytest.param("cache {\nsuccess 5000 100 2\n}\n", {"success_capacity": 5000, "success_ttl": 100,
                                                         "success_min_ttl": 2}, id="success-all"),
        pytest.param("cache {\nsuccess 5000 100 0 extra\n}\n", {"success_capacity": 5000, "success_ttl": 100,
                                                               "success_min_ttl": 0}, id="success-extra-ignored"),
        pytest.param("cache {\ndenial 2500 60 1\n}\n", {"denial_capacity": 2500, "denial_ttl": 60,
                                                        "denial_min_ttl": 1}, id="denial-all"),
        pytest.param("cache 20 {\ndenial 5\n}\n", {"success_ttl": 20, "denial_ttl": 20, "denial_capacity": 5},
                     id="denial-capacity-keeps-ttl"),
        pytest.param("cache {\nprefetch 10\n}\n", {"prefetch": 10}, id="prefetch"),
        pytest.param("cache {\nprefetch 0\n}\n", {}, id="prefetch-zero"),
        pytest.param("cache {\nprefetch 2 10m 25%\n}\n", {"prefetch": 2, "prefetch_duration": 600.0,
                                                          "prefetch_percentage": 25}, id="prefetch-all"),
        pytest.param("cache {\nserve_stale\n}\n", {"stale_up_to": 3600.0}, id="serve-stale"),
        pytest.param("cache {\nserve_stale 0\n}\n", {}, id="serve-stale-zero"),
        pytest.param("cache {\nserve_stale 20m IMMEDIATE\n}\n", {"stale_up_to": 1200.0}, id="serve-stale-immediate"),
        pytest.param("cache {\nserve_stale 1h verify\n}\n", {"stale_up_to": 3600.0, "verify_stale": True},
                     id="serve-stale-verify"),
        pytest.param("cache {\nserve_stale 1h immediate 30s 1m\n}\n",
                     {"stale_up_to": 3600.0, "stale_ttl": 30, "stale_recheck": 60.0}, id="immediate-ttl-recheck"),
        pytest.param("cache {\nserve_stale 1h verify 100ms 30s 5m\n}\n",
                     {"stale_up_to": 3600.0, "verify_stale": True, "verify_timeout": 0.1, "stale_ttl": 30,
                      "stale_recheck": 300.0}, id="verify-all"),
        pytest.param("cache {\nserve_stale 1h verify 0 30s\n}\n",
                     {"stale_up_to": 3600.0, "verify_stale": True, "stale_ttl": 30}, id="verify-zero-timeout"),
        pytest.param("cache {\nserve_stale\nserve_stale_policy PREFER_POSITIVE\n}\n",
                     {"stale_up_to": 3600.0, "prefer_positive": True}, id="policy"),
        pytest.param("cache {\nserve_stale_policy prefer_positive\nserve_stale\n}\n",
                     {"stale_up_to": 3600.0, "prefer_positive": True}, id="policy-before-serve-stale"),
        pytest.param("cache {\nservfail 0\n}\n", {"servfail_ttl": 0.0}, id="servfail-zero"),
        pytest.param("cache {\nservfail 5m\n}\n", {"servfail_ttl": 300.0}, id="servfail-max"),
        pytest.param("cache {\ndisable success\n}\n", {"success_disabled": ["."]}, id="disable-success"),
        pytest.param("cache {\ndisable denial Sub.Example.org b.org\n}\n",
                     {"denial_disabled": ["sub.example.org.", "b.org."]}, id="disable-denial-zones"),
        pytest.param("cache {\nkeepttl\n}\n", {"keepttl": True}, id="keepttl"),
        pytest.param("cache {}\n", {"zones": ["{}."]}, id="braces-token-is-a-zone"),
    ],
)
def test_valid(body: str, changed: dict[str, Any]) -> None:
    got = _settings(body)
    want = {**DEFAULTS, **changed}
    assert {k: getattr(got, k) for k in want} == want


def test_zones_default_to_block_keys() -> None:
    got = _settings("cache\n", keys="example.org example.net")
    assert got.zones == ["example.org.", "example.net."]
    assert got.zones_label == "example.org.,example.net."


ARG = (
    "plugin/cache: Corefile:{line} - Error during parsing: "
    "Wrong argument count or unexpected line ending after '{tok}'"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("cache 0\n", "plugin/cache: cache TTL can not be zero or negative: 0", id="ttl-zero"),
        pytest.param("cache -1\n", "plugin/cache: cache TTL can not be zero or negative: -1", id="ttl-negative"),
        pytest.param("cache {\nsuccess\n}\n", ARG.format(line=3, tok="success"), id="success-no-args"),
        pytest.param("cache {\nsuccess abc\n}\n", 'plugin/cache: strconv.Atoi: parsing "abc": invalid syntax',
                     id="success-capacity-nan"),
        pytest.param("cache {\nsuccess 10 0\n}\n", "plugin/cache: cache TTL can not be zero or negative: 0",
                     id="success-ttl-zero"),
        pytest.param("cache {\nsuccess 10 x\n}\n", 'plugin/cache: strconv.Atoi: parsing "x": invalid syntax',
                     id="success-ttl-nan"),
        pytest.param("cache {\nsuccess 10 10 -1\n}\n", "plugin/cache: cache min TTL can not be negative: -1",
                     id="success-minttl-negative"),
        pytest.param("cache {\ndenial\n}\n", ARG.format(line=3, tok="denial"), id="denial-no-args"),
        pytest.param("cache {\ndenial 10 -5\n}\n", "plugin/cache: cache TTL can not be zero or negative: -5",
                     id="denial-ttl-negative"),
        pytest.param("cache {\ndenial 10 10 -2\n}\n", "plugin/cache: cache min TTL can not be negative: -2",
                     id="denial-minttl-negative"),
        pytest.param("cache {\nprefetch\n}\n", ARG.format(line=3, tok="prefetch"), id="prefetch-no-args"),
        pytest.param("cache {\nprefetch 1 1m 10% x\n}\n", ARG.format(line=3, tok="x"), id="prefetch-too-many"),
        pytest.param("cache {\nprefetch -1\n}\n", "plugin/cache: prefetch amount should be positive: -1",
                     id="prefetch-negative"),
        pytest.param("cache {\nprefetch a\n}\n", 'plugin/cache: strconv.Atoi: parsing "a": invalid syntax',
                     id="prefetch-nan"),
        pytest.param("cache {\nprefetch 1 10\n}\n", 'plugin/cache: time: missing unit in duration "10"',
                     id="prefetch-duration-unitless"),
        pytest.param("cache {\nprefetch 1 1m 10\n}\n",
                     "plugin/cache: last character of percentage should be `%`, but is: '0'", id="pct-no-sign"),
        pytest.param("cache {\nprefetch 1 1m 9%\n}\n", "plugin/cache: percentage should fall in range [10, 90]: 9",
                     id="pct-low"),
        pytest.param("cache {\nprefetch 1 1m 91%\n}\n",
                     "plugin/cache: percentage should fall in range [10, 90]: 91", id="pct-high"),
        pytest.param("cache {\nprefetch 1 1m a%\n}\n", 'plugin/cache: strconv.Atoi: parsing "a": invalid syntax',
                     id="pct-nan"),
        pytest.param("cache {\nserve_stale 20\n}\n", 'plugin/cache: time: missing unit in duration "20"',
                     id="stale-unitless"),
        pytest.param("cache {\nserve_stale -20m\n}\n", "plugin/cache: invalid negative duration for serve_stale",
                     id="stale-negative"),
        pytest.param("cache {\nserve_stale 1h later\n}\n",
                     "plugin/cache: invalid value for serve_stale refresh mode: later", id="stale-mode"),
        pytest.param("cache {\nserve_stale 1h immediate 30s 30s 1s\n}\n", ARG.format(line=3, tok="1s"),
                     id="immediate-too-many"),
        pytest.param("cache {\nserve_stale 1h verify 1s 30s 30s 1s x\n}\n", ARG.format(line=3, tok="x"),
                     id="stale-six-args"),
        pytest.param("cache {\nserve_stale 1h verify x\n}\n",
                     'plugin/cache: invalid serve_stale verify timeout: time: invalid duration "x"',
                     id="verify-timeout-bad"),
        pytest.param("cache {\nserve_stale 1h verify -1s\n}\n",
                     "plugin/cache: invalid negative timeout for serve_stale verify", id="verify-timeout-negative"),
        pytest.param("cache {\nserve_stale 1h immediate 30\n}\n",
                     'plugin/cache: invalid serve_stale response TTL: time: missing unit in duration "30"',
                     id="response-ttl-unitless"),
        pytest.param("cache {\nserve_stale 1h immediate -1s\n}\n",
                     "plugin/cache: invalid negative response TTL for serve_stale", id="response-ttl-negative"),
        pytest.param("cache {\nserve_stale 1h immediate 1500ms\n}\n",
                     "plugin/cache: serve_stale response TTL must be a whole number of seconds",
                     id="response-ttl-fraction"),
        pytest.param("cache {\nserve_stale 1h immediate 1193047h\n}\n",
                     "plugin/cache: serve_stale response TTL exceeds the DNS TTL range", id="response-ttl-range"),
        pytest.param("cache {\nserve_stale 1h verify 0 30s x\n}\n",
                     'plugin/cache: invalid serve_stale failure recheck: time: invalid duration "x"',
                     id="recheck-bad"),
        pytest.param("cache {\nserve_stale 1h immediate 30s -1s\n}\n",
                     "plugin/cache: invalid negative failure recheck for serve_stale", id="recheck-negative"),
        pytest.param("cache {\nserve_stale 1h immediate 30s 301s\n}\n",
                     "plugin/cache: serve_stale failure recheck cannot exceed 5 minutes", id="recheck-over-5m"),
        pytest.param("cache {\nserve_stale_policy prefer_positive\n}\n",
                     "plugin/cache: serve_stale_policy requires serve_stale", id="policy-alone"),
        pytest.param("cache {\nserve_stale\nserve_stale_policy prefer_negative\n}\n",
                     "plugin/cache: invalid serve_stale_policy: prefer_negative", id="policy-unknown"),
        pytest.param("cache {\nserve_stale\nserve_stale_policy\n}\n", ARG.format(line=4, tok="serve_stale_policy"),
                     id="policy-no-arg"),
        pytest.param("cache {\nserve_stale\nserve_stale_policy prefer_positive\n"
                     "serve_stale_policy prefer_positive\n}\n",
                     "plugin/cache: serve_stale_policy can only be specified once", id="policy-twice"),
        pytest.param("cache {\nservfail\n}\n", ARG.format(line=3, tok="servfail"), id="servfail-no-arg"),
        pytest.param("cache {\nservfail 1s 2s\n}\n", ARG.format(line=3, tok="2s"), id="servfail-two-args"),
        pytest.param("cache {\nservfail -1s\n}\n", "plugin/cache: invalid negative ttl for servfail",
                     id="servfail-negative"),
        pytest.param("cache {\nservfail 301s\n}\n",
                     "plugin/cache: caching SERVFAIL responses over 5 minutes is not permitted", id="servfail-over-5m"),
        pytest.param("cache {\nservfail 5\n}\n", 'plugin/cache: time: missing unit in duration "5"',
                     id="servfail-unitless"),
        pytest.param("cache {\ndisable\n}\n", ARG.format(line=3, tok="disable"), id="disable-no-args"),
        pytest.param("cache {\ndisable both\n}\n",
                     'plugin/cache: cache type for disable must be "success" or "denial"', id="disable-type"),
        pytest.param("cache {\nkeepttl 1\n}\n", ARG.format(line=3, tok="1"), id="keepttl-arg"),
        pytest.param("cache {\nbogus\n}\n", ARG.format(line=3, tok="bogus"), id="unknown-option"),
        pytest.param("cache\ncache\n", "plugin/cache: this plugin can only be used once per Server Block",
                     id="twice"),
    ],
)
def test_invalid(body: str, message: str) -> None:
    assert _error(body) == message
