"""DNS rcode names as miekg/dns spells them (metric labels, ``next`` and ``failover`` arguments)."""

from __future__ import annotations

RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
    11: "DSOTYPENI",
    16: "BADSIG",
    17: "BADKEY",
    18: "BADTIME",
    19: "BADMODE",
    20: "BADNAME",
    21: "BADALG",
    22: "BADTRUNC",
    23: "BADCOOKIE",
}

# dns.StringToRcode is RcodeToString reversed, plus BADVERS (16 shares its number with BADSIG).
_BY_NAME = {name: code for code, name in RCODE_NAMES.items()} | {"BADVERS": 16}


def rcode_from_text(text: str) -> int | None:
    """The rcode a name stands for, any letter case (as ``dns.StringToRcode[strings.ToUpper(x)]``)."""
    return _BY_NAME.get(text.upper())
