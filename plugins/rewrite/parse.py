"""Build rewrite rules from their arguments, with CoreDNS's validation and error texts.

These errors carry no file and line (CoreDNS's rule constructors return plain errors); setup
prefixes them with ``plugin/rewrite: ``.
"""

from __future__ import annotations

import re

from pycoredns.plugin import ConfigError, dns, goregex, parse_uint
from pycoredns.plugins.rewrite.response import RcodeRule, ResponseRule, TTLRule
from pycoredns.plugins.rewrite.rules import (
    CONTINUE,
    STOP,
    ClassRule,
    NameMatch,
    NameRule,
    ResponseOnlyRule,
    Rule,
    TypeRule,
)
from pycoredns.plugins.rewrite.strings import NameResponse, RegexRewriter, SuffixRewriter, ValueResponse

# Fields CoreDNS has that this build rejects by name rather than silently ignoring.
UNSUPPORTED = {
    "edns0": "edns0 rules are not supported by this build of rewrite",
    "cname": "cname rules are not supported by this build of rewrite",
}


class RuleError(ConfigError):
    """A rewrite rule is invalid."""


def normalize(name: str) -> str:
    """CoreDNS's ``plugin.Name(n).Normalize()``: lower-case and fully qualified."""
    return (name if name.endswith(".") else name + ".").lower()


def new_rule(args: list[str]) -> Rule:
    if not args:
        raise RuleError("no rule type specified for rewrite")
    first = args[0].lower()
    mode = STOP
    if first in (CONTINUE, STOP):
        mode = first
        if len(args) < 2:
            raise RuleError(f"{first} rule must begin with a rule type")
        field, rest, expect = args[1].lower(), args[2:], len(args) - 1
    else:
        field, rest, expect = first, args[1:], len(args)

    if field == "answer":
        raise RuleError("response rewrites must begin with a name rule")
    if field == "name":
        return _name_rule(mode, rest)
    if field in ("class", "type"):
        if expect != 3:
            raise RuleError(f"{field} rules must have exactly two arguments")
        table = dns.CLASSES if field == "class" else dns.TYPES
        frm, to = rest[0].upper(), rest[1].upper()
        for value in (frm, to):
            if value not in table:
                raise RuleError(f'invalid {field} "{value}"')
        if field == "class":
            return ClassRule(mode, table[frm], table[to])
        return TypeRule(mode, table[frm], table[to])
    if field == "ttl":
        return _ttl_rule(mode, rest)
    if field == "rcode":
        return _rcode_rule(mode, rest)
    if field in UNSUPPORTED:
        raise RuleError(UNSUPPORTED[field])
    raise RuleError(f'invalid rule type "{args[0]}"')


def _subexp_usage(text: str) -> int:
    return sum(1 for i in range(101) if "{" + str(i) + "}" in text)


def valid_regex(pattern: str, replacement: str) -> re.Pattern[str]:
    """CoreDNS's isValidRegexPattern: length cap, compiles, no more {N} than groups."""
    if len(pattern) > goregex.MAX_REGEXP_LEN:
        raise RuleError(f"regex pattern too long: {len(pattern)} > {goregex.MAX_REGEXP_LEN}")
    try:
        compiled = goregex.compile_go(pattern)
    except re.error:
        raise RuleError(f"invalid regex matching pattern: {pattern}") from None
    if _subexp_usage(replacement) > compiled.groups:
        raise RuleError(
            f"the rewrite regex pattern ({replacement}) uses more subexpressions than its "
            f"corresponding matching regex pattern ({pattern})"
        )
    return compiled


def _name_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError("too few arguments for a name rule")
    if len(args) == 2:
        kind, frm, to = "exact", normalize(args[0]), normalize(args[1])
    else:
        kind = args[0].lower()
        if kind == "regex":
            frm, to = args[1], args[2]
        else:
            frm, to = normalize(args[1]), normalize(args[2])

    auto = False
    answers: list[ResponseRule] = []
    if len(args) > 3:
        auto, answers = _answer_rules(kind, args[3:])

    if kind == "exact":
        valid_regex(to, frm)  # CoreDNS checks these as a pattern too
        return NameRule(mode, kind, frm, to, True, answers)
    if kind in ("prefix", "substring"):
        return NameRule(mode, kind, frm, to, auto, answers)
    if kind == "suffix":
        rules: list[ResponseRule] = []
        if auto:
            # Reverting a suffix rewrite is the same rewrite the other way round.
            back = SuffixRewriter(to, frm)
            rules = [NameResponse(back), ValueResponse(back)]
        return NameRule(mode, kind, frm, to, False, rules + answers)
    if kind == "regex":
        pattern = valid_regex(frm, to)
        return NameRule(mode, kind, frm, normalize(args[2]), auto, answers, pattern)
    raise RuleError(
        "name rule supports only exact, prefix, suffix, substring, and regex name matching, "
        f"received: {kind}"
    )


