"""template var, expr and ederror: CoreDNS's setup tables (setup_test.go) and handler tables
(var_test.go, expr_test.go, template_test.go), error texts included."""

from __future__ import annotations

import struct
from typing import Any

import dnslib
import pytest

from pycoredns import wire
from pycoredns.errors import PyCoreDNSError
from pycoredns.plugin import Plugin
from pycoredns.plugins.template.handler import TemplatePlugin
from pycoredns.request import Request
from pycoredns.server.config import load
from pycoredns.testing import make_request
from pycoredns.testing.handler import run

FALLTHROUGH = 5  # what the next handler answers (CoreDNS's tests use a sentinel rcode too)


class Next(Plugin):
    name = "next"

    def serve(self, req: Request) -> int:
        return FALLTHROUGH


def plugin(body: str) -> TemplatePlugin:
    inst = load(f". {{\n{body}\n}}\n")
    (handler,) = [h for h in inst.configs[0].handlers if isinstance(h, TemplatePlugin)]
    handler.next = Next(None)
    return handler


def E(line: int, msg: str) -> str:
    return f"plugin/template: Corefile:{line} - Error during parsing: {msg}"


def compile_error(name: str, source: str, col: int, msg: str) -> str:
    """CoreDNS's "could not compile expression" with expr's positioned message."""
    head = f"could not compile expression: {name + ', ' if name else ''}{msg} (1:{col})"
    return f"{head}\n | {source}\n | {'.' * (col - 1)}^"


# -- TestSetupParseVar ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "count"),
    [
        (["var a 1"], 1),
        (["var a 1", "var b a + 1", "var c 'x' + name()"], 3),
        (["match ^(?P<a>[a-z]+)[.]example[.]$", 'var a group("a") + group(1) + group(0)'], 1),
    ],
)
def test_var_valid(options: list[str], count: int) -> None:
    h = plugin(" template ANY ANY example. {\n" + "".join(f"  {o}\n" for o in options) + " }")
    assert [name for name, _ in h.templates[0].vars] == ["a", "b", "c"][:count]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["var"], E(3, "Wrong argument count or unexpected line ending after 'var'")),
        (["var a"], E(3, "Wrong argument count or unexpected line ending after 'a'")),
        (["var 1a 1"], E(3, 'invalid variable name "1a"')),
        (["var a-b 1"], E(3, 'invalid variable name "a-b"')),
        (["var name 1"], E(3, 'variable name "name" is reserved')),
        (["var group 1"], E(3, 'variable name "group" is reserved')),
        (["var len 1"], E(3, 'variable name "len" is reserved')),
        (["var true 1"], E(3, 'variable name "true" is reserved')),
        (["var let 1"], E(3, 'variable name "let" is reserved')),
        (["var a 1 +"], E(3, compile_error("a", "1 +", 3, "unexpected token EOF"))),
        (
            ["var a invalid expression"],
            E(3, compile_error("a", "invalid expression", 9, 'unexpected token Identifier("expression")')),
        ),
        (["var a b + 1", "var b 1"], E(3, compile_error("a", "b + 1", 1, "unknown name b"))),
        (["var a undefined"], E(3, compile_error("a", "undefined", 1, "unknown name undefined"))),
        (["var a 1", "var a 2"], E(4, 'variable name "a" is reserved')),
        (
            ["var a 1", "var b a + 1", "var c 'x' + b"],
            E(5, compile_error("c", "'x' + b", 5, "invalid operation: + (mismatched types string and int)")),
        ),
    ],
)
def test_var_invalid(options: list[str], error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        plugin(" template ANY ANY example. {\n" + "".join(f"  {o}\n" for o in options) + " }")
    assert str(got.value) == error


# -- TestSetupParseExpr ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "count"),
    [
        (["expr name() == 'a.example.'"], 1),
        (["expr name() == 'a.example.'", "expr incidr(client_ip(), '10.0.0.0/8')"], 2),
        (["var a 1", "expr a == 1"], 1),
        (["match ^(?P<a>[a-z]+)[.]example[.]$", "expr group('a') != ''"], 1),
        (["expr 1"], 1),
        (['expr "any([\'10.0.0.0/8\', \'192.168.0.0/16\'], incidr(client_ip(), #))"'], 1),
    ],
)
def test_expr_valid(options: list[str], count: int) -> None:
    h = plugin(" template ANY ANY example. {\n" + "".join(f"  {o}\n" for o in options) + " }")
    assert len(h.templates[0].exprs) == count


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["expr"], E(3, "Wrong argument count or unexpected line ending after 'expr'")),
        (["expr name() =="], E(3, compile_error("", "name() ==", 9, "unexpected token EOF"))),
        (
            ["expr invalid expression"],
            E(3, compile_error("", "invalid expression", 9, 'unexpected token Identifier("expression")')),
        ),
        (["expr undefined == 1"], E(3, compile_error("", "undefined == 1", 1, "unknown name undefined"))),
        (
            ["var a 1", "expr a + 'x'"],
            E(4, compile_error("", "a + 'x'", 3, "invalid operation: + (mismatched types int and string)")),
        ),
        (
            ["expr now() > 1"],
            E(3, compile_error("", "now() > 1", 7, "invalid operation: > (mismatched types time.Time and int)")),
        ),
        (["var a 1", "expr let a = 2; a"], E(4, compile_error("", "let a = 2; a", 1, "cannot redeclare a"))),
        (["expr let name = 2; 1"], E(3, compile_error("", "let name = 2; 1", 1, "cannot redeclare function name"))),
    ],
)
def test_expr_invalid(options: list[str], error: str) -> None:
    with pytest.raises(PyCoreDNSError) as got:
        plugin(" template ANY ANY example. {\n" + "".join(f"  {o}\n" for o in options) + " }")
    assert str(got.value) == error


