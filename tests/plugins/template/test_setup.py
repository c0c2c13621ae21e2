"""template setup: every option, valid and invalid, with CoreDNS's error texts."""

from __future__ import annotations

import pytest

from pycoredns.errors import PyCoreDNSError
from pycoredns.fall import Fall
from pycoredns.plugins.template.handler import TemplatePlugin
from pycoredns.server.config import load


def plugin_of(body: str, keys: str = "domain.com:8053 dynamic.domain.com:8053") -> TemplatePlugin:
    inst = load(f"{keys} {{\n{body}\n}}\n")
    (handler,) = [h for h in inst.configs[0].handlers if isinstance(h, TemplatePlugin)]
    return handler


def test_defaults_and_zones() -> None:
    p = plugin_of(" template ANY ANY")
    (t,) = p.templates
    assert (t.qclass, t.qtype, t.rcode) == (255, 255, 0)
    assert t.zones == ["domain.com.", "dynamic.domain.com."]
    assert [r.pattern for r in t.regexes] == [".*"]
    assert t.fall == Fall()


def test_every_option() -> None:
    p = plugin_of(
        " template IN A example.com {\n"
        "  match ^ip-(?P<a>[0-9]+)[.]example[.]com[.]$ (?<b>x)\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}" "{{ .Name }} 60 IN A 10.0.1.1"\n'
        '  additional "ns.example.com. 60 IN A 10.9.9.9"\n'
        '  authority "example.com. 60 IN NS ns.example.com."\n'
        "  rcode NXDOMAIN\n"
        "  fallthrough example.com\n"
        "  upstream 8.8.8.8\n"
        " }\n"
        " template CH TXT"
    )
    t, second = p.templates
    assert (t.qclass, t.qtype, t.zones, t.rcode) == (1, 1, ["example.com."], 3)
    assert [r.pattern for r in t.regexes] == ["^ip-(?P<a>[0-9]+)[.]example[.]com[.]$", "(?P<b>x)"]
    assert [str(x) for x in t.answer] == ["{{.Name}} 60 IN A 10.0.0.{{.Group.a}}", "{{.Name}} 60 IN A 10.0.1.1"]
    assert len(t.additional) == 1 and len(t.authority) == 1
    assert t.fall == Fall(["example.com."])
    assert (second.qclass, second.qtype) == (3, 16)
    assert p.zones == ["example.com.", "domain.com.", "dynamic.domain.com."]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("template ANY ANY (?P<x>", id="odd-zone"),
        pytest.param("template ANY ANY {\n }", id="empty-block"),
        pytest.param('template ANY ANY {\n  answer "{{ parseInt }}"\n }', id="parseInt-compiles"),
        pytest.param(
            "template IN ANY example.com {\n  match \"[.](example[.]com[.]dc1[.]example[.]com[.])$\"\n"
            "  rcode NXDOMAIN\n"
            '  authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com '
            '(1 60 60 60 60)"\n  fallthrough example.com\n }',
            id="readme-nxdomain",
        ),
    ],
)
def test_valid(body: str) -> None:
    plugin_of(" " + body)


