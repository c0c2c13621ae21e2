"""The token cursor plugins read their arguments with (Caddy's Dispenser semantics)."""

from __future__ import annotations

import pytest

from pycoredns.corefile import CorefileError, Dispenser, Token, lex, parse
from pycoredns.errors import ConfigError, PyCoreDNSError


def dispenser(text: str) -> Dispenser:
    return Dispenser(lex(text, "Testfile"), plugin="test")


def test_next_and_val() -> None:
    d = dispenser("host:port\n dir1 arg1\n dir2 arg2 arg3\n dir3")
    assert (d.val(), d.line(), d.file()) == ("", 0, "Testfile")
    seen = []
    while d.next():
        seen.append(d.val())
    assert seen == ["host:port", "dir1", "arg1", "dir2", "arg2", "arg3", "dir3"]
    assert d.val() == "dir3"  # stays on the last token


def test_next_arg_stays_on_line() -> None:
    d = dispenser("dir1 arg1\n dir2 arg2 arg3\n dir3")
    assert d.next() and d.val() == "dir1"
    assert d.next_arg() and d.val() == "arg1"
    assert not d.next_arg() and d.val() == "arg1"
    assert d.next() and d.val() == "dir2"
    assert d.args(2) == ["arg2", "arg3"]
    assert not d.next_arg()
    assert d.next() and d.val() == "dir3"
    assert not d.next()


def test_next_line() -> None:
    d = dispenser("host:port\n dir1 arg1\n dir2 arg2 arg3")
    assert d.next_line() and d.val() == "host:port"
    assert d.next_line() and d.val() == "dir1"
    assert not d.next_line() and d.val() == "dir1"
    d.next()
    assert d.next_line() and d.val() == "dir2"
    d.next()
    assert not d.next_line() and d.val() == "arg2"


def test_next_block() -> None:
    d = dispenser("foobar1 {\n sub1 arg1\n sub2\n}\nfoobar2 {\n}")
    assert not d.next_block() and d.token() is None
    d.next()
    options = []
    while d.next_block():
        assert d.nesting == 1
        options.append(d.val())
    assert options == ["sub1", "arg1", "sub2"]  # next_block loads every token; callers read args per option
    assert d.val() == "}" and d.nesting == 0
    d.next()
    assert d.val() == "foobar2"
    assert not d.next_block()  # "{" then "}" counts as no block
    assert d.val() == "}" and d.nesting == 0


def test_next_block_typical_loop() -> None:
    d = dispenser("cache 30 {\n success 9984 30\n denial 9984 5\n}\ncache")
    got: list[tuple[str, list[str]]] = []
    occurrences = 0
    while d.next():
        occurrences += 1
        args = d.remaining_args()
        while d.next_block():
            got.append((d.val(), d.remaining_args()))
        if occurrences == 1:
            assert args == ["30"]
    assert occurrences == 2
    assert got == [("success", ["9984", "30"]), ("denial", ["9984", "5"])]


def test_next_block_needs_brace_on_same_line() -> None:
    d = dispenser("forward . 1.1.1.1\n{\n force_tcp\n}")
    d.next()
    assert d.remaining_args() == [".", "1.1.1.1"]
    assert not d.next_block()
    assert d.val() == "1.1.1.1"


def test_next_block_unclosed_stops() -> None:
    d = dispenser("foobar {\n sub1 arg1")
    d.next()
    cursor_vals = []
    for _ in range(10):
        if not d.next_block():
            break
        cursor_vals.append(d.val())
    assert cursor_vals == ["sub1", "arg1"]


def test_nested_next_block() -> None:
    d = dispenser("dir {\n outer {\n  inner 1\n }\n after\n}")
    d.next()
    seen = []
    while d.next_block():
        seen.append(d.val())
        while d.next_block(1):
            seen.append("  " + d.val())
    assert seen == ["outer", "  inner", "  1", "after"]
    assert d.nesting == 0


def test_remaining_args_stops_before_brace() -> None:
    d = dispenser("dir1 arg1 arg2 arg3\ndir2 arg4 arg5\ndir3 arg6 { arg7\ndir4")
    d.next()
    assert d.remaining_args() == ["arg1", "arg2", "arg3"]
    d.next()
    assert d.remaining_args() == ["arg4", "arg5"]
    d.next()
    assert d.remaining_args() == ["arg6"]
    d.next()
    assert d.val() == "{"
    d.next()
    d.next()
    assert d.remaining_args() == []


