"""Go's text/template beyond if: range, with, define/template/block, variables, break/continue,
the escaping functions, slice and call, and the ``.Message`` field (outputs as Go gives them)."""

from __future__ import annotations

from typing import Any

import dnslib
import pytest

from pycoredns.plugins.template.gotemplate import GoMap, GoStruct, Template, TemplateError
from pycoredns.plugins.template.handler import message


def data() -> dict[str, Any]:
    return {
        "Name": "a.example.",
        "Match": ["a.example.", "a"],
        "Group": GoMap({"0": "a.example.", "1": "a", "ip": "10.0.0.1"}),
        "Type": "A",
        "Meta": lambda key: "ns1" if key == "kubernetes/namespace" else "",
        "Var": GoMap({"list": [3, 1, 2], "map": GoMap({"b": 2, "a": 1}), "empty": [], "n": 3, "s": "x<y&z"}),
    }


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("{{ range .Match }}[{{ . }}]{{ end }}", "[a.example.][a]", id="range-list"),
        pytest.param("{{ range $i, $v := .Match }}{{ $i }}={{ $v }};{{ end }}", "0=a.example.;1=a;", id="range-index"),
        pytest.param("{{ range $v := .Var.list }}{{ $v }}{{ end }}", "312", id="range-one-var"),
        pytest.param("{{ range $k, $v := .Var.map }}{{ $k }}:{{ $v }} {{ end }}", "a:1 b:2 ", id="range-map-sorted"),
        pytest.param("{{ range .Var.empty }}x{{ else }}none{{ end }}", "none", id="range-else"),
        pytest.param("{{ range .Var.n }}{{ . }}{{ end }}", "012", id="range-int"),
        pytest.param("{{ range .Var.list }}{{ if eq . 1 }}{{ break }}{{ end }}{{ . }}{{ end }}", "3", id="break"),
        pytest.param("{{ range .Var.list }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "32",
                     id="continue"),
        pytest.param("{{ with .Group.ip }}ip={{ . }}{{ end }}", "ip=10.0.0.1", id="with"),
        pytest.param("{{ with .Group.none }}x{{ else }}no{{ end }}", "no", id="with-else"),
        pytest.param("{{ with .Group.none }}x{{ else with .Group.ip }}{{ . }}{{ end }}", "10.0.0.1",
                     id="else-with"),
        pytest.param("{{ with $x := .Group.ip }}{{ $x }}{{ end }}", "10.0.0.1", id="with-decl"),
        pytest.param("{{ $x := .Name }}{{ $x }}", "a.example.", id="declare"),
        pytest.param("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2", id="assign-outer"),
        pytest.param("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "21", id="shadow"),
        pytest.param("{{ range .Match }}{{ $.Type }}{{ end }}", "AA", id="dollar"),
        pytest.param("{{ $g := .Group }}{{ $g.ip }}", "10.0.0.1", id="var-field"),
        pytest.param('{{ define "ip" }}{{ .ip }}{{ end }}{{ template "ip" .Group }}', "10.0.0.1", id="define-template"),
        pytest.param('{{ block "t" .Name }}<{{ . }}>{{ end }}', "<a.example.>", id="block"),
        pytest.param('{{ template "x" }}{{ define "x" }}X{{ end }}', "X", id="define-after-use"),
        pytest.param('{{ define "x" }} {{ end }}{{ define "x" }}Y{{ end }}{{ template "x" }}', "Y",
                     id="redefine-empty"),
        pytest.param('{{ html "<a href=\\"x\\">&\'" }}', "&lt;a href=&#34;x&#34;&gt;&amp;&#39;", id="html"),
        pytest.param('{{ js "it\'s <b> & \\"q\\" =\\n" }}', "it\\'s \\u003Cb\\u003E \\u0026 \\\"q\\\" \\u003D\\u000A",
                     id="js"),
        pytest.param('{{ urlquery "a b&c=d/é~" }}', "a+b%26c%3Dd%2F%C3%A9~", id="urlquery"),
        pytest.param("{{ .Var.s | html }}", "x&lt;y&amp;z", id="html-piped"),
        pytest.param("{{ html 1 2 }}", "1 2", id="html-sprint"),
        pytest.param("{{ slice .Name 2 }}", "example.", id="slice-string"),
        pytest.param("{{ slice .Var.list 1 2 }}", "[1]", id="slice-list"),
        pytest.param("{{ slice .Match }}", "[a.example. a]", id="slice-all"),
        pytest.param("{{ (index .Match 1) }}{{ len .Match }}", "a2", id="paren"),
        pytest.param("{{ printf \"%d-%s\" 'a' .Type }}", "97-A", id="char-constant"),
        pytest.param("{{ 1.5 }} {{ 0x10 }}", "1.5 16", id="numbers"),
    ],
)
def test_language(text: str, want: str) -> None:
    assert Template("answer", text).execute(data()) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{ range $i, $v := .A }}x{{ else }}y{{ end }}", "{{range $i, $v := .A}}x{{else}}y{{end}}"),
        ("{{ with $x := .A }}{{ $x.B }}{{ end }}", "{{with $x := .A}}{{$x.B}}{{end}}"),
        ('{{ block "b" . }}x{{ end }}', '{{template "b" .}}'),
        ("{{ range .A }}{{ break }}{{ continue }}{{ end }}", "{{range .A}}{{break}}{{continue}}{{end}}"),
        ("{{ $x := 1 }}{{ $x = 2 }}", "{{$x := 1}}{{$x = 2}}"),
    ],
)
def test_prints_as_go_does(text: str, want: str) -> None:
    assert str(Template("answer", text)) == want


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{{ $x }}", 'template: answer:1: undefined variable "$x"'),
        ("{{ $x = 1 }}", 'template: answer:1: undefined variable "$x"'),
        ("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", 'template: answer:1: undefined variable "$x"'),
        ("{{ break }}", "template: answer:1: {{break}} outside {{range}}"),
        ("{{ $a, $b := .Match }}", "template: answer:1: too many declarations in command"),
        ('{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}',
         'template: answer:1: template: multiple definition of template "x"'),
        ("{{ continue }}", "template: answer:1: {{continue}} outside {{range}}"),
        ("{{ range .A }}x", "template: answer:1: unexpected EOF"),
        ('{{ if true }}{{ define "x" }}{{ end }}{{ end }}', "template: answer:1: unexpected <define> in command"),
        ("{{ template .Name }}", "template: answer:1: unexpected '.Name' in template clause"),
        ('{{ define "x" }}{{ $y := 1 }}{{ end }}{{ $y }}', 'template: answer:1: undefined variable "$y"'),
    ],
)
def test_parse_errors(text: str, error: str) -> None:
    with pytest.raises(TemplateError) as got:
        Template("answer", text)
    assert str(got.value) == error


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{{ template "nope" }}', 'template: answer:1: executing "answer" at <{{template "nope"}}>: '
         'template "nope" not defined'),
        ("{{ slice .Name 3 1 }}", 'template: answer:1: executing "answer" at <slice .Name 3 1>: '
         "error calling slice: invalid slice index: 3 > 1"),
        ("{{ slice .Name 99 }}", 'template: answer:1: executing "answer" at <slice .Name 99>: '
         "error calling slice: index out of range: 99"),
        # as in CoreDNS: the data holds no function values (Meta is a method), so call can only fail
        ('{{ call .Meta "kubernetes/namespace" }}', 'template: answer:1: executing "answer" at '
         '<call .Meta "kubernetes/namespace">: wrong number of args for Meta: want 1 got 0'),
        ("{{ call .Name }}", 'template: answer:1: executing "answer" at <call .Name>: '
         "error calling call: non-function of type string"),
        ("{{ range .Name }}{{ end }}", 'template: answer:1: executing "answer" at <.Name>: '
         "range can't iterate over a.example."),
        ("{{ .Meta }}", 'template: answer:1: executing "answer" at <.Meta>: '
         "wrong number of args for Meta: want 1 got 0"),
        ('{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}', None),
    ],
)
def test_execution_errors(text: str, error: str | None) -> None:
    with pytest.raises(TemplateError) as got:
        Template("answer", text).execute(data())
    if error is not None:
        assert str(got.value) == error
    else:
        assert "exceeded maximum template depth" in str(got.value)


