"""Session or personal API token authentication for the JSON API, and its JSON error answers."""

from __future__ import annotations

import json
from functools import wraps

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from integrations.models import ApiToken

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# No body of this API nests deeper than 3 ({"config": {"field": [value]}}); Python's parser gives up
# (RecursionError) near 1,000.
MAX_JSON_DEPTH = 32


class BadBody(Exception):
    """A JSON body the API cannot take: a 400 with the message and the field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


def answer(data, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response


def error(status: int, message: str, *, code: str = "", field=None, remediation: str = "", fields=None):
    body = {"code": code or _CODES.get(status, "error"), "message": message, "field": field, "remediation": remediation}
    if fields:
        body["fields"] = fields
    return answer({"error": body}, status=status)


_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "too_large",
    416: "range_not_satisfiable",
    429: "rate_limited",
    503: "unavailable",
    507: "insufficient_storage",
}


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason


def _csrf_failure(request) -> str | None:
    check = _CsrfCheck(lambda req: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


class Refused(Exception):
    """Authentication refused the request: the answer to send (raised inside django-ninja's auth)."""

    def __init__(self, response: JsonResponse):
        super().__init__(response.status_code)
        self.response = response


@sensitive_variables()
def token_user(request):
    """The user of the request's Authorization: Bearer token, None without that header, or raises
    Refused (401) for a malformed header or a token that is not valid."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Refused(error(401, "Send the token as: Authorization: Bearer mc_…"))
    user = ApiToken.authenticate(value.strip())
    if user is None:
        raise Refused(
            error(
                401,
                "This API token is not valid, or it was revoked.",
                remediation="Create a new token on the API tokens page.",
            )
        )
    request.user = user
    return user


def session_user(request):
    """The signed-in user, None when nobody is; raises Refused (403) for a write without the CSRF
    token: only token requests skip CSRF."""
    if not request.user.is_authenticated:
        return None
    if request.method not in SAFE_METHODS and (reason := _csrf_failure(request)):
        raise Refused(
            error(
                403,
                f"CSRF check failed ({reason}).",
                code="csrf_failed",
                remediation="Send the X-CSRFToken header with session requests, or use an API token.",
            )
        )
    return request.user


def unauthenticated():
    return error(
        401,
        "Authentication is required.",
        remediation="Log in, or send a personal API token as Authorization: Bearer mc_…",
    )


def body_too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error(
        413,
        f"The request body is larger than the {limit // 1024} KB the API reads.",
        code="too_large",
        remediation="Archives are sent in chunks: PUT /api/v1/uploads/{id} with Content-Range.",
    )


def not_allowed(method: str, allowed) -> JsonResponse:
    response = error(405, f"{method} is not allowed here.")
    response["Allow"] = ", ".join(sorted(allowed))
    return response


def guarded(view):
    """An API view whose body and local variables never show in error reports (bodies carry
    credentials; even the DEBUG page hides them, see metacortex.debug), and whose BadBody is a 400
    naming the field."""

    @sensitive_post_parameters()
    @sensitive_variables()
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadBody as bad:
            return error(400, bad.message, field=bad.field)

    return wrapped


def api_view(*methods: str):
    """A plain Django view with the API's authentication (token first, then session, CSRF for
    session writes) and methods; the API's own routes are on django-ninja (metacortex.api)."""
    allowed = set(methods)

    def decorator(view):
        guarded_view = guarded(view)

        @csrf_exempt  # only token requests are exempt: session writes are checked in session_user
        @sensitive_post_parameters()
        @sensitive_variables()
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                if token_user(request) is None and session_user(request) is None:
                    return unauthenticated()
            except Refused as refused:
                return refused.response
            if request.method not in allowed:
                return not_allowed(request.method, allowed)
            return guarded_view(request, *args, **kwargs)

        return wrapped

    return decorator


def json_body(request) -> dict | None:
    """The request's JSON object, {} for an empty body, or None when it is not a JSON object.
    Raises BadBody for JSON nested too deeply or holding text no database can store."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except RecursionError:
        raise BadBody(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        return None
    _check_tree(data)
    return data if isinstance(data, dict) else None


_TOO_DEEP = f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."


def _check_tree(data) -> None:
    """Walk the parsed body without recursion: its depth, and every key and string in it. JSON's
    \\ud800 escapes decode to lone UTF-16 surrogates, which are not text: SQLite and PostgreSQL
    refuse them with an exception, and PostgreSQL refuses NUL (\\u0000), so they are refused
    here, naming the field."""
    stack = [(data, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadBody(_TOO_DEEP)
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, (*path, key))
                stack.append((item, (*path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(index)), depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(text: str, path: tuple) -> None:
    if "\x00" in text:
        # PostgreSQL text and jsonb cannot hold NUL: psycopg refuses it before sending (a 500).
        raise BadBody(
            f"{_where(path)} contains a NUL character (\\u0000), which cannot be stored. Send the text without it.",
            field=_field(path),
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadBody(
            f"{_where(path)} contains a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), "
            "which is not valid text. Send the character itself, or both halves of its pair.",
            field=_field(path),
        ) from None


def _printable(path: tuple) -> list[str]:
    # The answer must not hold the character either: a bad key is named with an escape instead.
    return [p.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:100] for p in path]


def _where(path: tuple) -> str:
    return ".".join(_printable(path)) or "the body"


def _field(path: tuple) -> str | None:
    names = [p for p in _printable(path) if not p.isdigit()]
    return names[-1] if names else None
