"""whoami: setup table and handler tests (CoreDNS's plugin/whoami tests, with our test kit)."""

from __future__ import annotations

import dnslib
import pytest

from pycoredns.errors import PluginSetupError
from pycoredns.plugins.whoami.handler import Whoami
from pycoredns.server import config
from pycoredns.testing import make_request
from pycoredns.testing.handler import run


@pytest.mark.parametrize(
    ("corefile", "error"),
    [
        pytest.param("example.org {\n    whoami\n}\n", None, id="plain"),
        pytest.param("example.org {\n    whoami\n    whoami\n}\n", None, id="second-occurrence-ignored"),
        pytest.param(
            "example.org {\n    whoami example.org\n}\n",
            "plugin/whoami: Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending"
            " after 'example.org'",
            id="argument",
        ),
        pytest.param(
            "example.org {\n    whoami {\n    }\n}\n",
            "plugin/whoami: Corefile:2 - Error during parsing: Unexpected token '{', expecting argument",
            id="block",
        ),
    ],
)
def test_setup(corefile: str, error: str | None) -> None:
    if error is None:
        instance = config.load(corefile)
        assert [type(h).__name__ for h in instance.configs[0].handlers] == ["Whoami"]
        return
    with pytest.raises(PluginSetupError) as e:
        config.load(corefile)
    assert str(e.value) == error


@pytest.mark.parametrize(
    ("name", "proto", "remote", "rtype", "srv_owner"),
    [
        pytest.param("example.org.", "udp", ("10.240.0.1", 40212), "A", "_udp.example.org.", id="ipv4-udp"),
        pytest.param("Example.ORG.", "tcp", ("10.240.0.1", 40212), "A", "_tcp.Example.ORG.", id="case-kept-tcp"),
        pytest.param("example.org.", "udp", ("2001:db8::1", 53001), "AAAA", "_udp.example.org.", id="ipv6"),
        pytest.param(".", "udp", ("10.240.0.1", 40212), "A", "_udp.", id="root"),
    ],
)
def test_answer(name: str, proto: str, remote: tuple[str, int], rtype: str, srv_owner: str) -> None:
    req = make_request(name, "A", proto=proto, remote=remote)
    rcode, msg = run(Whoami(None), req)
    assert rcode == dnslib.RCODE.NOERROR and msg is not None
    assert msg.header.aa == 1 and msg.rr == [] and msg.header.id == req.id
    addr, srv = msg.ar
    assert dnslib.QTYPE.get(addr.rtype) == rtype and str(addr.rdata) == remote[0] and addr.ttl == 0
    assert str(addr.rname) == name
    assert srv.rtype == dnslib.QTYPE.SRV and str(srv.rname) == srv_owner
    assert srv.rdata.port == remote[1] and str(srv.rdata.target) == "." and srv.ttl == 0
    assert req.answered_by == "whoami"


def test_edns_is_mirrored() -> None:
    req = make_request("example.org", "A", edns=1232, do=True)
    _, msg = run(Whoami(None), req)
    assert msg is not None
    opt = [rr for rr in msg.ar if rr.rtype == dnslib.QTYPE.OPT]
    assert len(opt) == 1 and opt[0].rclass == 1232 and opt[0].ttl & 0x8000
