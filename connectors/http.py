"""The one outbound HTTP path. Every connector, and every client library a connector uses
(caldav, spotipy, requests-oauthlib, the Google client), sends its requests through
`GuardedAdapter`, which applies in one place:

- the SSRF guard with address pinning (connectors.net), on every connection, redirects included;
- timeouts and a response size cap;
- the shared rate limit (keyed the way the provider counts), waiting at the limit;
- retries by error class, for calls made outside a sync job (workflow outputs, direct queries,
  connection tests): 429 waits out Retry-After, 5xx and connection failures back off
  exponentially with jitter, a bounded number of times (only for idempotent methods unless
  the caller opts in). Inside a sync job the engine is the one retry layer (it resumes from the
  checkpoint under a time budget), so the job's policy has max_retries=0;
- request metrics, through the MetricsSink port;
- the sync job's heartbeat, before every attempt, while a body is read and through every wait,
  so retries against a slow or rate-limiting server never make a live job look abandoned.
"""

from __future__ import annotations

import datetime
import logging
import math
import random
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from connectors import net, ratelimit
from connectors.errors import (
    PERMANENT_5XX,
    ConfigError,
    ConnectorError,
    ResponseTooLarge,
    TransientError,
    classify,
    from_status,
)
from connectors.masking import mask_url, quote_body
from connectors.metrics import MetricsRecorder
from connectors.ports import MetricsSink, RateLimitStore

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PROPFIND", "REPORT", "SEARCH"})
USER_AGENT = "MetaCortex/1.0 (+https://github.com/metacortex/hub)"


try:  # present when urllib3 is urllib3-future (caldav's niquests installs it over urllib3)
    from urllib3 import HttpVersion

    _HTTP3 = HttpVersion.h3
except ImportError:
    _HTTP3 = None


class _GuardedSocketMixin:
    """urllib3 opens its sockets in _new_conn: open them through the SSRF guard instead (TLS,
    when there is TLS, still verifies against the host name, not the pinned address)."""

    def _new_conn(self):
        return net.guarded_create_connection(
            (self._dns_host, self.port),
            self.timeout,
            source_address=self.source_address,
            socket_options=self.socket_options,
        )


class _GuardedHTTPConnection(_GuardedSocketMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedSocketMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.3g} MB"


def retry_after_seconds(response) -> float | None:
    # Discord sends X-RateLimit-Reset-After (seconds) where others send Retry-After.
    return retry_after_value(response.headers.get("Retry-After") or response.headers.get("X-RateLimit-Reset-After"))


def retry_after_value(value) -> float | None:
    """Seconds to wait from a Retry-After value, which RFC 9110 (10.2.3) allows as a number of
    seconds or as an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT", e.g. when a daily quota resets);
    None when absent or unreadable (the caller backs off instead)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: attempt 0 -> up to base, 1 -> up to 2*base, ..."""
    base = settings.SYNC_BACKOFF_BASE
    return min(60.0, base * (2**attempt)) * (0.5 + random.random() / 2)


def heartbeat_every() -> float:
    """How often a busy or waiting sync proves it is alive: well inside SYNC_STALE_AFTER, after which
    another worker would take its job over."""
    return max(0.05, min(5.0, settings.SYNC_STALE_AFTER / 4))


def sleep_with_heartbeat(seconds: float, heartbeat, sleep=time.sleep) -> None:
    """Sleep in slices, calling heartbeat between them: a Retry-After of 15 minutes must not look
    like a dead worker. The heartbeat may raise (the job was taken over): the wait stops there."""
    remaining = seconds
    heartbeat()
    while remaining > 0:
        step = min(remaining, heartbeat_every())
        sleep(step)
        remaining -= step
        heartbeat()


def _noop():
    return None


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the server"


class GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: OutboundPolicy):
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
        if _HTTP3 is not None:
            # urllib3-future could switch to QUIC over UDP on an Alt-Svc hint; the guarded socket is
            # TCP only, so keep every connection on HTTP/1.1 or HTTP/2.
            self.poolmanager.connection_pool_kw["disabled_svn"] = {_HTTP3}

    def send(self, request, stream=False, timeout=None, **kwargs):
        policy = self.policy
        timeout = timeout if timeout is not None else policy.timeout
        method = request.method.upper()
        retry_5xx = method in IDEMPOTENT or policy.retry_unsafe
        attempt = 0
        while True:
            # Before every attempt: a server that hangs each time must not starve the job's heartbeat
            # across all the retries (each attempt is bounded by the timeouts).
            policy.heartbeat()
            slots = policy.wait_for_slot()
            started = time.monotonic()
            try:
                response = super().send(request, stream=True, timeout=timeout, **kwargs)
            except ConnectorError:
                policy.settle(slots)
                raise  # refused by the guard before any byte was sent: nothing to retry
            except requests.exceptions.RequestException as exc:
                policy.settle(slots)
                policy.metrics.record(duration_ms=(time.monotonic() - started) * 1000, ok=False)
                if retry_5xx and attempt < policy.max_retries and _retryable_connection_error(exc):
                    policy.sleep(backoff_delay(attempt))
                    attempt += 1
                    continue
                raise
            policy.settle(slots)  # the answer's headers are here: the provider has counted it
            duration_ms = (time.monotonic() - started) * 1000
            status = response.status_code
            policy.metrics.record(duration_ms=duration_ms, ok=status < 400, rate_limited=status == 429)
            if status == 429 and attempt < policy.max_retries:
                wait = retry_after_seconds(response)
                wait = backoff_delay(attempt) if wait is None else wait
                if wait <= policy.max_wait:
                    log.info("Rate limited by %s; waiting %.1f s as asked", request.url.split("?")[0], wait)
                    response.close()
                    policy.sleep(wait)
                    attempt += 1
                    continue
            if status >= 500 and status not in PERMANENT_5XX and retry_5xx and attempt < policy.max_retries:
                response.close()
                policy.sleep(backoff_delay(attempt))
                attempt += 1
                continue
            if not stream:
                try:
                    _read_capped(response, policy, timeout)
                except _ReadInterrupted:
                    if not (retry_5xx and attempt < policy.max_retries):
                        raise
                    policy.sleep(backoff_delay(attempt))
                    attempt += 1
                    continue
            return response


def _retryable_connection_error(exc) -> bool:
    """A connection that failed for a reason a retry may not meet again. Not a TLS failure (a plain
    http server reached with https://, an invalid certificate, outdated encryption) nor an unknown
    host: those are the address's, and retrying them made the person wait ~11 s for the same words."""
    if not isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return False
    return classify(exc, report=False).error_class != ConfigError.error_class


class _ReadInterrupted(TransientError):
    """The answer stopped halfway: worth another try, unlike an answer that is too big or too slow."""


