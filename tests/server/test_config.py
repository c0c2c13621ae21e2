"""Server blocks to listeners: keys, -dns.port, duplicates and overlaps with CoreDNS's words."""

from __future__ import annotations

import pytest

from pycoredns.errors import ServerConfigError
from pycoredns.server import config
from pycoredns.server.config import ListenerKey


@pytest.mark.parametrize(
    ("corefile", "port", "listeners"),
    [
        pytest.param(".:1053 {\n    whoami\n}\n", "53", {"dns://:1053": ["."]}, id="explicit-port"),
        pytest.param(". {\n    whoami\n}\n", "5300", {"dns://:5300": ["."]}, id="dns-port-flag"),
        pytest.param(
            "example.org:1053 example.net:1053 {\n    whoami\n}\n", "53",
            {"dns://:1053": ["example.org.", "example.net."]}, id="two-keys-one-listener",
        ),
        pytest.param(
            ".:5301 .:5302 {\n    whoami\n}\n", "53", {"dns://:5301": ["."], "dns://:5302": ["."]}, id="two-ports",
        ),
        pytest.param(
            "10.0.0.0/15:1053 {\n    whoami\n}\n", "53",
            {"dns://:1053": ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."]}, id="reverse-cidr",
        ),
        pytest.param(
            "example.org:1053 {\n    bind 127.0.0.1 ::1\n    whoami\n}\n", "53",
            {"dns://127.0.0.1:1053": ["example.org."], "dns://[::1]:1053": ["example.org."]}, id="bind-two-hosts",
        ),
        pytest.param(
            "example.org:1053 {\n    bind 127.0.0.1\n    whoami\n}\nexample.org:1053 {\n    bind 127.0.0.2\n"
            "    whoami\n}\n",
            "53",
            {"dns://127.0.0.1:1053": ["example.org."], "dns://127.0.0.2:1053": ["example.org."]},
            id="same-zone-different-addresses",
        ),
    ],
)
def test_listeners(corefile: str, port: str, listeners: dict[str, list[str]]) -> None:
    instance = config.load(corefile, dns_port=port)
    got = {str(k): list(v) for k, v in instance.listeners.items()}
    assert got == listeners
    assert all(isinstance(k, ListenerKey) for k in instance.listeners)


@pytest.mark.parametrize(
    ("corefile", "error"),
    [
        pytest.param(
            "example.org:1053 {\n    whoami\n}\nexample.org:1053 {\n    whoami\n}\n",
            "cannot serve dns://example.org.:1053 - it is already defined",
            id="duplicate",
        ),
        pytest.param(
            "example.org:1053 {\n    bind 127.0.0.1\n    whoami\n}\nexample.org:1053 {\n    whoami\n}\n",
            "cannot serve dns://example.org.:1053 - zone overlap listener capacity with dns://example.org.:1053 on"
            " 127.0.0.1",
            id="overlap-bound-then-wildcard",
        ),
        pytest.param(
            "example.org:1053 {\n    bind 127.0.0.1 127.0.0.1\n    whoami\n}\n",
            "cannot serve dns://example.org.:1053 on 127.0.0.1 - it is already defined",
            id="same-address-twice",
        ),
        pytest.param(":53 {\n    whoami\n}\n", "error inspecting server blocks: ", id="empty-zone"),
        pytest.param(
            "example.org: {\n    whoami\n}\n",
            "error inspecting server blocks: expecting data after last colon",
            id="trailing-colon",
        ),
    ],
)
def test_errors(corefile: str, error: str) -> None:
    with pytest.raises(ServerConfigError) as e:
        config.load(corefile)
    assert str(e.value).startswith(error)
