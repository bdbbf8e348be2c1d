"""Sliding-window rate limits shared by every worker process on every machine.

Windows live in the database by default (one locked bucket row per key serializes the
workers) and in Redis when REDIS_URL is set. At the limit the caller waits; it never fails.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


def windows_for_type(integration_type) -> list[Window]:
    # A request is counted here a few milliseconds before the provider counts it; a small margin on
    # every window keeps the provider's own window from ever seeing one request too many.
    margin = settings.RATE_LIMIT_MARGIN_SECONDS
    windows = []
    if integration_type.rate_limit_per_minute:
        windows.append(Window(integration_type.rate_limit_per_minute, 60.0 + margin))
    if integration_type.burst_limit and integration_type.burst_window_seconds:
        windows.append(Window(integration_type.burst_limit, float(integration_type.burst_window_seconds) + margin))
    return windows


def acquire(key: str, windows: list[Window], *, sleep=time.sleep, max_wait: float | None = None) -> float:
    """Take one slot in every window of `key`, waiting as long as needed. Returns seconds waited."""
    waited = 0.0
    for window in windows:
        while True:
            wait = _backend().try_acquire(f"{key}:{window.limit}/{window.seconds:g}s", window)
            if wait <= 0:
                break
            if max_wait is not None and waited + wait > max_wait:
                wait = max(0.0, max_wait - waited)
                if wait == 0:
                    return waited
            sleep(wait)
            waited += wait
    return waited


def _backend():
    return _RedisWindow() if settings.REDIS_URL else _DatabaseWindow()


class _DatabaseWindow:
    def try_acquire(self, key: str, window: Window) -> float:
        from integrations.models import RateLimitBucket, RateLimitHit

        bucket, _ = RateLimitBucket.objects.get_or_create(key=key)
        now = time.time()
        with transaction.atomic():
            # The UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, so the
            # count below and the insert after it are one step for every competing worker.
            RateLimitBucket.objects.filter(pk=bucket.pk).update(touched_at=_now())
            RateLimitHit.objects.filter(bucket=bucket, at__lte=now - window.seconds).delete()
            recent = list(
                RateLimitHit.objects.filter(bucket=bucket).order_by("at").values_list("at", flat=True)[: window.limit]
            )
            if len(recent) < window.limit:
                RateLimitHit.objects.create(bucket=bucket, at=now)
                return 0.0
            return max(0.01, recent[0] + window.seconds - now)


_LUA = """
-- The server's clock, not the workers': machines' clocks drift.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, math.ceil(window) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


class _RedisWindow:
    _script = None

    def try_acquire(self, key: str, window: Window) -> float:
        client = _redis()
        if _RedisWindow._script is None:
            _RedisWindow._script = client.register_script(_LUA)
        member = f"{time.time()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        result = _RedisWindow._script(
            keys=[f"metacortex:ratelimit:{key}"], args=[window.seconds, window.limit, member], client=client
        )
        wait = float(result)
        return max(0.01, wait) if wait > 0 else 0.0


_client = None


def _redis():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


def _now():
    from django.utils import timezone

    return timezone.now()
