"""Shared machinery of the OAuth provider contract fakes (Google, Microsoft Graph, Spotify).

Each fake is a pytest-httpserver HTTPServer on 127.0.0.1 with one catch-all handler that routes
to the fake's own methods, so a test can read every request the fake saw (`requests`), make the
next calls to a path fail (`fail`), and find the fake's own bugs (`errors`, asserted empty by the
fixtures) instead of a bare 500.

Bearer tokens are checked against the real local authorization server (tests/oauth_server):
`token_owner(token)` returns the resource owner (username, email, granted scopes) of a token it
issued and that is still valid, else None. A missing, unknown, expired or revoked token is
answered 401 with the provider's documented body; a token lacking the scope an endpoint needs is
answered 403 with the provider's "insufficient scope" body.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import traceback
from dataclasses import dataclass, field
from email.utils import format_datetime

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response


class Reply(Exception):
    def __init__(self, status: int, body=None, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, dict(headers or {})


@dataclass
class Seen:
    method: str
    path: str
    args: dict
    headers: dict
    body: bytes


@dataclass
class Failure:
    pattern: re.Pattern
    method: str | None
    status: int
    body: object
    headers: dict = field(default_factory=dict)
    times: int = 1
    when: object = None  # a predicate on the request's query ({name: value}), e.g. only a page token's


class ApiFake:
    """Subclasses register routes with `@route(METHOD, regex)` on methods taking (request, **groups)
    and returning a JSON-able body, a (status, body[, headers]) tuple, or a werkzeug Response."""

    _routes: list = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._routes = [
            (method, re.compile("^" + pattern + "$"), name)
            for name, func in vars(cls).items()
            for method, pattern in getattr(func, "_fake_routes", [])
        ] + [r for base in cls.__mro__[1:] for r in getattr(base, "_routes", [])]

    def __init__(self):
        self.lock = threading.RLock()
        self.token_owner = lambda token: None
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._dispatch)
        self.server.start()
        self.reset()

    # -- programming -------------------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.requests: list[Seen] = []
            self.errors: list[str] = []
            self.failures: list[Failure] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    @property
    def base_url(self) -> str:
        """What the OAuth app's api_base_url is set to, to point a type at this fake."""
        return self.url()

    def fail(
        self,
        pattern: str,
        status: int,
        body=None,
        headers=None,
        *,
        times: int = 1,
        method: str | None = None,
        when=None,
    ):
        """The next `times` requests whose path matches `pattern` (and whose query satisfies `when`,
        if given) get this answer instead."""
        with self.lock:
            self.failures.append(Failure(re.compile(pattern), method, status, body, dict(headers or {}), times, when))

    def requests_to(self, pattern: str, method: str | None = None) -> list[Seen]:
        rx = re.compile(pattern)
        return [s for s in self.requests if rx.search(s.path) and (method is None or s.method == method)]

    def stop(self):
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    # -- provider specifics (overridden) -----------------------------------------------------
    def unauthorized(self) -> Reply:
        return Reply(401, {"error": "invalid_token"})

    def insufficient_scope(self, needed) -> Reply:
        return Reply(403, {"error": "insufficient_scope"})

    # -- helpers for handlers ----------------------------------------------------------------
    @staticmethod
    def bearer(request) -> str:
        value = request.headers.get("Authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else ""

    def owner(self, request, *any_of_scopes: str) -> dict:
        """The resource owner of the request's bearer token, with one of the scopes, or a Reply."""
        owner = self.token_owner(self.bearer(request))
        if owner is None:
            raise self.unauthorized()
        if any_of_scopes and not owner["scopes"] & set(any_of_scopes):
            raise self.insufficient_scope(any_of_scopes)
        return owner

    # -- dispatch ------------------------------------------------------------------------------
    def _dispatch(self, request):
        body = request.get_data()
        with self.lock:
            self.requests.append(
                Seen(request.method, request.path, request.args.to_dict(flat=False), dict(request.headers), body)
            )
            for failure in self.failures:
                wanted = failure.method is None or failure.method == request.method
                if failure.when is not None and not failure.when(request.args.to_dict(flat=True)):
                    continue
                if failure.times > 0 and wanted and failure.pattern.search(request.path):
                    failure.times -= 1
                    return self._response(Reply(failure.status, failure.body, failure.headers))
        for method, pattern, name in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                try:
                    with self.lock:
                        result = getattr(self, name)(request, **match.groupdict())
                except Reply as reply:
                    return self._response(reply)
                except Exception:  # noqa: BLE001 - a bug in the fake: keep it for the test to see
                    self.errors.append(traceback.format_exc())
                    return Response("fake error", status=500)
                if isinstance(result, Response):
                    return result
                if isinstance(result, tuple):
                    return self._response(Reply(*result))
                return self._response(Reply(200, result))
        self.errors.append(f"no route for {request.method} {request.path}")
        return Response(json.dumps({"error": {"code": 404, "message": "Not Found"}}), status=404)

    @staticmethod
    def _response(reply: Reply) -> Response:
        if reply.body is None:
            return Response(b"", status=reply.status, headers=reply.headers)
        if isinstance(reply.body, bytes | str):
            return Response(reply.body, status=reply.status, headers=reply.headers)
        headers = {"Content-Type": "application/json; charset=UTF-8", **reply.headers}
        return Response(json.dumps(reply.body), status=reply.status, headers=headers)


def route(method: str, pattern: str):
    def decorator(func):
        func._fake_routes = [*getattr(func, "_fake_routes", []), (method, pattern)]
        return func

    return decorator


def google_error(status: int, message: str, reason: str, state: str, **extra) -> dict:
    """Google's JSON error body (https://cloud.google.com/apis/design/errors#http_mapping)."""
    error = {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}]}
    if state:
        error["status"] = state
    error.update(extra)
    return {"error": error}


class GoogleApiFake(ApiFake):
    def unauthorized(self) -> Reply:
        return Reply(
            401,
            google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
                "authError",
                "UNAUTHENTICATED",
            ),
            {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
        )

    def insufficient_scope(self, needed) -> Reply:
        return Reply(
            403,
            google_error(
                403,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
                "PERMISSION_DENIED",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com",
                    }
                ],
            ),
        )

    @staticmethod
    def rate_limited(retry_after: int | datetime.datetime = 1) -> tuple:
        """A 429; `retry_after` a number of seconds, or a moment written as an HTTP-date (RFC 9110
        10.2.3 allows both; Google names the moment a daily quota resets that way)."""
        body = google_error(
            429, "Quota exceeded for quota metric 'Queries'.", "rateLimitExceeded", "RESOURCE_EXHAUSTED"
        )
        return 429, body, {"Retry-After": retry_after_header(retry_after)}


def retry_after_header(value: int | datetime.datetime) -> str:
    """A Retry-After value: seconds, or an aware datetime as an HTTP-date."""
    if isinstance(value, datetime.datetime):
        return format_datetime(value.astimezone(datetime.UTC), usegmt=True)
    return str(value)
