"""Sliding-window rate limits shared by every worker process on every machine.

The windows live in a RateLimitStore (connectors.ports): Redis when REDIS_URL is set (here), the
database otherwise (integrations.sync.ports). At the limit the caller waits; it never fails.

No margin is guessed. A slot is taken before the request is sent and dated again when its answer
arrives (settle); the provider counted the request somewhere in between. The next request is let
through only once `seconds` have passed since the previous answers, so the provider's own window
never sees one request too many, whatever the network's delay, and the only throughput given up is
each request's own round trip. A slot whose answer never came (a killed worker) counts as in
flight for at most `pending` seconds.

An outage of the store is waited out (with the job's heartbeat) like any other wait; only one
longer than SYNC_MAX_WAIT becomes a transient error, which the engine retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

from connectors.errors import TransientError
from connectors.ports import RateLimitStore, StoreUnavailable

log = logging.getLogger(__name__)

OUTAGE_POLL_MAX = 5.0  # seconds between two tries of an unreachable store


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.limit}/{self.seconds:g}s"


def windows_for_type(integration_type) -> list[Window]:
    windows = []
    if integration_type.rate_limit_per_minute:
        windows.append(Window(integration_type.rate_limit_per_minute, 60.0))
    if integration_type.burst_limit and integration_type.burst_window_seconds:
        windows.append(Window(integration_type.burst_limit, float(integration_type.burst_window_seconds)))
    return windows


@dataclass(frozen=True)
class Slot:
    key: str
    token: str


def acquire(
    store: RateLimitStore, key: str, windows: list[Window], *, sleep=time.sleep, pending: float = 60.0
) -> tuple[list[Slot], float]:
    """Take one slot in every window of `key`, waiting as long as needed.
    Returns the slots (to settle once the answer came) and the seconds waited."""
    waited, slots = 0.0, []
    for window in windows:
        window_key = f"{key}:{window.name}"
        while True:
            wait, token = _try(store, window_key, window, pending, sleep)
            if token:
                slots.append(Slot(window_key, token))
                break
            if wait > window.seconds:
                # Only slots still in flight can make the wait longer than the window: their answers
                # may come any moment, so look again soon rather than at the worst case.
                wait = max(0.02, min(wait, window.seconds / 10))
            sleep(wait)
            waited += wait
    return slots, waited


def settle(store: RateLimitStore, slots: list[Slot]) -> None:
    for slot in slots:
        # Unreachable store: the slot then counts as in flight a little longer; safe, only slower.
        with contextlib.suppress(StoreUnavailable):
            store.settle(slot.key, slot.token)


def _try(store: RateLimitStore, key: str, window: Window, pending: float, sleep) -> tuple[float, str]:
    """One try_acquire, waiting out an outage of the store (each wait heartbeats the job)."""
    down_for, pause = 0.0, 0.25
    while True:
        try:
            return store.try_acquire(key, window.limit, window.seconds, pending)
        except StoreUnavailable as exc:
            if down_for >= settings.SYNC_MAX_WAIT:
                raise TransientError(
                    "The hub's rate-limit store has been unreachable for a while; the sync will be retried."
                ) from exc
            if down_for == 0:
                log.warning("The rate-limit store is unreachable (%s); waiting for it to come back", exc)
            sleep(pause)
            down_for += pause
            pause = min(OUTAGE_POLL_MAX, pause * 2)


_ACQUIRE = """
-- The server's clock, not the workers': machines' clocks drift.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key, window, limit, member, pending = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + pending, member)
  redis.call('EXPIRE', key, math.ceil(window + pending) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""

_SETTLE = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[1])
return 1
"""


class RedisWindowStore:
    """The store shared through Redis (REDIS_URL)."""

    _scripts: dict = {}
    _clients: dict = {}

    def __init__(self, url: str):
        self.url = url

    def _client(self):
        client = self._clients.get(self.url)
        if client is None:
            import redis

            client = self._clients[self.url] = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5
            )
        return client

    def _run(self, name: str, source: str, keys, args):
        import redis

        client = self._client()
        script = self._scripts.get((self.url, name))
        if script is None:
            script = self._scripts[(self.url, name)] = client.register_script(source)
        try:
            return script(keys=keys, args=args, client=client)
        except (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError,
        ) as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}") from exc

    def try_acquire(self, key: str, limit: int, seconds: float, pending: float) -> tuple[float, str]:
        member = f"{time.time()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        wait = float(self._run("acquire", _ACQUIRE, [self._key(key)], [seconds, limit, member, pending]))
        return (max(0.01, wait), "") if wait > 0 else (0.0, member)

    def settle(self, key: str, token: str) -> None:
        self._run("settle", _SETTLE, [self._key(key)], [token])

    @staticmethod
    def _key(key: str) -> str:
        return f"metacortex:ratelimit:{key}"
