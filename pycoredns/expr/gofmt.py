"""Values printed as Go's fmt prints them with ``%v`` (what expr's ``string()`` and Go templates
show for the values an expression computes)."""

from __future__ import annotations

import decimal
import math
from datetime import datetime
from typing import Any

from pycoredns.expr.golayout import go_time_string


def go_float(f: float) -> str:
    """A float64 as ``%v`` prints it: the shortest digits that read back the same, in exponent
    form when the exponent is below -4 or at least 6 (``1e+06``, ``1.5``, ``1e-05``)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digits, exponent = decimal.Decimal(repr(f)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    exp = len(text) - 1 + int(exponent)
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{minus}0.{'0' * (-exp - 1)}{text}"
    whole = text[: exp + 1].ljust(exp + 1, "0")
    frac = text[exp + 1 :]
    return f"{minus}{whole}.{frac}" if frac else f"{minus}{whole}"


def go_sprint(value: Any) -> str:
    """``fmt.Sprint(value)`` for the values expressions and template data hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_sprint(x) for x in value) + "]"
    if isinstance(value, datetime):
        return go_time_string(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(value[k])}" for k in sorted(value, key=str)) + "]"
    return str(value)