def E(line: int, msg: str) -> str:
    return f"plugin/template: Corefile:{line} - Error during parsing: {msg}"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("template", E(2, "Wrong argument count or unexpected line ending after 'template'"), id="none"),
        pytest.param("template X", E(2, "invalid query class X"), id="bad-class"),
        pytest.param("template in A", E(2, "invalid query class in"), id="class-case-sensitive"),
        pytest.param("template ANY", E(2, "Wrong argument count or unexpected line ending after 'ANY'"), id="no-type"),
        pytest.param("template ANY X", E(2, "invalid RR class X"), id="bad-type"),
        pytest.param(
            "template ANY ANY .* {\n  notavailable\n }",
            E(3, "Wrong argument count or unexpected line ending after 'notavailable'"),
            id="unknown-option",
        ),
        pytest.param(
            "template ANY ANY {\n  answer\n }",
            E(3, "Wrong argument count or unexpected line ending after 'answer'"),
            id="answer-empty",
        ),
        pytest.param(
            "template ANY ANY {\n  additional\n }",
            E(3, "Wrong argument count or unexpected line ending after 'additional'"),
            id="additional-empty",
        ),
        pytest.param(
            "template ANY ANY {\n  match\n }",
            E(3, "Wrong argument count or unexpected line ending after 'match'"),
            id="match-empty",
        ),
        pytest.param(
            "template ANY ANY {\n  rcode\n }",
            E(3, "Wrong argument count or unexpected line ending after 'rcode'"),
            id="rcode-empty",
        ),
        pytest.param("template ANY ANY {\n  rcode UNDEFINED\n }", E(3, "unknown rcode UNDEFINED"), id="rcode-bad"),
        pytest.param(
            'template ANY ANY {\n  answer "{{"\n }',
            E(3, "could not compile template: {{, template: answer:1: unclosed action"),
            id="answer-unclosed",
        ),
        pytest.param(
            'template ANY ANY {\n  authority "{{"\n }',
            E(3, "could not compile template: {{, template: authority:1: unclosed action\n"),
            id="authority-unclosed",
        ),
        pytest.param(
            'template ANY ANY {\n  answer "{{ notAFunction }}"\n }',
            E(3, 'could not compile template: {{ notAFunction }}, template: answer:1: function "notAFunction" '
              "not defined"),
            id="unknown-function",
        ),
        pytest.param(
            'template ANY ANY {\n  answer "{{ range .Match }}x"\n }',
            E(3, "could not compile template: {{ range .Match }}x, template: answer:1: unexpected EOF"),
            id="range-unclosed",
        ),
        pytest.param(
            'template ANY ANY {\n  answer "{{ $ip }}"\n }',
            E(3, 'could not compile template: {{ $ip }}, template: answer:1: undefined variable "$ip"'),
            id="undefined-variable",
        ),
        pytest.param(
            "template ANY ANY {\n  match " + "a" * 10001 + "\n }",
            E(3, "regex pattern too long: 10001 > 10000"),
            id="regex-too-long",
        ),
        pytest.param(
            'template ANY ANY invalid {\n  rcode NXDOMAIN\n  ederror invalid "Blocked according to RFC2606"\n }',
            E(4, 'error parsing extended DNS error code Blocked according to RFC2606, strconv.ParseUint: parsing '
              '"invalid": invalid syntax\n'),
            id="ederror-not-a-number",
        ),
        pytest.param(
            "template ANY ANY invalid {\n  ederror too many arguments\n }",
            E(3, "Wrong argument count or unexpected line ending after 'arguments'"),
            id="ederror-too-many",
        ),
        pytest.param(
            "template ANY ANY invalid {\n  ederror\n }",
            E(3, "Wrong argument count or unexpected line ending after 'ederror'"),
            id="ederror-none",
        ),
        pytest.param(
            "template ANY ANY invalid {\n  ederror 65536\n }",
            E(3, 'error parsing extended DNS error code 65536, strconv.ParseUint: parsing "65536": value out of '
              "range\n"),
            id="ederror-out-of-range",
        ),
    ],
)
def test_errors(body: str, error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(f". {{\n {body}\n}}\n")
    assert str(got.value) == error


def test_bad_regex_names_it() -> None:
    with pytest.raises(PyCoreDNSError) as got:
        load(". {\n template ANY ANY {\n  match [a\n }\n}\n")
    assert str(got.value).startswith(E(3, "could not parse regex: [a, error parsing regexp: "))


# CoreDNS's TestSetupParse (setup_test.go), row by row: accepted or rejected alike.
COREDNS_SETUP_PARSE = [
    ("template", True),
    ("template X", True),
    ("template ANY", True),
    ("template ANY X", True),
    ("template ANY ANY .* {\n notavailable\n }", True),
    ("template ANY ANY {\n answer\n }", True),
    ("template ANY ANY {\n additional\n }", True),
    ("template ANY ANY {\n rcode\n }", True),
    ("template ANY ANY {\n rcode UNDEFINED\n }", True),
    ('template ANY ANY {\n answer "{{"\n }', True),
    ('template ANY ANY {\n additional "{{"\n }', True),
    ('template ANY ANY {\n authority "{{"\n }', True),
    ('template ANY ANY {\n answer "{{ notAFunction }}"\n }', True),
    (
        'template ANY ANY {\n answer "{{ parseInt }}"\n additional "{{ parseInt }}"\n'
        ' authority "{{ parseInt }}"\n }',
        False,
    ),
    ("template ANY ANY (?P<x>", False),
    ("template ANY ANY {\n\n }", False),
    (
        "template ANY A example.com {\n"
        " match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n"
        ' answer "{{ .Name }} A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Grup.d }}."\n fallthrough\n }',
        False,
    ),
    (
        "template ANY AAAA example.com {\n"
        " match ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]com\n"
        ' authority "example.com 60 IN SOA ns.example.com hostmaster.example.com (1 60 60 60 60)"\n fallthrough\n }',
        False,
    ),
    (
        'template IN ANY example.com {\n match "[.](example[.]com[.]dc1[.]example[.]com[.])$"\n rcode NXDOMAIN\n'
        ' authority "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.example.com (1 60 60 60 60)"\n'
        " fallthrough example.com\n }",
        False,
    ),
    (
        "template IN A example {\n match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n }\n'
        "template IN MX example. {\n match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n'
        ' additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n }',
        False,
    ),
    (
        "template IN A example {\n match ^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$\n"
        ' answer "{{ .Name }} 3600 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.'
        '{{ parseInt .Group.d 16 8 }}"\n }',
        False,
    ),
    (
        "template IN MX example {\n match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$\n"
        ' answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"\n'
        ' additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
        ' authority  "example. 60 IN NS ns0.example."\n authority  "example. 60 IN NS ns1.example."\n'
        ' additional "ns0.example. 60 IN A 203.0.113.8"\n additional "ns1.example. 60 IN A 198.51.100.8"\n }',
        False,
    ),
    (
        'template ANY ANY invalid {\n rcode NXDOMAIN\n authority "invalid. 60 {{ .Class }} SOA ns.invalid. '
        'hostmaster.invalid. (1 60 60 60 60)"\n ederror 21 "Blocked according to RFC2606"\n }',
        False,
    ),
    (
        'template ANY ANY invalid {\n rcode NXDOMAIN\n authority "invalid. 60 {{ .Class }} SOA ns.invalid. '
        'hostmaster.invalid. (1 60 60 60 60)"\n ederror invalid "Blocked according to RFC2606"\n }',
        True,
    ),
    (
        'template ANY ANY invalid {\n rcode NXDOMAIN\n authority "invalid. 60 {{ .Class }} SOA ns.invalid. '
        'hostmaster.invalid. (1 60 60 60 60)"\n ederror too many arguments\n }',
        True,
    ),
]


@pytest.mark.parametrize(
    ("body", "should_err"), COREDNS_SETUP_PARSE, ids=[str(i) for i in range(len(COREDNS_SETUP_PARSE))]
)
def test_coredns_setup_parse_table(body: str, should_err: bool) -> None:
    corefile = f"domain.com.:8053 dynamic.domain.com.:8053 {{\n{body}\n}}\n"
    if should_err:
        with pytest.raises(PyCoreDNSError, match="^plugin/template: Corefile:"):
            load(corefile)
    else:
        load(corefile)
