"""Which response class a reply is in (CoreDNS's response.Typify and Classify), for ``class``."""

from __future__ import annotations

import dnslib

SUCCESS, DENIAL, ERROR, ALL = "success", "denial", "error", "all"
CLASSES = (SUCCESS, DENIAL, ERROR, ALL)


def classify(reply: bytes) -> str:
    """success (NOERROR, delegation), denial (NXDOMAIN, NODATA) or error (everything else)."""
    try:
        msg = dnslib.DNSRecord.parse(reply)
    except Exception:
        return ERROR
    opcode = msg.header.opcode
    rcode = msg.header.rcode
    if opcode in (4, 5):  # NOTIFY, UPDATE: meta / update
        return ERROR
    if msg.questions and msg.q.qtype in (251, 252):  # IXFR, AXFR: meta
        return ERROR
    if msg.rr and rcode == 0:
        return SUCCESS
    soa = any(rr.rtype == dnslib.QTYPE.SOA for rr in msg.auth)
    ns = any(rr.rtype == dnslib.QTYPE.NS for rr in msg.auth)
    if soa and rcode == 0:
        return DENIAL  # NODATA
    if soa and rcode == 3:
        return DENIAL  # NXDOMAIN
    if rcode in (2, 4):
        return ERROR
    if ns and rcode == 0:
        return SUCCESS  # delegation
    if rcode == 0:
        return SUCCESS
    return ERROR
