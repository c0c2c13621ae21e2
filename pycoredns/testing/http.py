"""Blocking HTTP helpers for tests of the /metrics, /health and /ready endpoints (urllib)."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; HTTP error statuses are returned, connection errors raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode()


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> dict[str, Metric]:
    """GET /metrics and parse it with prometheus_client's exposition parser: name -> family."""
    status, body = http_get(f"http://{host}:{port}/metrics", timeout)
    if status != 200:
        raise AssertionError(f"/metrics answered {status}: {body[:200]}")
    return {f.name: f for f in text_string_to_metric_families(body)}