# -- TestExpr and TestVar: the handler --------------------------------------------------------------
def serve(config: str, qname: str, qtype: str = "A", meta: dict[str, str] | None = None) -> tuple[int, Any]:
    h = plugin(config)
    req = make_request(qname, qtype)
    req.meta = meta
    return run(h, req)


def zone(texts: list[str]) -> list[str]:
    return [rr.toZone() for t in texts for rr in dnslib.RR.fromZone(t)]


def section(records: list[dnslib.RR]) -> list[str]:
    return [rr.toZone() for rr in records]


EXPR_CASES = [
    ("True", "expr name() == 'a.example.'", "a.example.", None, 0, ["a.example. 60 IN A 10.0.0.1"]),
    ("FalseServfail", "expr name() == 'b.example.'", "a.example.", None, 2, None),
    ("FalseFallthrough", "expr name() == 'b.example.'\n fallthrough", "a.example.", None, FALLTHROUGH, None),
    (
        "FalseFallthroughZoneMismatch",
        "expr name() == 'b.example.'\n fallthrough other.example.",
        "a.example.",
        None,
        2,
        None,
    ),
    (
        "AllTrue",
        "expr name() == 'a.example.'\n expr type() == 'A'\n expr incidr(client_ip(), '10.0.0.0/8')",
        "a.example.",
        None,
        0,
        ["a.example. 60 IN A 10.0.0.1"],
    ),
    (
        "LastFalse",
        "expr name() == 'a.example.'\n expr type() == 'A'\n expr incidr(client_ip(), '192.0.2.0/24')\n fallthrough",
        "a.example.",
        None,
        FALLTHROUGH,
        None,
    ),
    (
        "Metadata",
        "expr metadata('test/region') == 'eu'\n fallthrough",
        "a.example.",
        {"test/region": "eu"},
        0,
        ["a.example. 60 IN A 10.0.0.1"],
    ),
    (
        "MetadataMismatch",
        "expr metadata('test/region') == 'eu'\n fallthrough",
        "a.example.",
        {"test/region": "us"},
        FALLTHROUGH,
        None,
    ),
    ("NonBool", "expr 1\n fallthrough", "a.example.", None, FALLTHROUGH, None),
    ("RuntimeError", "expr incidr('notanip', '10.0.0.0/8')\n fallthrough", "a.example.", None, 2, None),
    (
        "NoMatchNoEvaluation",
        "match ^a[.]example[.]$\n expr incidr('notanip', '10.0.0.0/8')\n fallthrough",
        "b.example.",
        None,
        FALLTHROUGH,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "options", "qname", "meta", "rcode", "answer"), EXPR_CASES, ids=[c[0] for c in EXPR_CASES]
)
def test_expr(name: str, options: str, qname: str, meta: dict[str, str] | None, rcode: int, answer: Any) -> None:
    config = f" template IN A example. {{\n {options}\n answer \"{{{{ .Name }}}} 60 IN A 10.0.0.1\"\n }}"
    got, reply = serve(config, qname, meta=meta)
    assert got == rcode
    if answer is not None:
        assert reply is not None and section(reply.rr) == zone(answer)


