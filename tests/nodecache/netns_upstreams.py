"""Run FakeUpstreams inside a test network namespace (``ip netns exec NS python netns_upstreams.py``).

Arguments: LOGFILE then ``HOST=ANSWER_IP`` pairs. Each server listens on HOST:53 (UDP and TCP),
answers every A query with ANSWER_IP (TTL 60; other types NODATA) and appends
``HOST PROTO QNAME QTYPE`` to LOGFILE per query. Runs until killed (at most 10 minutes).
"""

from __future__ import annotations

import sys
import threading
import time

import dnslib

from pycoredns.testing import FakeUpstream


def main() -> None:
    logfile = sys.argv[1]
    lock = threading.Lock()
    ups = []
    for pair in sys.argv[2:]:
        host, _, answer_ip = pair.partition("=")

        def answer(q: dnslib.DNSRecord, proto: str, host: str = host, ip: str = answer_ip) -> dnslib.DNSRecord:
            with lock, open(logfile, "a") as f:
                f.write(f"{host} {proto} {str(q.q.qname).lower()} {dnslib.QTYPE.get(q.q.qtype)}\n")
            r = q.reply()
            if q.q.qtype == dnslib.QTYPE.A:
                r.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A, rdata=dnslib.A(ip), ttl=60))
            return r

        ups.append(FakeUpstream(answer, host=host, port=53).start())
    print("ready", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
