"""rewrite setup: rule forms, the block form, and CoreDNS's error texts."""

from __future__ import annotations

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.rules import ClassRule, NameRule, ResponseOnlyRule, TypeRule
from pycoredns.server.config import load


def rules_of(body: str) -> Rewrite:
    inst = load(f". {{\n{body}\n whoami\n}}\n")
    (handler,) = [h for h in inst.configs[0].handlers if isinstance(h, Rewrite)]
    return handler


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        pytest.param("rewrite name a.com b.com", [NameRule], id="name-exact-default"),
        pytest.param("rewrite name exact a.com b.com", [NameRule], id="name-exact"),
        pytest.param("rewrite name prefix a b", [NameRule], id="name-prefix"),
        pytest.param("rewrite name suffix .a.com .b.com answer auto", [NameRule], id="name-suffix-auto"),
        pytest.param("rewrite name substring a b", [NameRule], id="name-substring"),
        pytest.param(r"rewrite name regex (.*)\.a\.com {1}.b.com answer auto", [NameRule], id="name-regex"),
        pytest.param(
            "rewrite stop name regex foo bar answer name bar foo answer value x y", [NameRule], id="answer-rules"
        ),
        pytest.param("rewrite stop {\n  name regex foo bar\n  answer name bar foo\n }", [NameRule], id="block"),
        pytest.param("rewrite continue type ANY HINFO", [TypeRule], id="type"),
        pytest.param("rewrite class CH in", [ClassRule], id="class"),
        pytest.param("rewrite ttl a.com 10", [ResponseOnlyRule], id="ttl"),
        pytest.param("rewrite ttl regex ^a 10-20", [ResponseOnlyRule], id="ttl-regex-range"),
        pytest.param("rewrite ttl suffix a.com -20", [ResponseOnlyRule], id="ttl-max"),
        pytest.param("rewrite ttl prefix a 10-", [ResponseOnlyRule], id="ttl-min"),
        pytest.param("rewrite rcode a.com NXDOMAIN 0", [ResponseOnlyRule], id="rcode"),
        pytest.param("rewrite rcode substring x servfail refused", [ResponseOnlyRule], id="rcode-match"),
        pytest.param(
            "rewrite name a.com b.com\n rewrite continue type A AAAA", [NameRule, TypeRule], id="two-rules"
        ),
    ],
)
def test_valid(body: str, kinds: list[type]) -> None:
    h = rules_of(body)
    assert [type(r) for r in h.rules] == kinds


