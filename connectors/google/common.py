"""What the Google connectors share: the client library wired to the hub's outbound path, and
Google's error bodies translated into the hub's error classes.

google-api-python-client speaks httplib2. `GuardedHttp` is an httplib2-compatible object whose
`request()` sends through the integration's guarded requests session (SSRF guard, timeouts, size
cap, rate limit, retries, metrics) with the OAuth bearer token of `ctx.tokens` (refreshed ahead of
expiry, retried once after a 401). Services are built from the discovery documents shipped with
the library (static_discovery=True: no network at build time); `client_options={"api_endpoint":
...}` replaces rootUrl + servicePath, so the OAuth app's api_base_url can point a type at a
contract fake (calendar needs "calendar/v3/" appended; gmail's method paths start with gmail/v1/).
"""

from __future__ import annotations

import datetime
import json
import zoneinfo

import httplib2
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    RateLimited,
    classify,
    from_status,
    register_classifier,
)
from connectors.http import retry_after_value
from connectors.webapi import api_base

RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED", "quotaExceeded"}
# The project's daily quota is used up (403 dailyLimitExceeded, domain usageLimits: Calendar's and
# Gmail's error guides); Google's daily quotas reset at midnight Pacific time.
DAILY_LIMIT_REASONS = {"dailyLimitExceeded"}
QUOTA_DAY_ZONE = zoneinfo.ZoneInfo("America/Los_Angeles")
SCOPE_REASONS = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}


def require_tokens(ctx):
    if getattr(ctx, "tokens", None) is None:
        raise AuthError("This Google connection has no OAuth token.", remediation="Connect it from the gallery.")
    return ctx.tokens


class GuardedHttp:
    """The httplib2.Http interface google-api-python-client needs, over requests."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.session = ctx.http.session
        self.auth = require_tokens(ctx).auth

    def request(self, uri, method="GET", body=None, headers=None, redirections=5, connection_type=None):
        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-length"}
        try:
            response = self.session.request(method, uri, data=body, headers=headers, auth=self.auth)
        except ConnectorError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        info = {k.lower(): v for k, v in response.headers.items()}
        info["status"] = str(response.status_code)
        resp = httplib2.Response(info)
        resp.reason = response.reason or ""
        return resp, response.content

    def close(self):
        pass


def build_service(ctx, name: str, version: str, *, default_base: str, path: str = ""):
    endpoint = api_base("google", default_base, ctx) + "/" + path
    return discovery.build(
        name,
        version,
        http=GuardedHttp(ctx),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": endpoint},
    )


def error_reasons(exc: HttpError) -> set[str]:
    return reasons_in(exc.content)


def reasons_in(content: bytes | str | None) -> set[str]:
    """The reasons and status of Google's error JSON (both its v1 and its older v2 shape)."""
    try:
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        error = json.loads(content or "").get("error") or {}
        if not isinstance(error, dict):
            return set()
    except (ValueError, AttributeError):
        return set()
    reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)}
    reasons |= {str(d.get("reason")) for d in error.get("details") or [] if isinstance(d, dict) and d.get("reason")}
    if error.get("status"):
        reasons.add(str(error["status"]))
    return reasons


def seconds_until_quota_day(now: datetime.datetime | None = None) -> float:
    """Seconds until Google's next quota day starts (midnight in Los Angeles)."""
    now = (now or datetime.datetime.now(datetime.UTC)).astimezone(QUOTA_DAY_ZONE)
    following = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), QUOTA_DAY_ZONE)
    return max(0.0, (following - now).total_seconds())


def status_of(exc: BaseException) -> int | None:
    return exc.resp.status if isinstance(exc, HttpError) else None


@register_classifier
def classify_google(exc: BaseException) -> ConnectorError | None:
    if not isinstance(exc, HttpError):
        return None
    status, reasons = exc.resp.status, error_reasons(exc)
    retry_after = retry_after_value(exc.resp.get("retry-after"))
    limited = quota_error(status, reasons, retry_after, exc.reason)
    if limited is not None:
        return limited
    if status == 403 and (reasons & SCOPE_REASONS or "PERMISSION_DENIED" in reasons):
        return AuthError(
            f"Google refused the request: the connection lacks a permission ({exc.reason}).",
            remediation="Re-authenticate and allow every permission the hub asks for.",
        )
    if status == 401:
        return AuthError(f"Google refused our credentials ({exc.reason}).")
    if status == 400:
        return ConfigError(f"Google rejected the request: {exc.reason}.")
    return from_status(status, retry_after=retry_after, body=exc.reason)


def quota_error(status: int, reasons: set[str], retry_after: float | None, reason: str) -> RateLimited | None:
    """Google's 403 or 429 that means "slow down" or "quota used up" (never a reason to sign in
    again), for the client library's errors and for plain HTTP calls alike."""
    if status in (403, 429) and reasons & DAILY_LIMIT_REASONS:
        return RateLimited(
            f"The hub's daily quota of Google requests is used up ({reason}).",
            retry_after=retry_after if retry_after is not None else seconds_until_quota_day(),
            remediation="Nothing to do: the sync resumes by itself when Google resets the quota at midnight "
            "Pacific time. Operators can ask Google for a larger quota in the Cloud console.",
        )
    if status == 429 or (status == 403 and reasons & (RATE_LIMIT_REASONS | {"RESOURCE_EXHAUSTED"})):
        return RateLimited(f"Google is rate limiting us ({reason}).", retry_after=retry_after)
    return None


def execute(request):
    """Run a client-library request; every failure comes out as one of the hub's errors."""
    try:
        return request.execute(num_retries=0)
    except HttpError as exc:
        raise classify(exc) from exc
