"""Parse ``cache [TTL] [ZONES...] { ... }`` with CoreDNS's defaults, limits and error texts.

Errors that CoreDNS builds with ``c.ArgErr()`` carry the file and line; the others are plain
messages (``fmt.Errorf``) and reach the user as ``plugin/cache: <message>``, as in CoreDNS.
"""

from __future__ import annotations

from collections.abc import Callable

from pycoredns.plugin import VIEW, ConfigError, Controller, go_quote_rune, normalize_name, parse_atoi
from pycoredns.plugins.cache import metrics
from pycoredns.plugins.cache.handler import Cache
from pycoredns.plugins.cache.settings import STALE_DEFAULT, CacheSettings

FIVE_MINUTES = 300.0
MAX_UINT32 = (1 << 32) - 1


def setup(c: Controller) -> None:
    settings = parse(c)
    workers = c.runtime.worker.count
    if workers > 1:
        # One logical cache: each name reaches one worker, which holds its share of the capacity.
        settings.success_capacity = -(-settings.success_capacity // workers)
        settings.denial_capacity = -(-settings.denial_capacity // workers)
    metrics.register(c)
    view = c.shared.get(VIEW) or ""
    caches: list[Cache] = []

    def make(next: object) -> Cache:
        cache = Cache(next, settings, view=view)  # type: ignore[arg-type]
        caches.append(cache)
        return cache

    async def stop_refreshes() -> None:
        for cache in caches:
            await cache.close()

    c.add_plugin(make)
    c.on_shutdown(stop_refreshes)


def parse(c: Controller) -> CacheSettings:
    s = CacheSettings()
    seen = 0
    while c.next():
        seen += 1
        if seen > 1:
            raise ConfigError("this plugin can only be used once per Server Block")
        args = c.remaining_args()
        if args:
            ttl = _maybe_int(args[0])
            if ttl is not None:  # a leading integer is the TTL, anything else is a zone
                if ttl <= 0:
                    raise ConfigError(f"cache TTL can not be zero or negative: {ttl}")
                s.success_ttl = s.denial_ttl = ttl
                args = args[1:]
        s.zones = c.zones_or_block(args)
        stale_seen = policy_seen = False
        while c.next_block():
            option = c.val()
            handler = _OPTIONS.get(option)
            if handler is None:
                raise c.arg_err()
            if option == "serve_stale":
                stale_seen = True
            elif option == "serve_stale_policy":
                if policy_seen:
                    raise ConfigError("serve_stale_policy can only be specified once")
                policy_seen = True
            handler(c, s)
        if policy_seen and not stale_seen:
            raise ConfigError("serve_stale_policy requires serve_stale")
    return s


def _maybe_int(text: str) -> int | None:
    try:
        return parse_atoi(text)
    except ValueError:
        return None


def _whole_seconds(seconds: float) -> bool:
    return round(seconds * 1e9) % 1_000_000_000 == 0


# -- options: one function each; CoreDNS returns the parsers' errors plain (no file and line) --------
def _capacity_ttl_min(c: Controller, ttl: int, minimum: int) -> tuple[int, int, int]:
    """``CAPACITY [TTL [MINTTL]]`` of ``success`` and ``denial``; TTLs not given stay as they are."""
    args = c.remaining_args(at_least=1)
    capacity = c.integer(args[0], plain=True)
    if len(args) > 1:
        ttl = c.integer(args[1], plain=True)
        if ttl <= 0:
            raise ConfigError(f"cache TTL can not be zero or negative: {ttl}")
        if len(args) > 2:
            minimum = c.integer(args[2], plain=True)
            if minimum < 0:
                raise ConfigError(f"cache min TTL can not be negative: {minimum}")
    return capacity, ttl, minimum


def _success(c: Controller, s: CacheSettings) -> None:
    s.success_capacity, s.success_ttl, s.success_min_ttl = _capacity_ttl_min(c, s.success_ttl, s.success_min_ttl)


def _denial(c: Controller, s: CacheSettings) -> None:
    s.denial_capacity, s.denial_ttl, s.denial_min_ttl = _capacity_ttl_min(c, s.denial_ttl, s.denial_min_ttl)


def _prefetch(c: Controller, s: CacheSettings) -> None:
    args = c.remaining_args(at_least=1, at_most=3)
    amount = c.integer(args[0], plain=True)
    if amount < 0:
        raise ConfigError(f"prefetch amount should be positive: {amount}")
    s.prefetch = amount
    if len(args) > 1:
        s.prefetch_duration = c.duration(args[1], plain=True)
    if len(args) > 2:
        pct = args[2]
        raw = pct.encode("utf-8")
        last_byte = raw[-1] if raw else 0  # Go indexes the string's last byte
        if last_byte != ord("%"):
            raise ConfigError(f"last character of percentage should be `%`, but is: {go_quote_rune(last_byte)}")
        num = c.integer(pct[:-1], plain=True)
        if num < 10 or num > 90:
            raise ConfigError(f"percentage should fall in range [10, 90]: {num}")
        s.prefetch_percentage = num


def _serve_stale(c: Controller, s: CacheSettings) -> None:
    args = c.remaining_args(at_most=5)
    s.stale_up_to = STALE_DEFAULT
    s.stale_ttl = 0
    s.stale_recheck = 0.0
    if args:
        d = c.duration(args[0], plain=True)
        if d < 0:
            raise ConfigError("invalid negative duration for serve_stale")
        s.stale_up_to = d
    s.verify_stale = False
    s.verify_timeout = 0.0
    if len(args) > 1:
        mode = args[1].lower()
        if mode not in ("immediate", "verify"):
            raise ConfigError(f"invalid value for serve_stale refresh mode: {mode}")
        s.verify_stale = mode == "verify"
    if len(args) > 2:
        rest = args[2:]
        if s.verify_stale:
            t = c.duration(rest[0], plain=True, message="invalid serve_stale verify timeout: {error}")
            if t < 0:
                raise ConfigError("invalid negative timeout for serve_stale verify")
            s.verify_timeout = t
            rest = rest[1:]
        elif len(args) > 4:
            raise c.arg_err()
        if rest:
            s.stale_ttl = _stale_ttl(c, rest[0])
        if len(rest) > 1:
            s.stale_recheck = _stale_recheck(c, rest[1])


def _stale_ttl(c: Controller, text: str) -> int:
    ttl = c.duration(text, plain=True, message="invalid serve_stale response TTL: {error}")
    if ttl < 0:
        raise ConfigError("invalid negative response TTL for serve_stale")
    if not _whole_seconds(ttl):
        raise ConfigError("serve_stale response TTL must be a whole number of seconds")
    if round(ttl) > MAX_UINT32:
        raise ConfigError("serve_stale response TTL exceeds the DNS TTL range")
    return round(ttl)


def _stale_recheck(c: Controller, text: str) -> float:
    recheck = c.duration(text, plain=True, message="invalid serve_stale failure recheck: {error}")
    if recheck < 0:
        raise ConfigError("invalid negative failure recheck for serve_stale")
    if recheck > FIVE_MINUTES:
        raise ConfigError("serve_stale failure recheck cannot exceed 5 minutes")
    return recheck


def _serve_stale_policy(c: Controller, s: CacheSettings) -> None:
    policy = c.only_arg()
    if policy.lower() != "prefer_positive":
        raise ConfigError(f"invalid serve_stale_policy: {policy}")
    s.prefer_positive = True


def _servfail(c: Controller, s: CacheSettings) -> None:
    d = c.duration(c.only_arg(), plain=True)
    if d < 0:
        raise ConfigError("invalid negative ttl for servfail")
    if d > FIVE_MINUTES:  # RFC 2308 section 7.1
        raise ConfigError("caching SERVFAIL responses over 5 minutes is not permitted")
    s.servfail_ttl = d


def _disable(c: Controller, s: CacheSettings) -> None:
    args = c.remaining_args(at_least=1)
    zones = [normalize_name(z) for z in args[1:]] or ["."]
    if args[0] == "denial":
        s.denial_disabled = zones
    elif args[0] == "success":
        s.success_disabled = zones
    else:
        raise ConfigError('cache type for disable must be "success" or "denial"')


def _keepttl(c: Controller, s: CacheSettings) -> None:
    c.remaining_args(at_most=0)
    s.keepttl = True


_OPTIONS: dict[str, Callable[[Controller, CacheSettings], None]] = {
    "success": _success,
    "denial": _denial,
    "prefetch": _prefetch,
    "serve_stale": _serve_stale,
    "serve_stale_policy": _serve_stale_policy,
    "servfail": _servfail,
    "disable": _disable,
    "keepttl": _keepttl,
}
