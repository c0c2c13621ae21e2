"""template answering: regex groups, sections, rcode, fallthrough, failures and metrics."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.plugin import Plugin
from pycoredns.plugins.template import metrics
from pycoredns.plugins.template.gotemplate import GoMap, Template, TemplateError
from pycoredns.plugins.template.handler import TemplatePlugin
from pycoredns.request import Request
from pycoredns.server.config import load
from pycoredns.testing import make_request
from pycoredns.testing.handler import run

NEXT_RCODE = 5


class Recorder(Plugin):
    name = "recorder"

    def __init__(self) -> None:
        super().__init__(None)
        self.seen: list[str] = []

    def serve(self, req: Request) -> int:
        self.seen.append(req.name)
        return NEXT_RCODE


def plugin(body: str, keys: str = ".") -> tuple[TemplatePlugin, Recorder]:
    inst = load(f"{keys} {{\n{body}\n}}\n")
    (handler,) = [h for h in inst.configs[0].handlers if isinstance(h, TemplatePlugin)]
    rec = Recorder()
    handler.next = rec
    return handler, rec


def ask(h: TemplatePlugin, name: str, qtype: str = "A") -> tuple[int, dnslib.DNSRecord | None]:
    return run(h, make_request(name, qtype, server="dns://:8053"))


def texts(records: list[dnslib.RR]) -> list[str]:
    return [f"{rr.rname} {rr.ttl} {dnslib.CLASS[rr.rclass]} {dnslib.QTYPE[rr.rtype]} {rr.rdata}" for rr in records]


IP_TEMPLATE = (
    " template IN A example {\n"
    "  match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]$\n"
    '  answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"\n'
    '  additional "{{ .Name }} 60 IN TXT \\"{{ .Remote }} {{ .Zone }} {{ .Class }} {{ .Type }}\\""\n'
    '  authority "example. 60 IN NS ns0.example."\n'
    " }"
)


def test_regex_groups_and_sections() -> None:
    h, _ = plugin(IP_TEMPLATE)
    rcode, reply = ask(h, "IP-10-1-2-3.example.")
    assert rcode == 0 and reply is not None and reply.header.aa == 1
    assert texts(reply.rr) == ["ip-10-1-2-3.example. 60 IN A 10.1.2.3"]
    assert texts(reply.ar) == ['ip-10-1-2-3.example. 60 IN TXT "10.240.0.1 example. IN A"']
    assert texts(reply.auth) == ["example. 60 IN NS ns0.example."]
    assert str(reply.q.qname) == "IP-10-1-2-3.example."


def test_index_match_and_parse_int() -> None:
    h, _ = plugin(
        " template IN A example {\n"
        '  match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$"\n'
        '  answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt (index .Match 2) 16 8 }}.'
        '{{ index .Match 3 | printf \\"%s\\" | len }}"\n'
        " }"
    )
    _, reply = ask(h, "ip0a0b0cff.example.")
    assert reply is not None and texts(reply.rr) == ["ip0a0b0cff.example. 60 IN A 10.11.12.2"]


def test_nxdomain_with_soa() -> None:
    h, _ = plugin(
        " template ANY ANY invalid {\n  rcode NXDOMAIN\n"
        '  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n }'
    )
    rcode, reply = ask(h, "foo.invalid.", "AAAA")
    assert rcode == 3 and reply is not None and reply.rr == []
    assert texts(reply.auth) == ["invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"]


def test_rcode_servfail_is_left_to_the_server() -> None:
    h, _ = plugin(" template ANY ANY {\n  rcode SERVFAIL\n }")
    assert ask(h, "x.") == (2, None)


def test_no_regex_match_without_fallthrough_is_servfail() -> None:
    h, rec = plugin(IP_TEMPLATE)
    assert ask(h, "www.example.") == (2, None)
    assert rec.seen == []


def test_fallthrough_to_next_template_then_next_plugin() -> None:
    h, rec = plugin(
        " template IN A example {\n  match ^a[.]\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.1"\n  fallthrough\n }\n'
        " template IN A example {\n  match ^b[.]\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.2"\n  fallthrough\n }'
    )
    _, reply = ask(h, "b.example.")
    assert reply is not None and texts(reply.rr) == ["b.example. 60 IN A 10.0.0.2"]
    assert ask(h, "c.example.") == (NEXT_RCODE, None)
    assert rec.seen == ["c.example."]


def test_other_type_class_or_zone_goes_on() -> None:
    h, rec = plugin(IP_TEMPLATE)
    assert ask(h, "ip-1-2-3-4.example.", "AAAA") == (NEXT_RCODE, None)  # template for A only
    assert ask(h, "ip-1-2-3-4.other.") == (NEXT_RCODE, None)  # outside the zones
    assert rec.seen == ["ip-1-2-3-4.example.", "ip-1-2-3-4.other."]


def test_any_query_uses_the_template_type() -> None:
    h, _ = plugin(' template IN TXT example {\n  answer "{{ .Name }} 60 IN TXT {{ .Type }}"\n }')
    _, reply = ask(h, "x.example.", "ANY")
    assert reply is not None and texts(reply.rr) == ['x.example. 60 IN TXT "TXT"']


def test_failures_are_servfail_and_counted() -> None:
    h, _ = plugin(
        ' template IN A example {\n  match ^a[.]\n  answer "{{ index .Match 4 }}"\n  fallthrough\n }\n'
        ' template IN A example {\n  match ^b[.]\n  answer "{{ .Name }} 60 IN A not-an-ip"\n }'
    )
    metrics.template_failures.clear()
    metrics.rr_failures.clear()
    metrics.matches.clear()
    assert ask(h, "a.example.") == (2, None)
    assert ask(h, "b.example.") == (2, None)
    assert metrics.template_failures == {
        ("dns://:8053", "example.", "", "IN", "A", "answer", "{{index .Match 4}}"): 1
    }
    assert metrics.rr_failures == {
        ("dns://:8053", "example.", "", "IN", "A", "answer", "{{.Name}} 60 IN A not-an-ip"): 1
    }
    assert metrics.matches == {("dns://:8053", "example.", "", "IN", "A"): 2}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("{{ .Name }}", "a.example.", id="field"),
        pytest.param("{{ .Group.missing }}", "<no value>", id="missing-group"),
        pytest.param("{{ index .Group \"1\" }}", "a", id="index-map"),
        pytest.param("{{ .Match }}", "[a.example. a]", id="list"),
        pytest.param("{{- \" x \" -}} y", " x y", id="trim"),
        pytest.param("{{/* c */}}z", "z", id="comment"),
        pytest.param("{{ .Meta \"kubernetes/namespace\" }}", "", id="meta"),
        pytest.param("{{ parseInt \"0x1f\" 0 8 }}", "31", id="parseInt-base0"),
        pytest.param("{{ eq .Type \"A\" }}", "true", id="eq"),
        pytest.param("{{ if eq .Type \"A\" }}4{{ else }}6{{ end }}", "4", id="if"),
        pytest.param("{{ if .Group.missing }}x{{ else if .Match }}m{{ else }}e{{ end }}", "m", id="else-if"),
        pytest.param("{{ if .Var }}x{{ else if not .Match }}m{{ else }}e{{ end }}!", "e!", id="else-if-else"),
        pytest.param("{{ if .Name }}{{ if .Var }}a{{ else }}b{{ end }}{{ end }}", "b", id="nested"),
        pytest.param("{{ if .Var.num }}{{ .Var.num }}{{ end }}", "2", id="var"),
        pytest.param("{{ .Var.ratio }} {{ .Var.flag }} {{ .Var.list }}", "1.5 true [1 2]", id="var-values"),
    ],
)
def test_template_language(text: str, want: str) -> None:
    data = {"Name": "a.example.", "Match": ["a.example.", "a"], "Group": GoMap({"0": "a.example.", "1": "a"}),
            "Type": "A", "Meta": lambda key: "", "Var": GoMap()}
    if "Var." in text:
        data["Var"] = GoMap({"num": 2, "ratio": 1.5, "flag": True, "list": [1, 2]})
    assert Template("answer", text).execute(data) == want


def test_if_prints_as_go_does() -> None:
    # The metrics' template label is Go's Tree.Root.String().
    t = Template("answer", "{{ if .A }}x{{ else if .B }}y{{ else }}z{{ end }}")
    assert str(t) == "{{if .A}}x{{else}}{{if .B}}y{{else}}z{{end}}{{end}}"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{{ end }}", "template: answer:1: unexpected {{end}}"),
        ("{{ else }}", "template: answer:1: unexpected {{else}}"),
        ("{{ if .A }}x", "template: answer:1: unexpected EOF"),
        ("{{ if .A }}x{{ else }}y{{ else }}z{{ end }}", "template: answer:1: unexpected {{else}}"),
        ("{{ if }}x{{ end }}", "template: answer:1: missing value for command"),
    ],
)
def test_if_errors(text: str, error: str) -> None:
    with pytest.raises(TemplateError) as got:
        Template("answer", text)
    assert str(got.value) == error
