"""The expression language: values as expr-lang computes them, its compile errors, run-time errors."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pycoredns import expr
from pycoredns.testing import make_request


def env() -> expr.Env:
    e = expr.query_env()
    e.add_variable("i", expr.INT)
    e.add_variable("s", expr.STRING)
    e.add_variable("u", expr.ANY)
    e.add_variable("arr", expr.array(expr.INT))
    e.add_variable("m", expr.MAP)
    return e


VARIABLES = {"i": 7, "s": "Abc", "u": "dyn", "arr": [3, 1, 2], "m": {"k": "v", "n": 1}}


def run(source: str, **kwargs: Any) -> Any:
    req = make_request("Www.Example.ORG.", "AAAA", edns=1400, do=True)
    req.meta = {"a/b": "meta"}
    return expr.compile(source, env()).run(req, {**VARIABLES, **kwargs})


@pytest.mark.parametrize(
    ("source", "value"),
    [
        # literals
        ("42", 42),
        ("0x2A + 0o52 + 0b101010 + 4_2", 168),
        ("0.5 + .5", 1.0),
        ("1e3", 1000.0),
        ("'single' + \"double\" + `raw\\n`", "singledoubleraw\\n"),
        ("'tab\\there'", "tab\there"),
        ("'\\u00e9\\x41'", "éA"),
        ("true && !false", True),
        ("nil == nil", True),
        ("[1, 'a', true]", [1, "a", True]),
        ("{a: 1, 'b': 2, (s): 3}", {"a": 1, "b": 2, "Abc": 3}),
        # arithmetic, as Go does it
        ("1 + 2 * 3 - 4", 3),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("4 / 2", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("2 ** 3 ** 2", 512.0),
        ("2 ^ 10", 1024.0),
        ("-2 ** 2", -4.0),
        ("1 + 2.5", 3.5),
        ("9223372036854775807 + 1", -9223372036854775808),
        ("1 / 0", math.inf),
        # strings
        ("s + 'd'", "Abcd"),
        ("s contains 'bc' and s startsWith 'A' and s endsWith 'c'", True),
        ("s matches '^[A-Z][a-z]+$'", True),
        ("'x' not matches 'y'", True),
        ("s[0]", "A"),
        ("s[1:]", "bc"),
        ("s[-1]", "c"),
        # comparison
        ("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 1", True),
        ("1 < 3 < 2", False),
        ("'a' < 'b'", True),
        ("1 == 1.0", True),
        ("i != 7", False),
        ("u == 'dyn'", True),
        ("u == 1", False),
        # membership
        ("2 in arr", True),
        ("5 not in arr", True),
        ("'k' in m", True),
        ("m.k + m['k']", "vv"),
        ("m.missing == nil", True),
        ("m?.missing ?? 'default'", "default"),
        ("arr[-1] + arr[0]", 5),
        ("arr[1:]", [1, 2]),
        ("1..4", [1, 2, 3, 4]),
        # logic and conditionals
        ("not true or true", True),
        ("not (true or true)", False),
        ("i > 5 ? 'big' : 'small'", "big"),
        ("false ? 1 : true ? 2 : 3", 2),
        ("true ?: false", True),
        ("nil ?? 2", 2),
        # the query
        ("name()", "www.example.org."),
        ("type() == 'AAAA' && class() == 'IN' && proto() == 'udp'", True),
        ("client_ip() + ':' + port()", "10.240.0.1:40212"),
        ("server_ip() + ':' + server_port()", "127.0.0.1:53"),
        ("do() && bufsize() == 1400 && opcode() == 0", True),
        ("size() > 12 && id() >= 0", True),
        ("incidr(client_ip(), '10.240.0.0/16') && !incidr(client_ip(), '192.0.2.0/24')", True),
        ("incidr('::ffff:10.0.0.1', '10.0.0.0/8')", True),
        ("metadata('a/b') + metadata('x/y')", "meta"),
        ("type() in ['A', 'AAAA']", True),
        ("name() matches '^www\\\\..*\\\\.org\\\\.$'", True),
        # builtins
        ("len('héllo') + len(arr) + len(m)", 10),
        ("int('42') + int(3.9) + int(i)", 52),
        ("float('1.5') + float(1)", 2.5),
        ("string(1.5) + string(1e6) + string(true) + string(nil)", "1.51e+06true<nil>"),
        ("upper(s) + lower(s) + trim('  x  ') + trim('__y__', '_')", "ABCabcxy"),
        ("trimPrefix('www.a', 'www.') + trimSuffix('a.org', '.org')", "aa"),
        ("split('a.b.c', '.')", ["a", "b", "c"]),
        ("split('a.b.c', '.', 2)", ["a", "b.c"]),
        ("replace('10-0-0-1', '-', '.')", "10.0.0.1"),
        ("repeat('ab', 3)", "ababab"),
        ("join(['a', 'b'], '-') + join(['c'])", "a-bc"),
        ("indexOf('apple pie', 'pie') + lastIndexOf('a a a', 'a')", 10),
        ("hasPrefix('abc', 'ab') && hasSuffix('abc', 'bc')", True),
        ("abs(-3) + ceil(1.2) + floor(1.8) + round(2.5)", 9.0),
        ("max(1, 5, 3) + min(4, 2)", 7),
        ("max(arr)", 3),
        ("all(arr, # > 0) && any(arr, # == 2) && none(arr, # > 5) && one(arr, # == 1)", True),
        ("filter(arr, # != 1)", [3, 2]),
        ("map(arr, # * 10)", [30, 10, 20]),
        ("map(arr, #index)", [0, 1, 2]),
        ("count(arr, # > 1) + count([true, false, true])", 4),
        ("find(arr, # < 3) + findIndex(arr, # == 2) + findLastIndex(arr, # > 0)", 5),
        ("findLast(arr, # > 1)", 2),
        ("find(arr, # > 10) == nil", True),
        ("sum(arr) + sum(arr, # * 2)", 18),
        ("mean([1, 2, 3]) + median([3, 1, 2])", 4.0),
        ("first(arr) + last(arr) + get(arr, 1) + get(m, 'n')", 7),
        ("get(arr, 10) == nil", True),
        ("take(arr, 2) == [3, 1] && reverse(arr) == [2, 1, 3]", True),
        ("u + 1", None),  # a string at run time: + is not defined on string and int
        ("sort(arr) == [1, 2, 3] && sort(arr, 'desc')[0] == 3", True),
        ("uniq([1, 1, 2]) == [1, 2] && flatten([1, [2, [3]]]) == [1, 2, 3]", True),
        ("concat([1], [2, 3])", [1, 2, 3]),
        ("len(keys(m)) + len(values(m))", 4),
        ("toBase64('hi') + fromBase64('aGk=')", "aGk=hi"),
        ("bitand(12, 10) + bitor(1, 2) + bitxor(3, 1) + bitnot(0) + bitshl(1, 4) + bitshr(32, 2)", 36),
        ("any(['10.0.0.0/8', '172.16.0.0/12'], {incidr(client_ip(), #)})", True),
        ("filter(map(arr, # * 2), # > 2) | len()", 2),
        ("s | lower() | upper()", "ABC"),
        ("any(map(arr, {[#, # + 1]}), 3 in #)", True),
        # comments
        ("1 /* one */ + 2 // and two", 3),
        # let and if/else
        ("let x = i * 2; x + 1", 15),
        ("let a = 1; let b = a + 1; [a, b]", [1, 2]),
        ("let n = name(); n endsWith 'org.'", True),
        ("if i > 5 { 'big' } else { 'small' }", "big"),
        ("if i > 9 { 1 } else if i > 5 { 2 } else { 3 }", 2),
        ("map(arr, let d = # * 2; d + #index)", [6, 3, 6]),
        # dates and durations
        ("duration('1h30m').Minutes()", 90.0),
        ("duration('1h') > duration('59m')", True),
        ("(duration('1h') + duration('30m')).String()", "1h30m0s"),
        ("string(duration('90s') * 2)", "3m0s"),
        ("date('2023-08-14') - date('2023-08-13') == duration('24h')", True),
        ("(date('2023-08-14 10:20:30') + duration('90m')).Format('15:04')", "11:50"),
        ("date('2023-08-14T10:20:30Z').Year() * 100 + date('2023-08-14T10:20:30Z').Month()", 202308),
        ("date('2023-08-14T10:20:30.25+02:00').UTC().Format('2006-01-02T15:04:05.000Z07:00')",
         "2023-08-14T08:20:30.250Z"),
        ("date('Aug 14 2023', 'Jan 2 2006').YearDay()", 226),
        ("date('2023-08-14', '2006-01-02', 'Europe/Zurich').Format('-07:00 MST')", "+02:00 CEST"),
        ("date('2023-08-14').Weekday() == 1 && date('2023-08-14').Month() == 8", True),
        ("string(date('2023-08-14').Weekday()) + ' ' + string(date('2023-08-14').Month())", "Monday August"),
        ("date('2023-08-14').Before(date('2023-08-15')) and now().After(date('2023-08-15'))", True),
        ("date('2023-01-31').AddDate(0, 1, 0).Format('Jan 2')", "Mar 3"),
        ("date(0).UTC().Unix()", 0),
        ("string(date('2023-08-14T10:20:30Z').UTC())", "2023-08-14 10:20:30 +0000 UTC"),
        ("now().Sub(now()) < duration('1s')", True),
        ("now().In(timezone('UTC')).Format('MST')", "UTC"),
        # JSON
        ("toJSON({b: [1, 1.5, 'a<b'], a: nil, c: true})",
         '{\n  "a": null,\n  "b": [\n    1,\n    1.5,\n    "a\\u003cb"\n  ],\n  "c": true\n}'),
        ("toJSON([])", "[]"),
        ("fromJSON('{\"a\": [1, \"x\"]}')", {"a": [1.0, "x"]}),
        ("fromJSON(toJSON(m)).n", 1.0),
        # grouping, sorting, reducing, pairs
        ("groupBy(arr, # % 2)", {1: [3, 1], 0: [2]}),
        ("groupBy(['a.', 'bb.', 'c.'], len(#))[2]", ["a.", "c."]),
        ("sortBy(['bb', 'a', 'ccc'], len(#))", ["a", "bb", "ccc"]),
        ("sortBy(arr, #, 'desc')", [3, 2, 1]),
        ("reduce(arr, #acc + #)", 6),
        ("reduce(arr, #acc + #index, 10)", 13),
        ("reduce(split(name(), '.'), #acc + len(#), 0)", 13),
        ("toPairs({b: 2, a: 1})", [["a", 1], ["b", 2]]),
        ("fromPairs([['a', 1], ['b', 2]]).b", 2),
        ("keys(fromPairs(toPairs(m)))", ["k", "n"]),
    ],
)
def test_values(source: str, value: Any) -> None:
    if value is None:
        with pytest.raises(expr.EvalError):
            run(source)
        return
    got = run(source)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("1 + 2", "int"),
        ("1 + 2.0", "float64"),
        ("4 / 2", "float64"),
        ("'a' + s", "string"),
        ("u + 1", "interface {}"),
        ("i > 1", "bool"),
        ("1..3", "[]int"),
        ("split(s, '')", "[]string"),
        ("filter(arr, # > 1)", "[]int"),
        ("m.k", "interface {}"),
        ("name()", "string"),
        ("int(s)", "int"),
    ],
)
def test_static_types(source: str, kind: str) -> None:
    assert str(expr.compile(source, env()).type) == kind


def located(source: str, col: int, message: str) -> str:
    return f"{message} (1:{col})\n | {source}\n | {'.' * (col - 1)}^"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("1 +", located("1 +", 3, "unexpected token EOF")),
        ("invalid expression", located("invalid expression", 9, 'unexpected token Identifier("expression")')),
        ("(1", located("(1", 2, "unexpected token EOF")),
        ("1)", located("1)", 2, 'unexpected token Bracket(")")')),
        ("1 2", located("1 2", 3, 'unexpected token Number("2")')),
        ("a 'x'", located("a 'x'", 3, 'unexpected token String("x")')),
        ("'abc", located("'abc", 1, "literal not terminated")),
        ("a @ b", located("a @ b", 3, "unrecognized character: U+0040 '@'")),
        ("in", located("in", 1, 'unexpected token Operator("in")')),
        ("undefined == 1", located("undefined == 1", 1, "unknown name undefined")),
        ("foo()", located("foo()", 1, "unknown name foo")),
        ("'x' + 1", located("'x' + 1", 5, "invalid operation: + (mismatched types string and int)")),
        ("i + 'x'", located("i + 'x'", 3, "invalid operation: + (mismatched types int and string)")),
        ("1 == 'a'", located("1 == 'a'", 3, "invalid operation: == (mismatched types int and string)")),
        ("s < 1", located("s < 1", 3, "invalid operation: < (mismatched types string and int)")),
        ("true && 1", located("true && 1", 6, "invalid operation: and (mismatched types bool and int)")),
        ("1.5 % 2", located("1.5 % 2", 5, "invalid operation: % (mismatched types float64 and int)")),
        ("not 'x'", located("not 'x'", 1, "invalid operation: not (mismatched type string)")),
        ("-'x'", located("-'x'", 1, "invalid operation: - (mismatched type string)")),
        ("'a' in 1", located("'a' in 1", 5, "invalid operation: in (mismatched types string and int)")),
        ("1 in m", located("1 in m", 3, "cannot use int as type string in map key")),
        ("'a' in arr", located("'a' in arr", 5, "cannot use string as type int in array")),
        ("1 ? 2 : 3", located("1 ? 2 : 3", 1, "non-bool expression (type int) used as condition")),
        ("name(1)", located("name(1)", 1, "too many arguments to call name")),
        ("incidr('a')", located("incidr('a')", 1, "not enough arguments to call incidr")),
        ("incidr(1, 'x')", located("incidr(1, 'x')", 8, "cannot use int as argument (type string) to call incidr ")),
        ("len(1)", located("len(1)", 5, "invalid argument for len (type int)")),
        ("len()", located("len()", 1, "invalid number of arguments (expected 1, got 0)")),
        ("all(1, true)", located("all(1, true)", 5, "builtin all takes only array (got int)")),
        ("all(arr, # + 1)", located("all(arr, # + 1)", 12, "predicate should return boolean (got int)")),
        ("#", located("#", 1, "cannot use pointer accessor outside predicate")),
        ("i.x", located("i.x", 3, "type int has no field x")),
        ("arr['x']", located("arr['x']", 5, "array elements can only be selected using an integer (got string)")),
        ("i[0]", located("i[0]", 1, "type int[int] is undefined")),
        ("i[1:]", located("i[1:]", 1, "cannot slice int")),
        ("name", located("name", 1, "function name cannot be used as a value")),
        ("now() + 1", located("now() + 1", 7, "invalid operation: + (mismatched types time.Time and int)")),
        ("now().Foo()", located("now().Foo()", 7, "type time.Time has no method Foo")),
        ("i.Hours()", located("i.Hours()", 3, "type int has no method Hours")),
        ("duration('1h').Round()", located("duration('1h').Round()", 16, "not enough arguments to call Round")),
        ("let i = 1; i", located("let i = 1; i", 1, "cannot redeclare i")),
        ("let len = 1; 2", located("let len = 1; 2", 1, "cannot redeclare builtin len")),
        ("let x = 1; let x = 2; x", located("let x = 1; let x = 2; x", 12, "cannot redeclare variable x")),
        ("let x = 1; x + 'a'",
         located("let x = 1; x + 'a'", 14, "invalid operation: + (mismatched types int and string)")),
        ("if 1 { 2 } else { 3 }",
         located("if 1 { 2 } else { 3 }", 4, "non-bool expression (type int) used as condition")),
        ("if true { 2 }", located("if true { 2 }", 13, "unexpected token EOF")),
        ("sortBy(1, #)", located("sortBy(1, #)", 8, "builtin sortBy takes only array (got int)")),
        ("#acc", located("#acc", 1, "cannot use pointer accessor outside predicate")),
        (
            "s matches '('",
            located("s matches '('", 3, "error parsing regexp: missing ), unterminated subpattern at position 0"),
        ),
        ("9223372036854775808", located("9223372036854775808", 1, "integer literal is too large")),
        ("1 +\n 2 +", "unexpected token EOF (2:4)\n |  2 +\n | ...^"),
    ],
)
def test_compile_errors(source: str, error: str) -> None:
    with pytest.raises(expr.CompileError) as got:
        expr.compile(source, env())
    assert str(got.value) == error


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("incidr('notanip', '10.0.0.0/8')", "first argument is not an IP address"),
        ("incidr('10.0.0.1', 'bad')", "invalid CIDR address: bad"),
        ("int('x')", 'strconv.Atoi: parsing "x": invalid syntax'),
        ("float('1 ')", 'strconv.ParseFloat: parsing "1 ": invalid syntax'),
        ("arr[5]", "index out of range: 5 (array length is 3)"),
        ("i % 0", "integer divide by zero"),
        ("u + 1", "invalid operation: string + int"),
        ("u > 1", "invalid operation: string > int"),
        ("!u", "invalid operation: ! (non-bool value string)"),
        ("u.x", "cannot fetch x from string"),
        ("repeat('a', -1)", "strings: negative Repeat count"),
        ("fromBase64('!')", "illegal base64 data: "),
        ("duration('1x')", 'time: unknown unit "x" in duration "1x"'),
        ("date('yesterday')", "invalid date yesterday"),
        ("date('14/08', '2006-01-02')", 'parsing time "14/08" as "2006-01-02": cannot parse "14/08" as "2006-01-02"'),
        ("reduce([], #acc + #)", "reduce of empty array with no initial value"),
        ("sortBy([1, 'a'], #)", "invalid argument for sortBy"),
        ("u.Hours()", "type string has no method Hours"),
        ("toJSON(groupBy(arr, # > 1))", "json: unsupported type"),
        ("timezone('Nowhere/Nothing')", "unknown time zone Nowhere/Nothing"),
    ],
)
def test_run_errors(source: str, error: str) -> None:
    with pytest.raises(expr.EvalError) as got:
        run(source)
    assert str(got.value).startswith(error)


def test_variables_and_identifiers() -> None:
    for name in ("a", "_x", "camelCase", "x1"):
        assert expr.is_identifier(name)
    for name in ("true", "nil", "let", "in", "not", "matches", "1a", "a-b", ""):
        assert not expr.is_identifier(name)
    assert {"len", "type", "now", "all"} <= expr.BUILTIN_NAMES
    plain = expr.Env()
    plain.add_variable("x", expr.INT)
    assert expr.compile("x * 2", plain).run(None, {"x": 21}) == 42
    copied = plain.copy()
    copied.add_variable("y", expr.INT)
    assert "y" in copied and "y" not in plain and "x" in copied

def test_query_function_without_a_query() -> None:
    with pytest.raises(expr.EvalError, match="no query"):
        expr.compile("name()", expr.query_env()).run()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (math.inf, "+Inf"),
        (-0.0, "-0"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert expr.go_float(value) == text
