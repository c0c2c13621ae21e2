"""pprof's profile.proto, written by hand: a Profile of stacks and values, gzip-compressed.

The format ``go tool pprof``, speedscope and most flame-graph tools read
(github.com/google/pprof/proto/profile.proto). Only the fields a Python stack needs are written:
sample types, samples with location ids, values and string labels, one location per frame with
one line, one function per code object, the string table, time, duration and period. Locations
carry no addresses and no mapping: every function is named, so nothing needs symbolizing.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Field numbers of profile.proto.
_P_SAMPLE_TYPE, _P_SAMPLE, _P_LOCATION, _P_FUNCTION, _P_STRINGS = 1, 2, 4, 5, 6
_P_TIME, _P_DURATION, _P_PERIOD_TYPE, _P_PERIOD, _P_COMMENT, _P_DEFAULT_TYPE = 9, 10, 11, 12, 13, 14


@dataclass(frozen=True)
class Frame:
    """One frame of a stack: a function (name, file, first line) and the line running in it."""

    name: str
    filename: str = ""
    start_line: int = 0
    line: int = 0


Stack = tuple[Frame, ...]  # leaf first, as pprof orders a sample's locations


@dataclass
class Profile:
    """Samples to encode: ``sample_types`` and ``period_type`` are (type, unit) pairs."""

    sample_types: Sequence[tuple[str, str]]
    period_type: tuple[str, str] = ("", "")
    period: int = 0
    duration_ns: int = 0
    time_ns: int = field(default_factory=time.time_ns)
    comments: list[str] = field(default_factory=list)
    default_sample_type: str = ""
    samples: list[tuple[Stack, Sequence[int], dict[str, str]]] = field(default_factory=list)

    def add(self, stack: Stack, values: Sequence[int], labels: dict[str, str] | None = None) -> None:
        if len(values) != len(self.sample_types):
            raise ValueError(f"{len(values)} values for {len(self.sample_types)} sample types")
        self.samples.append((stack, values, labels or {}))

    def encode(self) -> bytes:
        """The serialized profile (not compressed)."""
        strings: dict[str, int] = {"": 0}

        def s(text: str) -> int:
            i = strings.get(text)
            if i is None:
                i = strings[text] = len(strings)
            return i

        functions: dict[tuple[str, str, int], int] = {}
        locations: dict[tuple[int, int], int] = {}
        out = bytearray()
        for typ, unit in self.sample_types:
            _message(out, _P_SAMPLE_TYPE, _value_type(s(typ), s(unit)))
        body = bytearray()
        for stack, values, labels in self.samples:
            ids = []
            for fr in stack:
                fkey = (fr.name, fr.filename, fr.start_line)
                fid = functions.get(fkey)
                if fid is None:
                    fid = functions[fkey] = len(functions) + 1
                lkey = (fid, fr.line)
                lid = locations.get(lkey)
                if lid is None:
                    lid = locations[lkey] = len(locations) + 1
                ids.append(lid)
            sample = bytearray()
            _packed(sample, 1, ids)
            _packed(sample, 2, values)
            for key, text in labels.items():
                label = bytearray()
                _int(label, 1, s(key))
                _int(label, 2, s(text))
                _message(sample, 3, label)
            _message(body, _P_SAMPLE, sample)
        out += body
        for (fid, line), lid in locations.items():
            loc = bytearray()
            _int(loc, 1, lid)
            ln = bytearray()
            _int(ln, 1, fid)
            _int(ln, 2, line)
            _message(loc, 4, ln)
            _message(out, _P_LOCATION, loc)
        for (name, filename, start), fid in functions.items():
            fn = bytearray()
            _int(fn, 1, fid)
            _int(fn, 2, s(name))
            _int(fn, 3, s(name))
            _int(fn, 4, s(filename))
            _int(fn, 5, start)
            _message(out, _P_FUNCTION, fn)
        comment_ids = [s(c) for c in self.comments]
        period_type = _value_type(s(self.period_type[0]), s(self.period_type[1]))
        default_type = s(self.default_sample_type) if self.default_sample_type else 0
        for text in strings:  # insertion order is index order; "" is index 0
            _bytes(out, _P_STRINGS, text.encode("utf-8"))
        _int(out, _P_TIME, self.time_ns)
        _int(out, _P_DURATION, self.duration_ns)
        _message(out, _P_PERIOD_TYPE, period_type)
        _int(out, _P_PERIOD, self.period)
        _packed(out, _P_COMMENT, comment_ids)
        _int(out, _P_DEFAULT_TYPE, default_type)
        return bytes(out)

    def gzipped(self) -> bytes:
        """What a Go server sends on /debug/pprof: the profile, gzip-compressed."""
        return gzip.compress(self.encode(), compresslevel=6, mtime=0)


# -- protobuf wire encoding: varints, length-delimited fields --------------------------------------
def _varint(out: bytearray, n: int) -> None:
    n &= 0xFFFFFFFFFFFFFFFF  # int64 fields: negatives are ten-byte two's complement
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _int(out: bytearray, number: int, value: int) -> None:
    if value:  # proto3: a zero scalar is not written
        _varint(out, number << 3)
        _varint(out, value)


def _bytes(out: bytearray, number: int, data: bytes | bytearray) -> None:
    _varint(out, (number << 3) | 2)
    _varint(out, len(data))
    out += data


def _message(out: bytearray, number: int, body: bytearray) -> None:
    _bytes(out, number, body)


def _packed(out: bytearray, number: int, values: Iterable[int]) -> None:
    body = bytearray()
    for v in values:
        _varint(body, v)
    if body:
        _bytes(out, number, body)


def _value_type(typ: int, unit: int) -> bytearray:
    vt = bytearray()
    _int(vt, 1, typ)
    _int(vt, 2, unit)
    return vt
