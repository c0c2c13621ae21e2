"""pycoredns.errors: one hierarchy, the same classes wherever they are named."""

from __future__ import annotations

import pytest

from pycoredns import errors, plugin, wire
from pycoredns.server.config import load


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_pycoredns_error(name: str) -> None:
    assert issubclass(getattr(errors, name), errors.PyCoreDNSError)


def test_the_wire_and_the_api_name_the_same_classes() -> None:
    assert wire.MalformedQuery is errors.MalformedQuery
    assert wire.MalformedMessage is errors.MalformedMessage
    assert plugin.HandlerError is errors.HandlerError
    assert plugin.ConfigError is errors.ConfigError


def test_a_malformed_query_is_a_wire_error_with_its_rcode() -> None:
    with pytest.raises(errors.WireError) as info:
        wire.parse_question(b"\x00\x01\x78\x00" + b"\x00" * 8)  # opcode 15: not implemented
    assert isinstance(info.value, errors.MalformedQuery)
    assert info.value.rcode == wire.NOTIMP


def test_a_plain_config_error_gets_the_plugin_prefix_and_no_position() -> None:
    with pytest.raises(errors.PluginSetupError) as info:
        load(". {\n    reload 1s\n}\n")
    assert str(info.value) == "plugin/reload: interval value must be greater or equal to 2s"
    assert isinstance(info.value.__cause__, errors.ConfigError)
