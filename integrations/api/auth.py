"""Session or personal API token authentication for the JSON API, and its JSON error answers."""

from __future__ import annotations

import json
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from integrations.models import ApiToken

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


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
}


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason


def _csrf_failure(request) -> str | None:
    check = _CsrfCheck(lambda req: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def api_view(*methods: str):
    """Authenticate (token first, then session), enforce CSRF for session writes, allow methods."""
    allowed = set(methods)

    def decorator(view):
        @csrf_exempt  # only token requests are exempt: session writes are checked below
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            header = request.META.get("HTTP_AUTHORIZATION", "")
            if header:
                scheme, _, value = header.partition(" ")
                if scheme.lower() != "bearer" or not value.strip():
                    return error(401, "Send the token as: Authorization: Bearer mc_…")
                user = ApiToken.authenticate(value.strip())
                if user is None:
                    return error(
                        401,
                        "This API token is not valid, or it was revoked.",
                        remediation="Create a new token on the API tokens page.",
                    )
                request.user = user
            elif not request.user.is_authenticated:
                return error(
                    401,
                    "Authentication is required.",
                    remediation="Log in, or send a personal API token as Authorization: Bearer mc_…",
                )
            elif request.method not in SAFE_METHODS and (reason := _csrf_failure(request)):
                return error(
                    403,
                    f"CSRF check failed ({reason}).",
                    code="csrf_failed",
                    remediation="Send the X-CSRFToken header with session requests, or use an API token.",
                )
            if request.method not in allowed:
                response = error(405, f"{request.method} is not allowed here.")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def json_body(request) -> dict | None:
    """The request's JSON object, {} for an empty body, or None when it is not a JSON object."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