def test_expr_false_falls_to_next_template() -> None:
    config = (
        " template IN A example. {\n  expr name() == 'b.example.'\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.1"\n  fallthrough\n }\n'
        ' template IN A example. {\n  answer "{{ .Name }} 60 IN A 10.0.0.2"\n }'
    )
    rcode, reply = serve(config, "a.example.")
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(["a.example. 60 IN A 10.0.0.2"])


@pytest.mark.parametrize(
    ("qname", "rcode", "answer"),
    [("2.example.", 0, ["2.example. 60 IN A 10.0.0.2"]), ("1.example.", FALLTHROUGH, None)],
)
def test_expr_uses_vars(qname: str, rcode: int, answer: list[str] | None) -> None:
    config = (
        " template IN A example. {\n  match ^(?P<n>[0-9]+)[.]example[.]$\n  var num int(group('n'))\n"
        '  expr num > 1\n  answer "{{ .Name }} 60 IN A 10.0.0.{{ .Var.num }}"\n  fallthrough\n }'
    )
    got, reply = serve(config, qname)
    assert got == rcode
    if answer is not None:
        assert reply is not None and section(reply.rr) == zone(answer)


def test_expr_uses_group() -> None:
    config = (
        " template IN A example. {\n  match ^(?P<n>[0-9]+)[.]example[.]$\n"
        "  expr group('n') == '2' && group(0) == '2.example.'\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.{{ .Group.n }}"\n  fallthrough\n }'
    )
    rcode, reply = serve(config, "2.example.")
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(["2.example. 60 IN A 10.0.0.2"])


# TestExprMatch: (matched, falls through)
@pytest.mark.parametrize(
    ("options", "matched", "fall"),
    [
        ("expr name() == 'a.example.'\n expr true\n fallthrough", True, False),
        ("expr false\n expr true\n fallthrough", False, True),
        ("expr false", False, False),
        ("expr incidr('notanip', '10.0.0.0/8')\n fallthrough", False, False),
    ],
)
def test_expr_match(options: str, matched: bool, fall: bool) -> None:
    h = plugin(f" template IN A example. {{\n {options}\n }}")
    data, falls = h.templates[0].match(make_request("a.example.", "A"))
    assert (data is not None, falls) == (matched, fall)