def test_args_helper() -> None:
    d = dispenser("dir1 a b c\ndir2 d")
    d.next()
    assert d.args(3) == ["a", "b", "c"]
    d.next()
    assert d.args(2) is None
    assert d.args(0) == []


def test_multiline_quoted_token_same_line_logic() -> None:
    d = dispenser('template "a\nb" c\nnext')
    d.next()
    assert d.remaining_args() == ["a\nb", "c"]
    assert d.next_line() and d.val() == "next"


def test_tokens_from_other_file_are_never_same_line() -> None:
    tokens = [Token("dir", "Corefile", 3), Token("arg", "/abs/inc.conf", 3)]
    d = Dispenser(tokens)
    d.next()
    assert not d.next_arg()
    assert d.next_line() and d.file() == "/abs/inc.conf"


def test_empty_dispenser_uses_filename() -> None:
    d = Dispenser([], filename="Corefile")
    assert d.err("x").args[0] == "Corefile:0 - Error during parsing: x"


@pytest.mark.parametrize(
    ("text", "steps", "message"),
    [
        pytest.param(
            "dir1 {\n}", 2, "Testfile:1 - Error during parsing: Unexpected token '{', expecting argument", id="brace"
        ),
        pytest.param(
            "dir2 arg1 arg2",
            3,
            "Testfile:1 - Error during parsing: Wrong argument count or unexpected line ending after 'arg2'",
            id="word",
        ),
    ],
)
def test_arg_err(text: str, steps: int, message: str) -> None:
    d = dispenser(text)
    for _ in range(steps):
        d.next()
    assert str(d.arg_err()) == message


def test_other_errors() -> None:
    d = dispenser("a\nb\nc d")
    for _ in range(4):
        d.next()
    assert isinstance(d.err("foobar"), CorefileError)
    assert str(d.err("foobar")) == "Testfile:3 - Error during parsing: foobar"
    assert str(d.errf("bad %s: %d", "x", 3)) == "Testfile:3 - Error during parsing: bad x: 3"
    assert str(d.errf("100%")) == "Testfile:3 - Error during parsing: 100%"
    assert str(d.syntax_err("}")) == "Testfile:3 - Syntax error: Unexpected token 'd', expecting '}'"
    assert str(d.eof_err()) == "Testfile:3 - Error during parsing: Unexpected EOF"
    assert d.plugin == "test"


def forward_like(d: Dispenser) -> None:
    """How CoreDNS's forward reads its stanza: FROM TO..., then a block of options."""
    while d.next():
        if d.args(1) is None:
            raise d.arg_err()
        if not d.remaining_args():
            raise d.arg_err()
        while d.next_block():
            if d.val() == "force_tcp":
                if d.next_arg():
                    raise d.arg_err()
            else:
                raise d.errf("unknown property '%s'", d.val())


@pytest.mark.parametrize(
    ("corefile", "message"),
    [
        pytest.param(
            ". {\n forward . 1.1.1.1\n {\n  force_tcp\n }\n}",
            "Corefile:3 - Error during parsing: Unexpected token '{', expecting argument",
            id="brace-on-next-line",
        ),
        pytest.param(
            ". {\n forward . 1.1.1.1 { force_tcp }\n}",
            "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after '}'",
            id="one-line-block",
        ),
        pytest.param(". {\n forward . 1.1.1.1 {\n  force_tcp\n }\n}", None, id="ok"),
        pytest.param(". {\n forward . 1.1.1.1 { }\n}", None, id="empty-one-line-block"),
    ],
)
def test_section10_plugin_view(corefile: str, message: str | None) -> None:
    tokens = parse(corefile, "Corefile")[0].directives["forward"]
    d = Dispenser(tokens, plugin="forward")
    if message is None:
        forward_like(d)
    else:
        with pytest.raises(CorefileError) as info:
            forward_like(d)
        assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("1m30s", 90.0, id="compound"),
        pytest.param("0", 0.0, id="zero"),
    ],
)
def test_duration_helper(value: str, expected: float) -> None:
    d = dispenser(f"reload {value}")
    d.next()
    d.next_arg()
    assert d.duration() == expected


def test_duration_helper_error() -> None:
    d = dispenser("reload\n  5")
    d.next()
    d.next()
    with pytest.raises(CorefileError) as info:
        d.duration()
    assert str(info.value) == 'Testfile:2 - Error during parsing: time: missing unit in duration "5"'
    assert d.duration("2h") == 7200.0


