"""Parse ``cache [TTL] [ZONES...] { ... }`` with CoreDNS's defaults, limits and error texts.

Errors that CoreDNS builds with ``c.ArgErr()`` carry the file and line; the others are plain
messages (``fmt.Errorf``) and reach the user as ``plugin/cache: <message>``, as in CoreDNS.
"""

from __future__ import annotations

from collections.abc import Callable

from pycoredns.plugin import VIEW, ConfigError, Controller, go_quote_rune, normalize_name, parse_atoi, parse_duration
from pycoredns.plugins.cache import metrics
from pycoredns.plugins.cache.handler import Cache
from pycoredns.plugins.cache.settings import STALE_DEFAULT, CacheSettings

FIVE_MINUTES = 300.0
MAX_UINT32 = (1 << 32) - 1


def setup(c: Controller) -> None:
    settings = parse(c)
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
            handler(c, s, c.remaining_args())
        if policy_seen and not stale_seen:
            raise ConfigError("serve_stale_policy requires serve_stale")
    return s


# -- value helpers: Go's strconv.Atoi and time.ParseDuration, their errors as CoreDNS returns them --
def _maybe_int(text: str) -> int | None:
    try:
        return parse_atoi(text)
    except ValueError:
        return None


def _atoi(text: str) -> int:
    try:
        return parse_atoi(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _duration(text: str, wrap: str = "") -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise ConfigError(f"{wrap}{e}") from None


def _whole_seconds(seconds: float) -> bool:
    return round(seconds * 1e9) % 1_000_000_000 == 0


# -- options ----------------------------------------------------------------------------------------
def _capacity_ttl_min(args: list[str]) -> tuple[int, int | None, int | None]:
    cap = _atoi(args[0])
    ttl = minimum = None
    if len(args) > 1:
        ttl = _atoi(args[1])
        if ttl <= 0:
            raise ConfigError(f"cache TTL can not be zero or negative: {ttl}")
        if len(args) > 2:
            minimum = _atoi(args[2])
            if minimum < 0:
                raise ConfigError(f"cache min TTL can not be negative: {minimum}")
    return cap, ttl, minimum


def _success(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if not args:
        raise c.arg_err()
    s.success_capacity, ttl, minimum = _capacity_ttl_min(args)
    if ttl is not None:
        s.success_ttl = ttl
    if minimum is not None:
        s.success_min_ttl = minimum


def _denial(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if not args:
        raise c.arg_err()
    s.denial_capacity, ttl, minimum = _capacity_ttl_min(args)
    if ttl is not None:
        s.denial_ttl = ttl
    if minimum is not None:
        s.denial_min_ttl = minimum


def _prefetch(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if not args or len(args) > 3:
        raise c.arg_err()
    amount = _atoi(args[0])
    if amount < 0:
        raise ConfigError(f"prefetch amount should be positive: {amount}")
    s.prefetch = amount
    if len(args) > 1:
        s.prefetch_duration = _duration(args[1])
    if len(args) > 2:
        pct = args[2]
        raw = pct.encode("utf-8")
        last_byte = raw[-1] if raw else 0  # Go indexes the string's last byte
        if last_byte != ord("%"):
            raise ConfigError(f"last character of percentage should be `%`, but is: {go_quote_rune(last_byte)}")
        num = _atoi(pct[:-1])
        if num < 10 or num > 90:
            raise ConfigError(f"percentage should fall in range [10, 90]: {num}")
        s.prefetch_percentage = num


def _serve_stale(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if len(args) > 5:
        raise c.arg_err()
    s.stale_up_to = STALE_DEFAULT
    s.stale_ttl = 0
    s.stale_recheck = 0.0
    if args:
        d = _duration(args[0])
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
            t = _duration(rest[0], "invalid serve_stale verify timeout: ")
            if t < 0:
                raise ConfigError("invalid negative timeout for serve_stale verify")
            s.verify_timeout = t
            rest = rest[1:]
        elif len(args) > 4:
            raise c.arg_err()
        if rest:
            s.stale_ttl = _stale_ttl(rest[0])
        if len(rest) > 1:
            s.stale_recheck = _stale_recheck(rest[1])


def _stale_ttl(text: str) -> int:
    ttl = _duration(text, "invalid serve_stale response TTL: ")
    if ttl < 0:
        raise ConfigError("invalid negative response TTL for serve_stale")
    if not _whole_seconds(ttl):
        raise ConfigError("serve_stale response TTL must be a whole number of seconds")
    if round(ttl) > MAX_UINT32:
        raise ConfigError("serve_stale response TTL exceeds the DNS TTL range")
    return round(ttl)


def _stale_recheck(text: str) -> float:
    recheck = _duration(text, "invalid serve_stale failure recheck: ")
    if recheck < 0:
        raise ConfigError("invalid negative failure recheck for serve_stale")
    if recheck > FIVE_MINUTES:
        raise ConfigError("serve_stale failure recheck cannot exceed 5 minutes")
    return recheck


def _serve_stale_policy(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if len(args) != 1:
        raise c.arg_err()
    if args[0].lower() != "prefer_positive":
        raise ConfigError(f"invalid serve_stale_policy: {args[0]}")
    s.prefer_positive = True


def _servfail(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if len(args) != 1:
        raise c.arg_err()
    d = _duration(args[0])
    if d < 0:
        raise ConfigError("invalid negative ttl for servfail")
    if d > FIVE_MINUTES:  # RFC 2308 section 7.1
        raise ConfigError("caching SERVFAIL responses over 5 minutes is not permitted")
    s.servfail_ttl = d


def _disable(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if not args:
        raise c.arg_err()
    zones = [normalize_name(z) for z in args[1:]] or ["."]
    if args[0] == "denial":
        s.denial_disabled = zones
    elif args[0] == "success":
        s.success_disabled = zones
    else:
        raise ConfigError('cache type for disable must be "success" or "denial"')


def _keepttl(c: Controller, s: CacheSettings, args: list[str]) -> None:
    if args:
        raise c.arg_err()
    s.keepttl = True


_OPTIONS: dict[str, Callable[[Controller, CacheSettings, list[str]], None]] = {
    "success": _success,
    "denial": _denial,
    "prefetch": _prefetch,
    "serve_stale": _serve_stale,
    "serve_stale_policy": _serve_stale_policy,
    "servfail": _servfail,
    "disable": _disable,
    "keepttl": _keepttl,
}
