"""The JSON API on django-ninja: typed schemas, authentication and the OpenAPI document
(/api/v1/openapi.json) in one place, for every route: integrations, jobs and uploads
(integrations.api.routes), the timeline and Zapier. Anything else under /api/v1/ is a JSON 404
(integrations.api.urls, mounted after it)."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from integrations.api.auth import (
    BadBody,
    Refused,
    body_too_large,
    error,
    json_body,
    session_user,
    token_user,
    unauthenticated,
)


class GuardedParser(Parser):
    """JSON bodies read as the rest of the API reads them (integrations.api.auth.json_body): too
    deeply nested, or holding a lone UTF-16 surrogate, is a 400 naming the field, never a 500."""

    def parse_body(self, request):
        data = json_body(request)  # raises BadBody
        if data is None:
            raise HttpError(400, "The body must be a JSON object.")
        return data


class BearerToken(HttpBearer):
    """A personal API token (Authorization: Bearer mc_...), created on the API tokens page. A
    malformed header or a revoked token is refused (401) here, not tried as a session."""

    def __call__(self, request: HttpRequest):
        return token_user(request)  # raises Refused

    def authenticate(self, request: HttpRequest, token: str):  # the whole header is read above
        raise NotImplementedError


class Session(APIKeyCookie):
    """The signed-in browser session; writes need the CSRF token (the X-CSRFToken header)."""

    param_name = "sessionid"

    def __call__(self, request: HttpRequest):
        return session_user(request)  # raises Refused for a write without the CSRF token

    def authenticate(self, request: HttpRequest, key):  # the session middleware read the cookie
        raise NotImplementedError


api = NinjaAPI(
    title="MetaCortex API",
    version="1",
    description="Your integrations, their sync jobs, and your timeline: records, places and people.",
    auth=[BearerToken(), Session()],
    urls_namespace="api",
    docs_url=None,
    openapi_url="/openapi.json",
    parser=GuardedParser(),
)


@api.exception_handler(BadBody)
def _bad_body(request, exc):
    return error(400, exc.message, field=exc.field)


@api.exception_handler(RequestDataTooBig)
def _too_large(request, exc):
    return body_too_large()


@api.exception_handler(Refused)
def _refused(request, exc):
    return exc.response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return unauthenticated()


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    first = exc.errors[0] if exc.errors else {}
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path")]
    field = ".".join(where) or None
    message = first.get("msg", "The request is not valid.")
    return error(400, f"{field}: {message}" if field else message, field=field)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error(404, "Not found: it does not exist, or it is not yours.")


@api.exception_handler(HttpError)
def _http_error(request, exc):
    # ninja reports any parser failure as "Cannot parse request body": say what was wrong instead.
    cause = exc.__cause__
    if isinstance(cause, BadBody):
        return error(400, cause.message, field=cause.field)
    if isinstance(cause, HttpError):
        return error(cause.status_code, str(cause))
    return error(exc.status_code, str(exc))


def _register_routers():
    from integrations.api.routes import refuse_other_methods
    from integrations.api.routes import router as integrations_router
    from timeline.api import router as timeline_router
    from timeline.zapier import router as zapier_router

    for router in (timeline_router, zapier_router):  # the integration router refuses its own
        refuse_other_methods(router)
    api.add_router("/", integrations_router)
    api.add_router("/", timeline_router)
    api.add_router("/", zapier_router)


_register_routers()