def _read_capped(response, policy: OutboundPolicy, timeout):
    max_bytes, deadline = policy.max_bytes, time.monotonic() + policy.max_duration
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise ResponseTooLarge(f"The response is {_mb(int(declared))}, over the {_mb(max_bytes)} limit.")
    chunks, size = [], 0
    try:
        for chunk in response.raw.stream(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                response.close()
                raise ResponseTooLarge(f"The response is over the {_mb(max_bytes)} limit.")
            if time.monotonic() > deadline:
                response.close()
                raise TransientError(f"{_host(response.url)} sent its answer too slowly and it was stopped.")
            chunks.append(chunk)
            policy.heartbeat()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # urllib3's own exceptions: requests wraps them only on its own read path, not on this one.
        response.close()
        raise _interrupted(response.url, exc, timeout) from exc
    except BaseException:
        response.close()  # e.g. the heartbeat found the job taken over (LostOwnership): free the connection
        raise
    response._content = b"".join(chunks)
    response._content_consumed = True


def _interrupted(url: str, exc: BaseException, timeout) -> _ReadInterrupted:
    host = _host(url)
    timeouts = urllib3.exceptions.TimeoutError | TimeoutError | requests.exceptions.Timeout
    # requests' iter_content re-raises urllib3's ReadTimeoutError as a ConnectionError wrapping it.
    wrapped = exc.args[0] if exc.args else None
    if isinstance(exc, timeouts) or isinstance(wrapped, timeouts):
        read_timeout = timeout[-1] if isinstance(timeout, tuple) else timeout
        return _ReadInterrupted(f"{host} stopped sending its answer halfway (nothing came for {read_timeout:g} s).")
    return _ReadInterrupted(f"The connection to {host} broke while its answer was being read.")


class OutboundPolicy:
    """What the adapter enforces for one integration (or for a one-off, unsaved connection test).

    The hub's side comes in through ports: `rate_store` (where the shared windows live) with
    `rate_key` (whose windows: the integration, its token, its account or the app, as the
    connector declares), and `metrics_sink`. Without them nothing is limited or counted."""

    def __init__(
        self,
        *,
        integration=None,
        windows: list[ratelimit.Window] | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
        max_retries: int | None = None,
        retry_unsafe: bool = False,
        sleep=time.sleep,
        heartbeat=None,
        rate_store: RateLimitStore | None = None,
        rate_key: str | None = None,
        metrics_sink: MetricsSink | None = None,
    ):
        self.integration = integration
        self.integration_id = getattr(integration, "pk", None)
        if windows is None and integration is not None:
            windows = ratelimit.windows_for_type(integration.type)
        self.windows = windows or []
        self.timeout = timeout or settings.OUTBOUND_TIMEOUT
        self.max_bytes = max_bytes or settings.OUTBOUND_MAX_BYTES
        self.max_duration = settings.OUTBOUND_MAX_DURATION
        self.max_retries = settings.SYNC_MAX_TRANSIENT_RETRIES if max_retries is None else max_retries
        self.max_wait = settings.SYNC_MAX_WAIT
        self.retry_unsafe = retry_unsafe
        self._sleep = sleep
        # Set by the sync engine for the job's heartbeat; called during every attempt and every wait.
        self.heartbeat = heartbeat or _noop
        self.rate_store = rate_store
        self.rate_key = rate_key or (f"integration:{self.integration_id}" if self.integration_id else None)
        self.metrics_sink = metrics_sink
        self.metrics = MetricsRecorder(self.integration_id, metrics_sink)

    def derive(self, **overrides) -> OutboundPolicy:
        """The same policy (ports, windows, caps, heartbeat) with some settings changed."""
        values = dict(
            integration=self.integration,
            windows=self.windows,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            max_retries=self.max_retries,
            retry_unsafe=self.retry_unsafe,
            sleep=self._sleep,
            heartbeat=self.heartbeat,
            rate_store=self.rate_store,
            rate_key=self.rate_key,
            metrics_sink=self.metrics_sink,
        )
        values.update(overrides)
        return OutboundPolicy(**values)

    def sleep(self, seconds: float) -> None:
        """Every wait of the outbound path (Retry-After, backoff, rate-limit windows) goes through here."""
        sleep_with_heartbeat(seconds, self.heartbeat, self._sleep)

    def wait_for_slot(self) -> list[ratelimit.Slot]:
        if not (self.windows and self.rate_store is not None and self.rate_key):
            return []
        # A slot still unsettled after the longest a request can take to answer is counted as gone.
        pending = 2 * (max(self.timeout) if isinstance(self.timeout, tuple) else self.timeout) + 1
        slots, waited = ratelimit.acquire(
            self.rate_store, self.rate_key, self.windows, sleep=self.sleep, pending=pending
        )
        if waited:
            log.info("%s waited %.2f s for its rate limit", self.rate_key, waited)
        return slots

    def settle(self, slots: list[ratelimit.Slot]) -> None:
        if slots:
            ratelimit.settle(self.rate_store, slots)


def guarded_session(policy: OutboundPolicy | None = None, session: requests.Session | None = None) -> requests.Session:
    """A requests.Session (or the given subclass instance) whose every request takes the guarded path."""
    session = session or requests.Session()
    adapter = GuardedAdapter(policy or OutboundPolicy())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # no proxies or netrc from the environment: the guard must see the real host
    session.headers.setdefault("User-Agent", USER_AGENT)
    session.headers["User-Agent"] = USER_AGENT
    session.max_redirects = 5
    return session


class HttpClient:
    """What connectors call directly: requests with errors classified into the hub's classes."""

    def __init__(self, policy: OutboundPolicy | None = None, **policy_kwargs):
        self.policy = policy or OutboundPolicy(**policy_kwargs)
        self.session = guarded_session(self.policy)
        # Set by the connector's Context: the integration's secrets, masked in quoted error bodies.
        self.hidden_in_errors = list

    def request(self, method: str, url: str, *, ok=(200, 201, 202, 204), allow=(), **kwargs) -> requests.Response:
        """Send a request; statuses outside `ok` and `allow` raise the error their class means."""
        try:
            response = self.session.request(method, url, **kwargs)
        except Exception as exc:
            raise classify(exc) from exc
        if response.status_code in ok or response.status_code in allow:
            return response
        body = quote_body(response.text[:2000], self.hidden_in_errors()) if not kwargs.get("stream") else ""
        raise from_status(
            response.status_code, url_hint=_display_url(url), retry_after=retry_after_seconds(response), body=body
        )

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def stream_capped(self, response, max_bytes: int | None = None):
        """Iterate a streamed body, stopping past the size cap or the total time limit (a server
        trickling bytes forever would otherwise never hit the per-read timeout)."""
        max_bytes = max_bytes or self.policy.max_bytes
        deadline = time.monotonic() + self.policy.max_duration
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(f"The response is over the {_mb(max_bytes)} limit.")
                if time.monotonic() > deadline:
                    raise TransientError(
                        f"The download took longer than {self.policy.max_duration:g} s and was stopped."
                    )
                self.policy.heartbeat()
                yield chunk
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise _interrupted(response.url, exc, self.policy.timeout) from exc
        finally:
            response.close()

    def close(self):
        self.policy.metrics.flush()
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _display_url(url: str) -> str:
    """Scheme and host only: paths and query strings carry tokens (Google's private iCal links)."""
    return mask_url(url)
