"""DNS names and tables: the one place for mnemonics, zone tests and names in wire form.

The tables are miekg/dns's (v1.1.72, what CoreDNS is built with): CoreDNS looks Corefile words up
in them and prints them in metric labels and log lines, so the accepted spellings and the printed
ones follow miekg rather than dnslib. Lookups by name are upper-case only, as the Go maps are;
callers upper-case where CoreDNS does.

Names are compared in lower-case presentation form with a trailing dot (``example.org.``), as
:func:`pycoredns.corefile.normalize_name` makes them.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "MONITORED_TYPES",
    "RCODES",
    "RCODE_NAMES",
    "TYPES",
    "TYPE_NAMES",
    "class_text",
    "is_subdomain",
    "name_to_wire",
    "rcode_label",
    "rcode_text",
    "type_label",
    "type_text",
    "zone_match",
    "zone_to_wire",
]

# miekg's StringToType (TypeToString reversed).
TYPES: dict[str, int] = {
    "None": 0, "A": 1, "NS": 2, "MD": 3, "MF": 4, "CNAME": 5, "SOA": 6, "MB": 7, "MG": 8, "MR": 9,
    "NULL": 10, "PTR": 12, "HINFO": 13, "MINFO": 14, "MX": 15, "TXT": 16, "RP": 17, "AFSDB": 18,
    "X25": 19, "ISDN": 20, "RT": 21, "NSAP-PTR": 23, "SIG": 24, "KEY": 25, "PX": 26, "GPOS": 27,
    "AAAA": 28, "LOC": 29, "NXT": 30, "EID": 31, "NIMLOC": 32, "SRV": 33, "ATMA": 34, "NAPTR": 35,
    "KX": 36, "CERT": 37, "DNAME": 39, "OPT": 41, "APL": 42, "DS": 43, "SSHFP": 44, "IPSECKEY": 45,
    "RRSIG": 46, "NSEC": 47, "DNSKEY": 48, "DHCID": 49, "NSEC3": 50, "NSEC3PARAM": 51, "TLSA": 52,
    "SMIMEA": 53, "HIP": 55, "NINFO": 56, "RKEY": 57, "TALINK": 58, "CDS": 59, "CDNSKEY": 60,
    "OPENPGPKEY": 61, "CSYNC": 62, "ZONEMD": 63, "SVCB": 64, "HTTPS": 65, "SPF": 99, "UINFO": 100,
    "UID": 101, "GID": 102, "UNSPEC": 103, "NID": 104, "L32": 105, "L64": 106, "LP": 107,
    "EUI48": 108, "EUI64": 109, "NXNAME": 128, "TKEY": 249, "TSIG": 250, "IXFR": 251, "AXFR": 252,
    "MAILB": 253, "MAILA": 254, "ANY": 255, "URI": 256, "CAA": 257, "AVC": 258, "AMTRELAY": 260,
    "RESINFO": 261, "TA": 32768, "DLV": 32769, "Reserved": 65535,
}  # fmt: skip
# miekg's TypeToString.
TYPE_NAMES: dict[int, str] = {v: k for k, v in TYPES.items()}

# miekg's StringToClass and ClassToString.
CLASSES: dict[str, int] = {"IN": 1, "CS": 2, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}
CLASS_NAMES: dict[int, str] = {v: k for k, v in CLASSES.items()}

# miekg's RcodeToString: BADVERS shares 16 with BADSIG and is not in it.
RCODE_NAMES: dict[int, str] = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}  # fmt: skip
# miekg's StringToRcode: RcodeToString reversed, plus the old NOTIMPL spelling.
RCODES: dict[str, int] = {name: code for code, name in RCODE_NAMES.items()} | {"NOTIMPL": 4}

# The types that get their own ``type`` label in CoreDNS's request metrics (plugin/metrics/vars
# monitorType); every other type is counted as "other".
MONITORED_TYPES: frozenset[int] = frozenset((1, 28, 5, 48, 43, 15, 50, 47, 2, 12, 46, 6, 33, 16, 65, 64, 251, 252, 255))


def type_text(qtype: int) -> str:
    """miekg's ``Type.String``: the mnemonic, or the RFC 3597 ``TYPEnnn`` form."""
    return TYPE_NAMES.get(qtype) or f"TYPE{qtype}"


def class_text(qclass: int) -> str:
    """miekg's ``Class.String``: the mnemonic, or ``CLASSnnn``."""
    return CLASS_NAMES.get(qclass) or f"CLASS{qclass}"


def rcode_text(rcode: int) -> str:
    """The mnemonic, or the number in decimal (CoreDNS's log ``{rcode}`` and proxy metrics)."""
    return RCODE_NAMES.get(rcode) or str(rcode)


def rcode_label(rcode: int) -> str:
    """CoreDNS's ``rcode.ToString`` (the request metrics): the mnemonic, or ``RCODEnnn``."""
    return RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


def type_label(qtype: int) -> str:
    """The ``type`` label of CoreDNS's request metrics: a monitored type's mnemonic, or "other"."""
    return TYPE_NAMES[qtype] if qtype in MONITORED_TYPES else "other"


# -- names and zones ---------------------------------------------------------------------------
def is_subdomain(parent: str, child: str) -> bool:
    """``child`` is ``parent`` or a name below it (miekg's ``IsSubDomain``; both normalised)."""
    return parent == "." or child == parent or child.endswith("." + parent)


def zone_match(zones: Iterable[str], name: str) -> str:
    """The longest of ``zones`` that ``name`` is in, or "" (CoreDNS's ``plugin.Zones.Matches``)."""
    best = ""
    for zone in zones:
        if (zone == "." or name == zone or name.endswith("." + zone)) and len(zone) > len(best):
            best = zone
    return best


def name_to_wire(name: str) -> bytes:
    """A name in presentation form to uncompressed wire form, letter case kept.

    ``\\.`` and ``\\DDD`` escapes stand for one octet each, as in miekg's ``PackDomainName``;
    other characters are their UTF-8 octets. The trailing dot is optional.
    """
    out = bytearray()
    label = bytearray()
    i, n = 0, len(name)
    while i < n:
        ch = name[i]
        if ch == "\\" and i + 1 < n:
            if i + 3 < n and name[i + 1 : i + 4].isdigit():
                label.append(int(name[i + 1 : i + 4]) & 0xFF)
                i += 4
                continue
            label += name[i + 1].encode()
            i += 2
            continue
        if ch == ".":
            if label:
                out.append(len(label))
                out += label
                label = bytearray()
            i += 1
            continue
        label += ch.encode()
        i += 1
    if label:
        out.append(len(label))
        out += label
    out.append(0)
    return bytes(out)


def zone_to_wire(zone: str) -> bytes:
    """A zone in lower-case wire form, to match question names against (``lname`` suffixes).

    Labels that are not ASCII are taken as internationalised names and written in their IDNA
    (``xn--``) form, which is what resolvers send for them.
    """
    if not zone.isascii():
        zone = ".".join(label if label.isascii() else label.encode("idna").decode("ascii") for label in zone.split("."))
    return name_to_wire(zone).lower()
