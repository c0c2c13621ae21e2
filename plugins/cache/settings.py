"""The cache's configuration with CoreDNS's defaults (plugin/cache/cache.go ``New``)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CAPACITY = 10000
MAX_TTL = 3600  # success
MAX_NTTL = 1800  # denial
MIN_TTL = 5
SERVFAIL_TTL = 5.0
PREFETCH_DURATION = 60.0
PREFETCH_PERCENTAGE = 10
STALE_DEFAULT = 3600.0  # serve_stale without a DURATION


@dataclass
class CacheSettings:
    zones: list[str] = field(default_factory=lambda: ["."])
    success_capacity: int = DEFAULT_CAPACITY
    success_ttl: int = MAX_TTL  # seconds
    success_min_ttl: int = MIN_TTL
    denial_capacity: int = DEFAULT_CAPACITY
    denial_ttl: int = MAX_NTTL
    denial_min_ttl: int = MIN_TTL
    servfail_ttl: float = SERVFAIL_TTL  # seconds, 0 = do not cache SERVFAIL/NOTIMP
    prefetch: int = 0  # AMOUNT; 0 = off
    prefetch_duration: float = PREFETCH_DURATION
    prefetch_percentage: int = PREFETCH_PERCENTAGE
    stale_up_to: float = 0.0  # 0 = serve_stale off
    verify_stale: bool = False
    verify_timeout: float = 0.0  # 0 = wait for the upstream's own timeout
    stale_ttl: int = 0  # TTL of stale replies (RESPONSE_TTL)
    stale_recheck: float = 0.0  # FAILURE_RECHECK
    prefer_positive: bool = False
    success_disabled: list[str] = field(default_factory=list)  # `disable success ZONES`
    denial_disabled: list[str] = field(default_factory=list)
    keepttl: bool = False

    @property
    def zones_label(self) -> str:
        return ",".join(self.zones)