def _answer_rules(kind: str, args: list[str]) -> tuple[bool, list[ResponseRule]]:
    """``answer auto | answer name FROM TO | answer value FROM TO``, repeated."""
    if len(args) < 2:
        raise RuleError(f"invalid arguments for {kind} rule")
    auto = False
    rules: list[ResponseRule] = []
    name_rules = 0
    last = ""
    i = 0
    while i < len(args):
        if last == "" and args[i] != "answer":
            raise RuleError(f"exceeded the number of arguments for a non-answer rule argument for {kind} rule")
        if args[i] == "answer":
            i += 1
        if i == len(args):
            raise RuleError(f"type missing for answer rule for {kind} rule")
        last = args[i]
        i += 1
        if last == "auto":
            auto = True
            continue
        if last not in ("name", "value"):
            raise RuleError(f'invalid type "{last}" for answer rule for {kind} rule')
        if len(args) - i < 2:
            raise RuleError(f"{last} answer rule for {kind} rule: 2 arguments required")
        try:
            pattern = valid_regex(args[i], args[i + 1])
        except RuleError as e:
            raise RuleError(f"{last} answer rule for {kind} rule: {e}") from None
        rewriter = RegexRewriter(pattern, normalize(args[i + 1]))
        if last == "name":
            rules.append(NameResponse(rewriter))
            name_rules += 1
        else:
            rules.append(ValueResponse(rewriter))
        i += 2
    if auto and name_rules > 0:
        raise RuleError("auto name answer rule cannot be combined with explicit name anwer rules")
    return auto, rules


def _name_match(field: str, kind: str, text: str) -> NameMatch:
    kind = kind.lower()
    if kind in ("exact", "prefix", "suffix", "substring"):
        return NameMatch(kind, normalize(text))
    if kind == "regex":
        if len(text) > goregex.MAX_REGEXP_LEN:
            raise RuleError(f"regex pattern too long in a {field} rule: {len(text)} > {goregex.MAX_REGEXP_LEN}")
        try:
            return NameMatch(kind, text, goregex.compile_go(text))
        except re.error:
            raise RuleError(f"invalid regex pattern in a {field} rule: {text}") from None
    raise RuleError(f"{field} rule supports only exact, prefix, suffix, substring, and regex name matching")


def _parse_uint32(text: str) -> int | None:
    try:
        return parse_uint(text, 32)
    except ValueError:
        return None


def _ttl_range(text: str) -> tuple[int, int] | None:
    parts = text.split("-")
    if len(parts) == 1:
        v = _parse_uint32(parts[0])
        return None if v is None else (v, v)
    if len(parts) != 2:
        return None
    low_text, high_text = parts
    if low_text == "" and high_text == "":
        return None  # "-" would mean 0-2147483647: rejected as useless
    low = 0 if low_text == "" else _parse_uint32(low_text)
    high = 2147483647 if high_text == "" else _parse_uint32(high_text)
    if low is None or high is None or low > high:
        return None
    return low, high


def _ttl_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError(f"too few ({len(args)}) arguments for a ttl rule")
    value = args[1] if len(args) == 2 else args[2] if len(args) == 3 else ""
    got = _ttl_range(value)
    if got is None:
        raise RuleError(f"invalid TTL '{value}' for a ttl rule")
    response = TTLRule(*got)
    if len(args) == 3:
        return ResponseOnlyRule(mode, _name_match("ttl", args[0], args[1]), response)
    if len(args) > 3:
        raise RuleError("many few arguments for a ttl rule")
    return ResponseOnlyRule(mode, NameMatch("exact", normalize(args[0])), response)


def _rcode(text: str) -> int | None:
    v = _parse_uint32(text)
    if v is not None and v <= 23:
        return v
    return dns.RCODES.get(text.upper())


def _rcode_rule(mode: str, args: list[str]) -> Rule:
    if len(args) < 3:
        raise RuleError(f"too few ({len(args)}) arguments for a rcode rule")
    old_text, new_text = (args[1], args[2]) if len(args) == 3 else (args[2], args[3]) if len(args) == 4 else ("", "")
    old = _rcode(old_text)
    if old is None:
        raise RuleError(f"invalid matching RCODE '{old_text}' for a rcode rule")
    new = _rcode(new_text)
    if new is None:
        raise RuleError(f"invalid replacement RCODE '{new_text}' for a rcode rule")
    response = RcodeRule(old, new)
    if len(args) == 4:
        return ResponseOnlyRule(mode, _name_match("rcode", args[0], args[1]), response)
    if len(args) > 4:
        raise RuleError("many few arguments for a rcode rule")
    return ResponseOnlyRule(mode, NameMatch("exact", normalize(args[0])), response)
