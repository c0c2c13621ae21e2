"""The Corefile language: tokens, server blocks, the token cursor and server-block keys."""

from __future__ import annotations

from pycoredns.corefile.dispenser import Dispenser
from pycoredns.corefile.env import replace_env
from pycoredns.corefile.keys import ZoneAddress, normalize_host, normalize_name, normalize_zone, parse_key
from pycoredns.corefile.lexer import lex
from pycoredns.corefile.parser import parse, parse_file, tokens_digest
from pycoredns.corefile.tokens import ServerBlock, Token
from pycoredns.corefile.values import parse_duration, split_host_port
from pycoredns.errors import CorefileError

__all__ = [
    "CorefileError",
    "Dispenser",
    "ServerBlock",
    "Token",
    "ZoneAddress",
    "lex",
    "normalize_host",
    "normalize_name",
    "normalize_zone",
    "parse",
    "parse_duration",
    "parse_file",
    "parse_key",
    "replace_env",
    "split_host_port",
    "tokens_digest",
]
