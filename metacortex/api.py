"""The JSON API on django-ninja: typed schemas, authentication and the OpenAPI document
(/api/v1/openapi.json) in one place. Routes not (yet) on it are served by integrations.api.urls,
mounted after it under the same prefix, with the same auth and error shape."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from integrations.api.auth import BadBody, error, json_body
from integrations.models import ApiToken


class GuardedParser(Parser):
    """JSON bodies read as the rest of the API reads them (integrations.api.auth.json_body): too
    deeply nested, or holding a lone UTF-16 surrogate, is a 400 naming the field, never a 500."""

    def parse_body(self, request):
        data = json_body(request)  # raises BadBody
        if data is None:
            raise HttpError(400, "The body must be a JSON object.")
        return data


class BearerToken(HttpBearer):
    """A personal API token (Authorization: Bearer mc_...), created on the API tokens page."""

    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.authenticate(token.strip())
        if user is not None:
            request.user = user
        return user


class Session(APIKeyCookie):
    """The signed-in browser session; writes need the CSRF token (ninja checks it here)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key):
        return request.user if request.user.is_authenticated else None


api = NinjaAPI(
    title="MetaCortex API",
    version="1",
    description="Your integrations, their sync jobs, and your timeline: records, places and people.",
    auth=[BearerToken(), Session()],
    urls_namespace="api_v1",
    docs_url=None,
    openapi_url="/openapi.json",
    parser=GuardedParser(),
)


@api.exception_handler(BadBody)
def _bad_body(request, exc):
    return error(400, exc.message, field=exc.field)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error(
        401,
        "Authentication is required.",
        remediation="Log in, or send a personal API token as Authorization: Bearer mc_…",
    )


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
    from timeline.api import router as timeline_router
    from timeline.zapier import router as zapier_router

    api.add_router("/", timeline_router)
    api.add_router("/", zapier_router)


_register_routers()
