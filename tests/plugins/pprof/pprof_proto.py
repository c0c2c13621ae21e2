"""profile.proto for the tests, built with Google's protobuf runtime (an independent decoder).

The message and field numbers are pprof's (github.com/google/pprof/proto/profile.proto);
``parse(data)`` gunzips when needed and returns a decoded Profile message.
"""

from __future__ import annotations

import gzip
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

_I64 = descriptor_pb2.FieldDescriptorProto.TYPE_INT64
_U64 = descriptor_pb2.FieldDescriptorProto.TYPE_UINT64
_BOOL = descriptor_pb2.FieldDescriptorProto.TYPE_BOOL
_STR = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_MSG = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_REP = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_OPT = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL

MESSAGES: dict[str, list[tuple[str, int, int, bool, str]]] = {  # name, number, type, repeated, message
    "Profile": [
        ("sample_type", 1, _MSG, True, "ValueType"), ("sample", 2, _MSG, True, "Sample"),
        ("mapping", 3, _MSG, True, "Mapping"), ("location", 4, _MSG, True, "Location"),
        ("function", 5, _MSG, True, "Function"), ("string_table", 6, _STR, True, ""),
        ("drop_frames", 7, _I64, False, ""), ("keep_frames", 8, _I64, False, ""),
        ("time_nanos", 9, _I64, False, ""), ("duration_nanos", 10, _I64, False, ""),
        ("period_type", 11, _MSG, False, "ValueType"), ("period", 12, _I64, False, ""),
        ("comment", 13, _I64, True, ""), ("default_sample_type", 14, _I64, False, ""),
    ],
    "ValueType": [("type", 1, _I64, False, ""), ("unit", 2, _I64, False, "")],
    "Sample": [("location_id", 1, _U64, True, ""), ("value", 2, _I64, True, ""), ("label", 3, _MSG, True, "Label")],
    "Label": [("key", 1, _I64, False, ""), ("str", 2, _I64, False, ""), ("num", 3, _I64, False, ""),
              ("num_unit", 4, _I64, False, "")],
    "Mapping": [("id", 1, _U64, False, ""), ("memory_start", 2, _U64, False, ""),
                ("memory_limit", 3, _U64, False, ""), ("file_offset", 4, _U64, False, ""),
                ("filename", 5, _I64, False, ""), ("build_id", 6, _I64, False, ""),
                ("has_functions", 7, _BOOL, False, ""), ("has_filenames", 8, _BOOL, False, ""),
                ("has_line_numbers", 9, _BOOL, False, ""), ("has_inline_frames", 10, _BOOL, False, "")],
    "Location": [("id", 1, _U64, False, ""), ("mapping_id", 2, _U64, False, ""), ("address", 3, _U64, False, ""),
                 ("line", 4, _MSG, True, "Line"), ("is_folded", 5, _BOOL, False, "")],
    "Line": [("function_id", 1, _U64, False, ""), ("line", 2, _I64, False, "")],
    "Function": [("id", 1, _U64, False, ""), ("name", 2, _I64, False, ""), ("system_name", 3, _I64, False, ""),
                 ("filename", 4, _I64, False, ""), ("start_line", 5, _I64, False, "")],
}


def _profile_class() -> Any:
    fd = descriptor_pb2.FileDescriptorProto(name="test_profile.proto", package="perftools.profiles",
                                            syntax="proto3")
    for name, fields in MESSAGES.items():
        msg = fd.message_type.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=_REP if repeated else _OPT)
            if type_name:
                f.type_name = f".perftools.profiles.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


PROFILE = _profile_class()


def parse(data: bytes) -> Any:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    p = PROFILE()
    p.ParseFromString(data)
    return p


def stacks(p: Any) -> list[tuple[list[str], list[int], dict[str, str]]]:
    """(function names leaf first, values, string labels) per sample, names resolved."""
    strings = list(p.string_table)
    funcs = {f.id: strings[f.name] for f in p.function}
    locs = {loc.id: [funcs[ln.function_id] for ln in loc.line] for loc in p.location}
    out = []
    for s in p.sample:
        names = [n for lid in s.location_id for n in locs[lid]]
        labels = {strings[lb.key]: strings[lb.str] for lb in s.label}
        out.append((names, list(s.value), labels))
    return out
