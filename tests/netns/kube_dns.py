"""A stand-in "kube-dns" for the steering test: one name answered, NXDOMAIN otherwise, queries logged.

Run inside the node namespace: ``python kube_dns.py HOST``; prints ``query NAME from IP`` per query.
"""

from __future__ import annotations

import sys
import time

import dnslib

from pycoredns.testing import FakeUpstream

NAME = "name.default.svc.cluster.local."
ANSWER = "10.0.0.53"


def main() -> None:
    host = sys.argv[1]

    def answer(q: dnslib.DNSRecord, proto: str) -> dnslib.DNSRecord:
        r = q.reply()
        print(f"query {q.q.qname} {proto}", flush=True)
        if str(q.q.qname).lower() == NAME and q.q.qtype == dnslib.QTYPE.A:
            r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ANSWER), ttl=30))
        elif str(q.q.qname).lower() != NAME:
            r.header.rcode = dnslib.RCODE.NXDOMAIN
        return r

    FakeUpstream(answer, host=host, port=53).start()
    print("ready", flush=True)
    deadline = time.monotonic() + 300  # bounded: the test kills it long before
    while time.monotonic() < deadline:
        time.sleep(1)


if __name__ == "__main__":
    main()