VAR_CASES = [
    ("Constant", ["var ttl 60"], ["{{ .Name }} {{ .Var.ttl }} IN A 10.0.0.1"], [], [], "a.example.", "A", None,
     0, ["a.example. 60 IN A 10.0.0.1"], [], []),
    ("Chained", ["var a 1", "var b a + 1", "var c b * 10"],
     ["{{ .Name }} 60 IN A 10.{{ .Var.a }}.{{ .Var.b }}.{{ .Var.c }}"], [], [], "a.example.", "A", None,
     0, ["a.example. 60 IN A 10.1.2.20"], [], []),
    ("GroupByNameAndIndex",
     ["match ^(?P<a>[0-9]+)-(?P<b>[0-9]+)[.]example[.]$", "var a group('a')", "var b group(2)", "var whole group(0)"],
     ["{{ .Var.whole }} 60 IN A 10.0.{{ .Var.a }}.{{ .Var.b }}"], [], [], "12-34.example.", "A", None,
     0, ["12-34.example. 60 IN A 10.0.12.34"], [], []),
    ("GroupMissing",
     ["match ^(?P<a>[a-z]+)[.]example[.]$", "var missing group('nosuchgroup') + group(9)"],
     ['{{ .Name }} 60 IN TXT \\"empty={{ eq .Var.missing \\"\\" }}\\"'], [], [], "a.example.", "TXT", None,
     0, ['a.example. 60 IN TXT "empty=true"'], [], []),
    ("QueryFunctions", ["var n name()", "var t type()", "var ip client_ip()"],
     ["{{ .Var.n }} 60 IN A {{ .Var.ip }}"], ['{{ .Var.n }} 60 IN TXT \\"{{ .Var.t }}\\"'], [], "a.example.", "A",
     None, 0, ["a.example. 60 IN A 10.240.0.1"], ['a.example. 60 IN TXT "A"'], []),
    ("Metadata", ["var region metadata('test/region')"], ["{{ .Var.region }}.{{ .Name }} 60 IN A 10.0.0.1"],
     [], [], "a.example.", "A", {"test/region": "eu"}, 0, ["eu.a.example. 60 IN A 10.0.0.1"], [], []),
    ("BoolInTemplateCondition", ["var local incidr(client_ip(), '10.0.0.0/8')"],
     ["{{ .Name }} 60 IN A {{ if .Var.local }}10.0.0.1{{ else }}192.0.2.1{{ end }}"], [], [], "a.example.", "A",
     None, 0, ["a.example. 60 IN A 10.0.0.1"], [], []),
    ("UsedInAllSections", ["var target 'ns0.example.'"], ["{{ .Name }} 60 IN A 10.0.0.1"],
     ["{{ .Var.target }} 60 IN A 10.0.0.2"], ["example. 60 IN NS {{ .Var.target }}"], "a.example.", "A", None,
     0, ["a.example. 60 IN A 10.0.0.1"], ["ns0.example. 60 IN A 10.0.0.2"], ["example. 60 IN NS ns0.example."]),
    ("NoVars", [], ['{{ .Name }} 60 IN TXT \\"{{ len .Var }}\\"'], [], [], "a.example.", "TXT", None,
     0, ['a.example. 60 IN TXT "0"'], [], []),
    ("RuntimeError", ["var bad incidr('notanip', '10.0.0.0/8')"], ["{{ .Name }} 60 IN A 10.0.0.1"], [], [],
     "a.example.", "A", None, 2, None, None, None),
    ("RuntimeErrorWithFallthrough", ["var bad incidr('notanip', '10.0.0.0/8')", "fallthrough"],
     ["{{ .Name }} 60 IN A 10.0.0.1"], [], [], "a.example.", "A", None, 2, None, None, None),
    ("NoMatchNoEvaluation", ["match ^a[.]example[.]$", "var bad incidr('notanip', '10.0.0.0/8')", "fallthrough"],
     ["{{ .Name }} 60 IN A 10.0.0.1"], [], [], "b.example.", "A", None, FALLTHROUGH, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "options", "answer", "additional", "authority", "qname", "qtype", "meta", "rcode", "want_an",
     "want_ar", "want_ns"),
    VAR_CASES,
    ids=[c[0] for c in VAR_CASES],
)  # fmt: skip
def test_var(
    name: str,
    options: list[str],
    answer: list[str],
    additional: list[str],
    authority: list[str],
    qname: str,
    qtype: str,
    meta: dict[str, str] | None,
    rcode: int,
    want_an: list[str] | None,
    want_ar: list[str] | None,
    want_ns: list[str] | None,
) -> None:
    lines = [*options]
    lines += [f'answer "{a}"' for a in answer]
    lines += [f'additional "{a}"' for a in additional]
    lines += [f'authority "{a}"' for a in authority]
    config = f" template IN {qtype} example. {{\n" + "".join(f"  {line}\n" for line in lines) + " }"
    got, reply = serve(config, qname, qtype, meta)
    assert got == rcode
    if rcode != 0:
        return
    assert reply is not None
    assert section(reply.rr) == zone(want_an or [])
    assert section([rr for rr in reply.ar if rr.rtype != 41]) == zone(want_ar or [])
    assert section(reply.auth) == zone(want_ns or [])


def test_var_scope_is_per_template() -> None:
    config = (
        " template IN A example. {\n  match ^a[.]example[.]$\n  var v '1'\n"
        '  answer "{{ .Name }} 60 IN A 10.0.0.{{ .Var.v }}"\n }\n'
        " template IN TXT example. {\n  match ^b[.]example[.]$\n"
        '  answer "{{ .Name }} 60 IN TXT \\"{{ len .Var }}\\""\n }'
    )
    rcode, reply = serve(config, "a.example.")
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(["a.example. 60 IN A 10.0.0.1"])
    rcode, reply = serve(config, "b.example.", "TXT")
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(['b.example. 60 IN TXT "0"'])


def test_var_values() -> None:
    # TestVarMatch: the variables as the templates see them.
    h = plugin(
        " template IN A example. {\n  match ^(?P<n>[0-9]+)[.]example[.]$\n  var num int(group('n'))\n"
        "  var double num * 2\n  var label 'x' + group('n')\n  var flag num > 1\n }"
    )
    data, _ = h.templates[0].match(make_request("2.example.", "A"))
    assert data is not None and dict(data["Var"]) == {"num": 2, "double": 4, "label": "x2", "flag": True}
    assert [type(v) for v in data["Var"].values()] == [int, int, str, bool]


