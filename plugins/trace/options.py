"""What a trace directive configures."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TYPE = "zipkin"
DEFAULT_SERVICE = "coredns"


@dataclass
class Options:
    endpoint_type: str = DEFAULT_TYPE
    endpoint: str = ""
    every: int = 1
    service: str = DEFAULT_SERVICE
    client_server: bool = False
    datadog_analytics_rate: float = 0.0
    zipkin_max_backlog_size: int = 0  # 0: the reporter's default
    zipkin_max_batch_size: int = 0
    zipkin_max_batch_interval: float = 0.0
    service_endpoint: str = ""  # the first bound address and the port, when bind is used
