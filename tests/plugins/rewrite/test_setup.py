"""rewrite setup: rule forms, the block form, and CoreDNS's error texts."""

from __future__ import annotations

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.plugins.rewrite import edns0
from pycoredns.plugins.rewrite.cname import CnameRule
from pycoredns.plugins.rewrite.handler import Rewrite
from pycoredns.plugins.rewrite.parse import RuleError, new_rule
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
            "rewrite edns0 local set 0xffee 0xabcdefg",
            "encoding/hex: invalid byte: U+0067 'g'",
            id="edns0-bad-hex",
        ),
        pytest.param("rewrite cname fuzzy a b", "unknown cname rewrite type: fuzzy", id="cname-bad-kind"),
    ],
)
def test_errors(body: str, error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(f". {{\n {body}\n whoami\n}}\n")
    assert str(got.value) == "plugin/rewrite: " + error


# CoreDNS's TestNewRule (rewrite_test.go), the edns0 and mode rows: every one accepted or rejected
# alike, with the rule kind it builds or the error text it gives.
LOCAL, VAR, NSID, SUBNET = edns0.LocalRule, edns0.VariableRule, edns0.NsidRule, edns0.SubnetRule
VARIABLES = ["{qname}", "{qtype}", "{client_ip}", "{client_port}", "{protocol}", "{server_ip}", "{server_port}"]
NEW_RULE_TABLE: list[tuple[str, type | str]] = [
    ("edns0", "too few arguments for an EDNS0 rule"),
    ("edns0 unknown-rule-type set", 'invalid rule type "unknown-rule-type"'),
    ("edns0 unknown-rule-type unset", 'invalid rule type "unknown-rule-type"'),
    ("edns0 local", "too few arguments for an EDNS0 rule"),
    ("edns0 local set", "EDNS0 local rules require three or four args"),
    ("edns0 local set 0xffee", "EDNS0 local rules require three or four args"),
    ("edns0 local set invalid-uint abcdefg", 'strconv.ParseUint: parsing "invalid-uint": invalid syntax'),
    ("edns0 local set 65518 abcdefg", LOCAL),
    ("edns0 local set 0xffee abcdefg", LOCAL),
    ("edns0 local set 0xffee abcdefg revert", LOCAL),
    ("edns0 local append 0xffee abcdefg", LOCAL),
    ("edns0 local append 0xffee abcdefg revert", LOCAL),
    ("edns0 local replace 0xffee abcdefg", LOCAL),
    ("edns0 local replace 0xffee abcdefg revert", LOCAL),
    ("edns0 local unset 0xffee", LOCAL),
    ("edns0 local unset 0xffee abcdefg", "local unset action requires exactly two arguments"),
    ("edns0 local unset 0xffee revert", "local unset action requires exactly two arguments"),
    ("edns0 local foo 0xffee abcdefg", 'invalid action: "foo"'),
    ("edns0 local set 0xffee 0xabcdefg", "encoding/hex: invalid byte: U+0067 'g'"),
    ("edns0 nsid set junk", "EDNS0 NSID rules can accept no more than one arg"),
    ("edns0 nsid set", NSID),
    ("edns0 nsid set revert", NSID),
    ("edns0 nsid append", NSID),
    ("edns0 nsid append revert", NSID),
    ("edns0 nsid replace", NSID),
    ("edns0 nsid replace revert", NSID),
    ("edns0 nsid unset", NSID),
    ("edns0 nsid unset revert", "nsid unset action requires exactly one argument"),
    ("edns0 nsid foo", 'invalid action: "foo"'),
    ("edns0 local set invalid-uint {qname}", 'strconv.ParseUint: parsing "invalid-uint": invalid syntax'),
    ("edns0 local set 0xffee {dummy}", 'unsupported variable name "{dummy}"'),
    *[(f"edns0 local {action} 0xffee {v}", VAR) for action in ("set", "append", "replace") for v in VARIABLES],
    *[(f"edns0 local {action} 0xffee {{server_port}} revert", VAR) for action in ("set", "append", "replace")],
    ("edns0 local append 0xffee {dummy}", 'unsupported variable name "{dummy}"'),
    ("edns0 local replace 0xffee {dummy}", 'unsupported variable name "{dummy}"'),
    ("edns0 subnet set -1 56", 'strconv.ParseUint: parsing "-1": invalid syntax'),
    ("edns0 subnet set 24 -56", 'strconv.ParseUint: parsing "-56": invalid syntax'),
    ("edns0 subnet set 33 56", "invalid IPv4 bit mask length 33"),
    ("edns0 subnet set 24 129", "invalid IPv6 bit mask length 129"),
    ("edns0 subnet set 24 56", SUBNET),
    ("edns0 subnet set 24 56 revert", SUBNET),
    ("edns0 subnet append 24 56", SUBNET),
    ("edns0 subnet append 24 56 72", "EDNS0 subnet rules require three or four args"),
    ("edns0 subnet append 24 56 revert", SUBNET),
    ("edns0 subnet replace 24 56", SUBNET),
    ("edns0 subnet replace 24 56 revert", SUBNET),
    ("edns0 subnet unset", SUBNET),
    ("edns0 subnet unset 24 56", "subnet unset action requires exactly one argument"),
    ("edns0 subnet unset revert", "subnet unset action requires exactly one argument"),
    ("unknown-action name a.com b.com", 'invalid rule type "unknown-action"'),
    ("stop name a.com b.com", NameRule),
    ("continue name a.com b.com", NameRule),
    ("unknown-action type any a", 'invalid rule type "unknown-action"'),
    ("stop type any a", TypeRule),
    ("continue type any a", TypeRule),
    ("unknown-action class ch in", 'invalid rule type "unknown-action"'),
    ("stop class ch in", ClassRule),
    ("continue class ch in", ClassRule),
    ("unknown-action edns0 local set 0xffee abcedef", 'invalid rule type "unknown-action"'),
    ("stop edns0 local set 0xffee abcdefg", LOCAL),
    ("continue edns0 local set 0xffee abcdefg", LOCAL),
    ("unknown-action edns0 nsid set", 'invalid rule type "unknown-action"'),
    ("stop edns0 nsid set", NSID),
    ("continue edns0 nsid set", NSID),
    ("unknown-action edns0 local set 0xffee {qname}", 'invalid rule type "unknown-action"'),
    *[(f"{mode} edns0 local set 0xffee {v}", VAR) for mode in ("stop", "continue") for v in VARIABLES],
    ("unknown-action edns0 subnet set 24 64", 'invalid rule type "unknown-action"'),
    *[
        (f"{mode} edns0 subnet {action}", SUBNET)
        for mode in ("stop", "continue")
        for action in ("set 24 56", "append 24 56", "replace 24 56", "unset")
    ],
    # Beyond CoreDNS's table: the code's other limits and spellings.
    ("edns0 local set 0x10000 abc", 'strconv.ParseUint: parsing "0x10000": value out of range'),
    ("edns0 local set 0o17 abc", LOCAL),
    ("edns0 local set 0xffee 0xabc", "encoding/hex: odd length hex string"),
    ("EDNS0 LOCAL SET 0xffee abc", LOCAL),
    ("edns0 local set 0xffee {a/}", 'unsupported variable name "{a/}"'),
    ("edns0 local set 0xffee {kubernetes/client-namespace}", VAR),
    # cname_target_test.go
    ("continue cname exact def.example.com xyz.example.com", CnameRule),
    ("continue cname prefix chat.openai.com bard.google.com", CnameRule),
    ("continue cname suffix uvw. xyz.", CnameRule),
    ("continue cname substring efgh zzzz.www", CnameRule),
    (r"continue cname regex (.*)\.web\.(.*)\.site\. {1}.webapp.{2}.org.", CnameRule),
    ("cname a.example.org b.example.org", CnameRule),
    ("cname a.example.org", "too few (1) arguments for a cname rule"),
    ("cname exact a b c", "too few (4) arguments for a cname rule"),
    ("cname Fuzzy a b", "unknown cname rewrite type: fuzzy"),
    ("cname regex " + "a" * 10001 + " b", "regex pattern too long in a cname rule: 10001 > 10000"),
]


@pytest.mark.parametrize(("line", "want"), NEW_RULE_TABLE, ids=[r[0][:60] for r in NEW_RULE_TABLE])
def test_new_rule_table(line: str, want: type | str) -> None:
    if isinstance(want, str):
        with pytest.raises(RuleError) as got:
            new_rule(line.split())
        assert str(got.value) == want
    else:
        assert type(new_rule(line.split())) is want


def test_edns0_rule_fields() -> None:
    local = new_rule("continue edns0 local set 0xffee 0x61626364 revert".split())
    assert isinstance(local, edns0.LocalRule)
    fields = (local.mode, local.action, local.code, local.data, local.revert)
    assert fields == ("continue", "set", 0xFFEE, b"abcd", True)
    assert new_rule("edns0 local set 65518 abcd".split()).data == b"abcd"  # type: ignore[attr-defined]
    subnet = new_rule("edns0 subnet set 0x18 0o70".split())
    assert isinstance(subnet, edns0.SubnetRule) and (subnet.v4_bits, subnet.v6_bits) == (24, 56)


def test_cname_rule_normalisation() -> None:
    rule = new_rule("cname exact NewYork.foo.com vpce-123.amazonaws.com".split())
    assert isinstance(rule, CnameRule)
    assert (rule.kind, rule.frm, rule.to) == ("exact", "newyork.foo.com.", "vpce-123.amazonaws.com.")
    suffix = new_rule("cname suffix Prod. Staging.".split())
    assert isinstance(suffix, CnameRule) and (suffix.frm, suffix.to) == ("prod.", "staging.")


def test_corefile_edns0_and_cname_rules_load() -> None:
    h = rules_of(
        "rewrite edns0 local set 0xffee {client_ip} revert\n"
        " rewrite continue {\n  edns0 subnet set 24 56\n }\n"
        " rewrite cname suffix .internal.example.org. .example.net."
    )
    assert [type(r) for r in h.rules] == [edns0.VariableRule, edns0.SubnetRule, CnameRule]