def test_readme_device_example() -> None:
    config = (
        " template IN A example.com {\n"
        "  match ^(?P<ip>[0-9]{1,3}(-[0-9]{1,3}){3})[.](?P<id>[a-z2-7]{26})[.]example[.]com[.]$\n"
        "  var ip replace(group('ip'), '-', '.')\n"
        "  expr \"any(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'], incidr(ip, #))\"\n"
        '  answer "{{ .Name }} 60 IN A {{ .Var.ip }}"\n'
        "  fallthrough\n }"
    )
    device = "a" * 26
    rcode, reply = serve(config, f"192-168-1-20.{device}.example.com.")
    assert rcode == 0 and reply is not None
    assert section(reply.rr) == zone([f"192-168-1-20.{device}.example.com. 60 IN A 192.168.1.20"])
    rcode, _ = serve(config, f"8-8-8-8.{device}.example.com.")  # public: not answered
    assert rcode == FALLTHROUGH


# -- ederror ---------------------------------------------------------------------------------------
def ede_of(reply: Any) -> list[tuple[int, str]]:
    out = []
    for rr in reply.ar:
        if rr.rtype == wire.TYPE_OPT:
            for o in rr.rdata:
                if o.code == 15:
                    out.append((struct.unpack(">H", bytes(o.data)[:2])[0], bytes(o.data)[2:].decode()))
    return out


@pytest.mark.parametrize(("edns", "size"), [(None, 4096), (1232, 1232)])
def test_ederror_in_the_reply(edns: int | None, size: int) -> None:
    h = plugin(
        " template ANY ANY invalid {\n  rcode NXDOMAIN\n"
        '  authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"\n'
        '  ederror 21 "Blocked according to RFC2606"\n }'
    )
    rcode, reply = run(h, make_request("x.invalid.", "A", edns=edns))
    assert rcode == 3 and reply is not None
    assert ede_of(reply) == [(21, "Blocked according to RFC2606")]
    (opt,) = [rr for rr in reply.ar if rr.rtype == wire.TYPE_OPT]
    # CoreDNS sets the OPT with SetEdns0(4096, true): DO stays set; the client's size wins if it sent EDNS.
    assert opt.rclass == size and opt.ttl & 0x8000
    assert section(reply.auth) == zone(["invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"])


def test_ederror_without_reason() -> None:
    h = plugin(" template IN A example. {\n  ederror 15\n }")
    rcode, reply = run(h, make_request("a.example.", "A", edns=1232))
    assert rcode == 0 and reply is not None and ede_of(reply) == [(15, "")]


# -- a CNAME the template makes is followed (cname_test.go's TestTruncatedCNAME) ---------------------
class Upstub:
    """Answers every lookup with a set reply (CoreDNS's Upstub) and records what it was asked."""

    def __init__(self, answer: list[str], truncated: bool = False) -> None:
        self.answer, self.truncated = answer, truncated
        self.asked: list[tuple[str, int]] = []

    async def lookup(self, req: Request, name: str, qtype: int) -> bytes:
        self.asked.append((name, qtype))
        reply = dnslib.DNSRecord.question(name, dnslib.QTYPE[qtype]).reply()
        reply.header.tc = int(self.truncated)
        for text in self.answer:
            reply.add_answer(*dnslib.RR.fromZone(text))
        return bytes(reply.pack())


CNAME_TEMPLATE = (
    " template IN A test. {\n  match ^cname[.]test[.]$\n"
    '  answer "cname.test. 600 IN CNAME test.up."\n }'
)


def test_cname_is_followed_and_truncation_kept() -> None:
    h = plugin(CNAME_TEMPLATE)
    up = Upstub(["test.up. 600 IN A 1.2.3.4"], truncated=True)
    h.upstream = up
    rcode, reply = run(h, make_request("cname.test.", "A"))
    assert rcode == 0 and reply is not None and reply.header.tc == 1
    assert section(reply.rr) == zone(["cname.test. 600 IN CNAME test.up.", "test.up. 600 IN A 1.2.3.4"])
    assert up.asked == [("test.up.", 1)]


def test_cname_not_followed_for_other_types() -> None:
    h = plugin(CNAME_TEMPLATE.replace("IN A", "IN ANY"))
    up = Upstub(["test.up. 600 IN A 1.2.3.4"])
    h.upstream = up
    rcode, reply = run(h, make_request("cname.test.", "TXT"))
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(["cname.test. 600 IN CNAME test.up."])
    assert up.asked == []


def test_cname_lookup_that_cannot_run_adds_nothing() -> None:
    h = plugin(CNAME_TEMPLATE)  # loaded, never started: no listener answers the lookup
    rcode, reply = run(h, make_request("cname.test.", "A"))
    assert rcode == 0 and reply is not None and section(reply.rr) == zone(["cname.test. 600 IN CNAME test.up."])