def _query() -> dnslib.DNSRecord:
    q = dnslib.DNSRecord.question("Www.Example.org", "AAAA")
    q.header.id = 4242
    q.add_ar(dnslib.EDNS0(udp_len=1232, flags="do"))
    return dnslib.DNSRecord.parse(q.pack())


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{ .Message.Id }} {{ .Message.Opcode }} {{ .Message.RecursionDesired }} {{ .Message.Response }}",
         "4242 0 true false"),
        ("{{ .Message.MsgHdr.Id }} {{ .Message.Rcode }}", "4242 0"),
        ("{{ (index .Message.Question 0).Name }} {{ (index .Message.Question 0).Qtype }}", "Www.Example.org. 28"),
        ("{{ range .Message.Question }}{{ .Name }}/{{ .Qclass }}{{ end }}", "Www.Example.org./1"),
        ("{{ range .Message.Extra }}{{ .Hdr.Rrtype }} {{ .Header.Class }}{{ end }}", "41 1232"),
        ("{{ len .Message.Answer }} {{ len .Message.Extra }}", "0 1"),
        ("{{ with index .Message.Question 0 }}{{ . }}{{ end }}", ";Www.Example.org.\tIN\t AAAA"),
        ("{{ gt .Message.Len 12 }}", "true"),
    ],
)
def test_message(text: str, want: str) -> None:
    d = data()
    d["Message"] = message(_query())
    assert Template("answer", text).execute(d) == want


def test_message_unknown_field() -> None:
    d = data()
    d["Message"] = message(_query())
    with pytest.raises(TemplateError) as got:
        Template("answer", "{{ .Message.Nope }}").execute(d)
    assert str(got.value) == ('template: answer:1: executing "answer" at <.Message.Nope>: '
                              "can't evaluate field Nope in type *dns.Msg")
    assert isinstance(d["Message"], GoStruct)
