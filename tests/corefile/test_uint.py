"""parse_uint with a base: Go's strconv.ParseUint, accepted values and error texts (base 10 is in
test_values.py)."""

from __future__ import annotations

import pytest

from pycoredns.corefile.values import parse_uint


@pytest.mark.parametrize(
    ("text", "base", "bits", "want"),
    [
        ("65518", 0, 16, 65518),
        ("0xffee", 0, 16, 0xFFEE),
        ("0XFFEE", 0, 16, 0xFFEE),
        ("0o17", 0, 16, 15),
        ("017", 0, 16, 15),
        ("0b101", 0, 16, 5),
        ("0", 0, 16, 0),
        ("1_000", 0, 16, 1000),
        ("0x_ff", 0, 16, 255),
        ("ff", 16, 8, 255),
        ("18446744073709551615", 10, 0, (1 << 64) - 1),
        ("invalid-uint", 0, 16, 'strconv.ParseUint: parsing "invalid-uint": invalid syntax'),
        ("-1", 0, 16, 'strconv.ParseUint: parsing "-1": invalid syntax'),
        ("+1", 10, 16, 'strconv.ParseUint: parsing "+1": invalid syntax'),
        ("", 10, 16, 'strconv.ParseUint: parsing "": invalid syntax'),
        ("0x", 0, 16, 'strconv.ParseUint: parsing "0x": invalid syntax'),
        ("1_000", 10, 16, 'strconv.ParseUint: parsing "1_000": invalid syntax'),
        ("1__0", 0, 16, 'strconv.ParseUint: parsing "1__0": invalid syntax'),
        ("_1", 0, 16, 'strconv.ParseUint: parsing "_1": invalid syntax'),
        ("65536", 0, 16, 'strconv.ParseUint: parsing "65536": value out of range'),
        ("99999x", 10, 16, 'strconv.ParseUint: parsing "99999x": value out of range'),
        ("100", 16, 8, 'strconv.ParseUint: parsing "100": value out of range'),
        ("1", 1, 8, 'strconv.ParseUint: parsing "1": invalid base 1'),
    ],
)
def test_parse_uint(text: str, base: int, bits: int, want: int | str) -> None:
    if isinstance(want, str):
        with pytest.raises(ValueError) as got:
            parse_uint(text, bits, base=base)
        assert str(got.value) == want
    else:
        assert parse_uint(text, bits, base=base) == want
