"""Parse ``template CLASS TYPE [ZONES...] { match; answer; additional; authority; rcode; ... }``.

Every occurrence adds one template; they are tried in file order. Templates are compiled here so
a bad one fails the Corefile rather than a query.
"""

from __future__ import annotations

import re

from pycoredns.plugin import Controller, Fall, dns, expr, go_strconv_quote, goregex, parse_uint
from pycoredns.plugins.template import metrics
from pycoredns.plugins.template.gotemplate import Template, TemplateError
from pycoredns.plugins.template.handler import TemplatePlugin, TemplateRule, expr_env

# A variable's name, before the checks that it names nothing else (CoreDNS's varNameRegexp).
VAR_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def setup(c: Controller) -> None:
    templates: list[TemplateRule] = []
    all_zones: list[str] = []
    while c.next():
        qclass = dns.CLASSES.get(c.one_arg())
        if qclass is None:
            raise c.errf("invalid query class %s", c.val())
        qtype = dns.TYPES.get(c.one_arg())
        if qtype is None:
            raise c.errf("invalid RR class %s", c.val())
        zones = c.zones_or_block(c.remaining_args())
        all_zones.extend(zones)
        t = TemplateRule(qclass, qtype, zones, env=expr_env())
        while c.next_block():
            _option(c, t)
        if not t.regexes:
            t.regexes.append(re.compile(".*"))
        templates.append(t)
    metrics.register(c)
    upstream = c.upstream
    c.add_plugin(lambda next: TemplatePlugin(next, templates, all_zones, upstream))


def _option(c: Controller, t: TemplateRule) -> None:
    option = c.val()
    if option == "match":
        for regex in c.remaining_args(at_least=1):
            if len(regex) > goregex.MAX_REGEXP_LEN:
                raise c.errf("regex pattern too long: %d > %d", len(regex), goregex.MAX_REGEXP_LEN)
            try:
                t.regexes.append(goregex.compile_go(regex))
            except re.error as e:
                raise c.errf("could not parse regex: %s, error parsing regexp: %s", regex, e) from None
    elif option in ("answer", "additional", "authority"):
        section: list[Template] = getattr(t, option)
        for text in c.remaining_args(at_least=1):
            try:
                section.append(Template(option, text))
            except TemplateError as e:
                # CoreDNS's message for additional and authority ends in a newline; so does ours.
                end = "" if option == "answer" else "\n"
                raise c.errf("could not compile template: %s, %s%s", c.val(), e, end) from None
    elif option == "rcode":
        rcode = dns.RCODES.get(c.one_arg())
        if rcode is None:
            raise c.errf("unknown rcode %s", c.val())
        t.rcode = rcode
    elif option == "fallthrough":
        t.fall = Fall.from_args(c.remaining_args())
    elif option == "var":
        _var(c, t)
    elif option == "expr":
        args = c.remaining_args(at_least=1)
        try:
            t.exprs.append(expr.compile(" ".join(args), t.env))
        except expr.CompileError as e:
            raise c.errf("could not compile expression: %s", e) from None
    elif option == "ederror":
        args = c.remaining_args(at_least=1, at_most=2)
        try:
            code = parse_uint(args[0], 16)
        except ValueError as e:
            # CoreDNS names the last argument here, and ends the message with a newline.
            raise c.errf("error parsing extended DNS error code %s, %s\n", c.val(), e) from None
        t.ederror = (code, args[1] if len(args) == 2 else "")
    elif option == "upstream":
        c.remaining_args()  # accepted and ignored, as CoreDNS does
    else:
        raise c.arg_err()


def _var(c: Controller, t: TemplateRule) -> None:
    """``var NAME EXPRESSION``: checked against what the template declared so far."""
    args = c.remaining_args(at_least=2)
    name = args[0]
    if not VAR_NAME.fullmatch(name):
        raise c.errf("invalid variable name %s", go_strconv_quote(name))
    if name in t.env or name in expr.BUILTIN_NAMES or not expr.is_identifier(name):
        raise c.errf("variable name %s is reserved", go_strconv_quote(name))
    try:
        program = expr.compile(" ".join(args[1:]), t.env)
    except expr.CompileError as e:
        raise c.errf("could not compile expression: %s, %s", name, e) from None
    # As CoreDNS: later expressions see the variable with its result's type (any if unknown).
    t.env.add_variable(name, expr.ANY if program.type == expr.NIL else program.type)
    t.vars.append((name, program))
