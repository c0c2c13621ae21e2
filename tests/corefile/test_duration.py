"""Go duration syntax (time.ParseDuration), as plugins read timeouts and intervals."""

from __future__ import annotations

import pytest

from pycoredns.corefile import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("0", 0.0, id="bare-zero"),
        pytest.param("-0", 0.0, id="negative-zero"),
        pytest.param("+0", 0.0, id="plus-zero"),
        pytest.param("0s", 0.0, id="zero-seconds"),
        pytest.param("5s", 5.0, id="seconds"),
        pytest.param("300ms", 0.3, id="milliseconds"),
        pytest.param("1.5h", 5400.0, id="fractional-hours"),
        pytest.param("2h45m", 9900.0, id="hours-minutes"),
        pytest.param("1m30s", 90.0, id="minutes-seconds"),
        pytest.param("-1s", -1.0, id="negative"),
        pytest.param("+2s", 2.0, id="plus"),
        pytest.param("1ns", 1e-9, id="nanoseconds"),
        pytest.param("1us", 1e-6, id="microseconds"),
        pytest.param("1\u00b5s", 1e-6, id="micro-sign"),
        pytest.param("1\u03bcs", 1e-6, id="greek-mu"),
        pytest.param(".5s", 0.5, id="leading-dot"),
        pytest.param("1.s", 1.0, id="trailing-dot"),
        pytest.param("1h1m1s1ms1us1ns", 3661.001001001, id="every-unit"),
        pytest.param("1s1s", 2.0, id="repeated-unit"),
        pytest.param("9223372036854775807ns", 9223372036.854775807, id="max-int64"),
        pytest.param("-9223372036854775808ns", -9223372036.854775808, id="min-int64"),
        pytest.param("0.000000001s", 1e-9, id="one-nano-fraction"),
        pytest.param("1.0000000000000000000001s", 1.0, id="excess-fraction-digits"),
    ],
)
def test_valid(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", 'time: invalid duration ""', id="empty"),
        pytest.param("-", 'time: invalid duration "-"', id="sign-only"),
        pytest.param("5", 'time: missing unit in duration "5"', id="bare-number"),
        pytest.param("1.5", 'time: missing unit in duration "1.5"', id="bare-float"),
        pytest.param("s", 'time: invalid duration "s"', id="unit-only"),
        pytest.param(".s", 'time: invalid duration ".s"', id="dot-unit"),
        pytest.param("-.s", 'time: invalid duration "-.s"', id="sign-dot-unit"),
        pytest.param("1d", 'time: unknown unit "d" in duration "1d"', id="days"),
        pytest.param("1 s", 'time: unknown unit " s" in duration "1 s"', id="space"),
        pytest.param("1s5", 'time: missing unit in duration "1s5"', id="trailing-number"),
        pytest.param("--1s", 'time: invalid duration "--1s"', id="double-sign"),
        pytest.param("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"', id="overflow"),
        pytest.param("3000000h", 'time: invalid duration "3000000h"', id="overflow-hours"),
        pytest.param("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"', id="non-ascii-quoted-as-bytes"),
        pytest.param('1"', 'time: unknown unit "\\"" in duration "1\\""', id="quote-escaped"),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == message