@pytest.mark.parametrize(
    ("value", "bounds", "expected"),
    [
        pytest.param("9984", (None, None), 9984, id="plain"),
        pytest.param("+5", (None, None), 5, id="plus-sign"),
        pytest.param("-1", (None, None), -1, id="negative"),
        pytest.param("007", (None, None), 7, id="leading-zeros"),
        pytest.param("x", (None, None), 'strconv.Atoi: parsing "x": invalid syntax', id="word"),
        pytest.param("1.5", (None, None), 'strconv.Atoi: parsing "1.5": invalid syntax', id="float"),
        pytest.param("1_000", (None, None), 'strconv.Atoi: parsing "1_000": invalid syntax', id="underscore"),
        pytest.param(
            "99999999999999999999",
            (None, None),
            'strconv.Atoi: parsing "99999999999999999999": value out of range',
            id="range",
        ),
        pytest.param("0", (1, None), "value 0 is below the minimum 1", id="minimum"),
        pytest.param("70000", (None, 65535), "value 70000 is above the maximum 65535", id="maximum"),
    ],
)
def test_integer_helper(value: str, bounds: tuple[int | None, int | None], expected: int | str) -> None:
    minimum, maximum = bounds
    d = dispenser(f"opt {value}")
    d.next()
    d.next_arg()
    if isinstance(expected, int):
        assert d.integer(minimum=minimum, maximum=maximum) == expected
    else:
        with pytest.raises(CorefileError) as info:
            d.integer(minimum=minimum, maximum=maximum)
        assert str(info.value) == f"Testfile:1 - Error during parsing: {expected}"


def test_positive_int() -> None:
    d = dispenser("opt 0")
    d.next()
    assert d.positive_int("3") == 3
    with pytest.raises(CorefileError, match="0 must be a positive integer"):
        d.positive_int("0")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("127.0.0.1:53", ("127.0.0.1", "53"), id="ipv4"),
        pytest.param("[::1]:53", ("::1", "53"), id="ipv6"),
        pytest.param(":8080", ("", "8080"), id="empty-host"),
        pytest.param("localhost:", ("localhost", ""), id="empty-port"),
        pytest.param("[fe80::1%eth0]:53", ("fe80::1%eth0", "53"), id="zone"),
        pytest.param("127.0.0.1", "address 127.0.0.1: missing port in address", id="no-port"),
        pytest.param("::1:53", "address ::1:53: too many colons in address", id="bare-ipv6"),
        pytest.param("[::1]", "address [::1]: missing port in address", id="brackets-no-port"),
        pytest.param("[::1", "address [::1: missing ']' in address", id="missing-bracket"),
        pytest.param("[::1]x:53", "address [::1]x:53: missing port in address", id="junk-after-bracket"),
        pytest.param("[::1]:5:3", "address [::1]:5:3: too many colons in address", id="colon-after-port"),
        pytest.param("a[b:53", "address a[b:53: unexpected '[' in address", id="stray-open"),
        pytest.param("a]b:53", "address a]b:53: unexpected ']' in address", id="stray-close"),
    ],
)
def test_host_port(value: str, expected: tuple[str, str] | str) -> None:
    d = dispenser(f"health {value}")
    d.next()
    d.next_arg()
    if isinstance(expected, tuple):
        assert d.host_port() == expected
    else:
        with pytest.raises(CorefileError) as info:
            d.host_port()
        assert str(info.value) == f"Testfile:1 - Error during parsing: {expected}"


# -- the option helpers every plugin reads its arguments with -------------------------------------
_WRONG_COUNT = "Wrong argument count or unexpected line ending"


def _at_option(text: str) -> Dispenser:
    """A cursor on the first option of ``dir { ... }``."""
    d = dispenser(text)
    d.next()
    assert d.next_block()
    return d


def test_one_arg() -> None:
    d = _at_option("dir {\n opt a b\n bare\n}")
    assert d.one_arg() == "a"
    assert d.one_arg() == "b"
    with pytest.raises(CorefileError) as info:
        d.one_arg()
    assert str(info.value) == f"Testfile:2 - Error during parsing: {_WRONG_COUNT} after 'b'"


def test_no_args_names_the_first_extra_argument() -> None:
    d = _at_option("dir {\n opt\n other x y\n}")
    d.no_args()
    assert d.val() == "opt"
    assert d.next_block() and d.val() == "other"
    with pytest.raises(CorefileError) as info:
        d.no_args()
    assert str(info.value).endswith(f"{_WRONG_COUNT} after 'x'")