def test_modes_and_normalisation() -> None:
    h = rules_of("rewrite continue name Exact A.COM b.com\n rewrite name regex (.*)\\.A b.{1}")
    first, second = h.rules
    assert isinstance(first, NameRule) and isinstance(second, NameRule)
    assert (first.mode, first.kind, first.match, first.replacement) == ("continue", "exact", "a.com.", "b.com.")
    assert (second.mode, second.match, second.replacement) == ("stop", "(.*)\\.A", "b.{1}.")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("rewrite", "no rule type specified for rewrite", id="empty"),
        pytest.param("rewrite name", "too few arguments for a name rule", id="name-no-args"),
        pytest.param("rewrite stop", "stop rule must begin with a rule type", id="stop-alone"),
        pytest.param("rewrite continue", "continue rule must begin with a rule type", id="continue-alone"),
        pytest.param("rewrite foo a b", 'invalid rule type "foo"', id="unknown-field"),
        pytest.param(
            "rewrite stop {\n  answer name bar foo\n  name regex foo bar\n }",
            "response rewrites must begin with a name rule",
            id="answer-first",
        ),
        pytest.param(
            "rewrite stop {\n  name regex foo bar\n  answer name bar foo\n  name baz\n }",
            "name answer rule for regex rule: 2 arguments required",
            id="block-concatenates",
        ),
        pytest.param(
            "rewrite stop name regex [bad[ bar answer name bar foo",
            "invalid regex matching pattern: [bad[",
            id="bad-regex",
        ),
        pytest.param(
            "rewrite name regex foo {1}.bar",
            "the rewrite regex pattern ({1}.bar) uses more subexpressions than its corresponding "
            "matching regex pattern (foo)",
            id="too-many-groups",
        ),
        pytest.param(
            "rewrite name regex " + "a" * 10001 + " b",
            "regex pattern too long: 10001 > 10000",
            id="regex-too-long",
        ),
        pytest.param(
            "rewrite name fuzzy a b",
            "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: fuzzy",
            id="bad-match-kind",
        ),
        pytest.param("rewrite name exact a b answer", "invalid arguments for exact rule", id="answer-short"),
        pytest.param(
            "rewrite name exact a b foo bar",
            "exceeded the number of arguments for a non-answer rule argument for exact rule",
            id="answer-not-answer",
        ),
        pytest.param(
            "rewrite name exact a b answer auto answer",
            "type missing for answer rule for exact rule",
            id="answer-type-missing",
        ),
        pytest.param(
            "rewrite name exact a b answer blah x y",
            'invalid type "blah" for answer rule for exact rule',
            id="answer-bad-type",
        ),
        pytest.param(
            "rewrite name prefix a b answer auto answer name x y",
            "auto name answer rule cannot be combined with explicit name anwer rules",
            id="auto-and-name",
        ),
        pytest.param(
            "rewrite name regex a b answer value [x y",
            "value answer rule for regex rule: invalid regex matching pattern: [x",
            id="answer-bad-regex",
        ),
        pytest.param("rewrite type A", "type rules must have exactly two arguments", id="type-one"),
        pytest.param("rewrite type A AAAA MX", "type rules must have exactly two arguments", id="type-three"),
        pytest.param("rewrite type A FOO", 'invalid type "FOO"', id="type-unknown"),
        pytest.param("rewrite class in", "class rules must have exactly two arguments", id="class-one"),
        pytest.param("rewrite class IN XX", 'invalid class "XX"', id="class-unknown"),
        pytest.param("rewrite ttl a.com", "too few (1) arguments for a ttl rule", id="ttl-few"),
        pytest.param("rewrite ttl a.com x", "invalid TTL 'x' for a ttl rule", id="ttl-bad"),
        pytest.param("rewrite ttl a.com -", "invalid TTL '-' for a ttl rule", id="ttl-dash"),
        pytest.param("rewrite ttl a.com 20-10", "invalid TTL '20-10' for a ttl rule", id="ttl-reversed"),
        pytest.param("rewrite ttl a.com 4294967296", "invalid TTL '4294967296' for a ttl rule", id="ttl-big"),
        pytest.param("rewrite ttl a b c d", "invalid TTL '' for a ttl rule", id="ttl-many"),
        pytest.param(
            "rewrite ttl fuzzy a.com 10",
            "ttl rule supports only exact, prefix, suffix, substring, and regex name matching",
            id="ttl-bad-kind",
        ),
        pytest.param(
            "rewrite ttl regex [x 10", "invalid regex pattern in a ttl rule: [x", id="ttl-bad-regex"
        ),
        pytest.param("rewrite rcode a.com 0", "too few (2) arguments for a rcode rule", id="rcode-few"),
        pytest.param(
            "rewrite rcode a.com FOO 0", "invalid matching RCODE 'FOO' for a rcode rule", id="rcode-bad-old"
        ),
        pytest.param(
            "rewrite rcode a.com 0 24", "invalid replacement RCODE '24' for a rcode rule", id="rcode-bad-new"
        ),
        pytest.param(
            "rewrite rcode regex [x 0 3", "invalid regex pattern in a rcode rule: [x", id="rcode-bad-regex"
        ),
        pytest.param(
            "rewrite edns0 local set 0xffee abc",
            "edns0 rules are not supported by this build of rewrite",
            id="edns0-unsupported",
        ),
        pytest.param(
            "rewrite cname exact a.com b.com",
            "cname rules are not supported by this build of rewrite",
            id="cname-unsupported",
        ),
    ],
)
def test_errors(body: str, error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(f". {{\n {body}\n whoami\n}}\n")
    assert str(got.value) == "plugin/rewrite: " + error