@pytest.mark.parametrize(
    ("line", "bounds", "expected"),
    [
        pytest.param("opt a b", {}, ["a", "b"], id="unbounded"),
        pytest.param("opt a", {"at_least": 1, "at_most": 1}, ["a"], id="exactly-one"),
        pytest.param("opt", {"at_least": 1}, "after 'opt'", id="too-few-names-the-option"),
        pytest.param("opt a b c", {"at_most": 2}, "after 'c'", id="too-many-names-the-last"),
        pytest.param("opt a", {"at_most": 0}, "after 'a'", id="none-wanted"),
    ],
)
def test_remaining_args_bounds(line: str, bounds: dict[str, int], expected: list[str] | str) -> None:
    d = _at_option(f"dir {{\n {line}\n}}")
    if isinstance(expected, list):
        assert d.remaining_args(**bounds) == expected
    else:
        with pytest.raises(CorefileError) as info:
            d.remaining_args(**bounds)
        assert str(info.value) == f"Testfile:2 - Error during parsing: {_WRONG_COUNT} {expected}"


def test_remaining_args_stops_before_a_block() -> None:
    d = dispenser("dir a {\n opt\n}")
    d.next()
    assert d.remaining_args(at_least=1, at_most=1) == ["a"]
    assert d.next_block() and d.val() == "opt"


_UNKNOWN_UNIT = 'time: unknown unit "x" in duration "5x"'


@pytest.mark.parametrize(
    ("plain", "message", "expected", "error_type"),
    [
        pytest.param(False, None, f"Testfile:1 - Error during parsing: {_UNKNOWN_UNIT}", CorefileError,
                     id="positioned"),
        pytest.param(True, None, _UNKNOWN_UNIT, ConfigError, id="plain"),
        pytest.param(True, "bad timeout: {error}", f"bad timeout: {_UNKNOWN_UNIT}", ConfigError, id="plain-prefixed"),
        pytest.param(False, "invalid duration for reload '{value}'",
                     "Testfile:1 - Error during parsing: invalid duration for reload '5x'", CorefileError,
                     id="positioned-reworded"),
    ],
)
def test_duration(plain: bool, message: str | None, expected: str, error_type: type[Exception]) -> None:
    d = dispenser("opt 5x")
    d.next()
    assert d.duration("1m30s", plain=plain, message=message) == 90.0
    d.next_arg()
    with pytest.raises(PyCoreDNSError) as info:
        d.duration(plain=plain, message=message)  # the current token
    assert type(info.value) is error_type
    assert str(info.value) == expected


def test_plain_errors_integer_unsigned_host_port() -> None:
    d = dispenser("opt 1")
    d.next()
    with pytest.raises(ConfigError) as info:
        d.integer("x", plain=True)
    assert str(info.value) == 'strconv.Atoi: parsing "x": invalid syntax'
    with pytest.raises(ConfigError) as bound:
        d.integer("0", minimum=1, plain=True)
    assert str(bound.value) == "value 0 is below the minimum 1"
    assert d.unsigned("4294967295", bits=32) == 4294967295
    with pytest.raises(ConfigError) as unsigned:
        d.unsigned("4294967296", bits=32, plain=True)
    assert str(unsigned.value) == 'strconv.ParseUint: parsing "4294967296": value out of range'
    with pytest.raises(CorefileError) as positioned:
        d.unsigned("-1")
    assert str(positioned.value) == 'Testfile:1 - Error during parsing: strconv.ParseUint: parsing "-1": invalid syntax'
    with pytest.raises(ConfigError) as address:
        d.host_port("127.0.0.1", plain=True)
    assert str(address.value) == "address 127.0.0.1: missing port in address"


def test_only_arg() -> None:
    d = _at_option("dir {\n one a\n none\n two a b\n}")
    assert d.only_arg() == "a"
    for extra in ("'none'", "'b'"):
        assert d.next_block()
        with pytest.raises(CorefileError) as info:
            d.only_arg()
        assert str(info.value).endswith(f"{_WRONG_COUNT} after {extra}")


def test_unknown_property_names_the_option() -> None:
    d = _at_option("dir {\n bogus 1\n}")
    assert str(d.unknown_property()) == "Testfile:2 - Error during parsing: unknown property 'bogus'"


def test_error_at_an_earlier_token() -> None:
    d = dispenser("sqlite db {\n    reload 2s\n}")
    d.next()
    first = d.token()
    assert d.remaining_args() == ["db"]
    while d.next_block():
        d.remaining_args()
    assert d.val() == "}"
    assert str(d.err("no such table")) == "Testfile:3 - Error during parsing: no such table"
    assert str(d.err("no such table", at=first)) == "Testfile:1 - Error during parsing: no such table"
