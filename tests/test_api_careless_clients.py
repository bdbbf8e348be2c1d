"""The JSON API answers a careless or hostile client with a JSON error naming what is wrong, never
a 500 or an HTML page: a form posted where JSON is expected, a body over the size limit, a method
a path does not take."""

import json

import pytest
from django.test import Client

from integrations.models import ApiToken, IntegrationType
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")

POST_ROUTES = [
    "/api/v1/uploads",
    "/api/v1/imports",
    "/api/v1/integrations/ical-feed/connect",
    "/api/v1/webhooks",
    "/api/v1/zapier/hooks",
    "/api/v1/zapier/actions/records",
]


@pytest.fixture
def api(owner):
    return Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner, 'tests')[1]}", raise_request_exception=False)


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    return response.json()["error"]


@pytest.mark.parametrize("path", POST_ROUTES)
def test_a_form_posted_instead_of_json_is_a_400(api, path):
    # `curl -F name=value` and the test client's own default: multipart/form-data. The middleware's
    # check of form fields read the stream, and the API's JSON reader then found it consumed (500).
    response = api.post(path, {"filename": "export.zip", "size": "10"})
    error = assert_json_error(response, 400)
    assert "JSON object" in error["message"]


def test_a_form_with_the_sessions_csrf_header_is_a_400_too(owner):
    # The session's CSRF check reads the form's csrfmiddlewaretoken before the API reads the body.
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(owner)
    browser.get("/integrations/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post("/api/v1/uploads", {"filename": "export.zip"}, HTTP_X_CSRFTOKEN=token)
    assert "JSON object" in assert_json_error(response, 400)["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/uploads"),
        ("post", "/api/v1/webhooks"),
        ("post", "/api/v1/integrations/ical-feed/connect"),
        ("patch", "/api/v1/integrations/{mine}"),
    ],
)
def test_a_body_over_the_size_limit_is_a_413(api, owner, settings, method, path):
    mine = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"))
    path = path.format(mine=mine.pk)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"name": "%s"}' % ("x" * 2000)
    error = assert_json_error(getattr(api, method)(path, body, "application/json"), 413)
    assert "larger than" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/api/v1/records", "GET, HEAD, OPTIONS"),
        ("delete", "/api/v1/records/1", "GET, HEAD, OPTIONS"),
        ("put", "/api/v1/places", "GET, HEAD, OPTIONS"),
        ("patch", "/api/v1/people/1", "GET, HEAD, OPTIONS"),
        ("get", "/api/v1/exports", "OPTIONS, POST"),
        ("head", "/api/v1/exports", "OPTIONS, POST"),
        ("put", "/api/v1/webhooks", "GET, HEAD, OPTIONS, POST"),
        ("get", "/api/v1/webhooks/1", "DELETE, OPTIONS"),
        ("delete", "/api/v1/zapier/me", "GET, HEAD, OPTIONS"),
        ("get", "/api/v1/zapier/hooks", "OPTIONS, POST"),
        ("patch", "/api/v1/zapier/actions/records", "OPTIONS, POST"),
    ],
)
def test_a_method_a_timeline_or_zapier_path_does_not_take_is_the_apis_json_405(api, method, path, allowed):
    response = getattr(api, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert response["Content-Type"].startswith("application/json")
    if method != "head":
        assert response.json()["error"]["code"] == "method_not_allowed"


# PostgreSQL text and jsonb cannot hold NUL: psycopg refuses the value before sending it
# (DataError, a 500). SQLite stores it, so these answered 200/201 here and 500 in production.
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/zapier/actions/records", {"title": "Buy milk\u0000", "kind": "task"}, "title"),
        (
            "/api/v1/uploads",
            {"type": "spotify", "filename": "a.zip", "size": 1, "fingerprint": "\u0000"},
            "fingerprint",
        ),
        ("/api/v1/integrations/ical-feed/connect", {"config": {"url\u0000": "x"}}, "url\\x00"),
    ],
)
def test_a_nul_character_in_a_json_body_is_a_400_naming_the_field(api, path, body, field):
    error = assert_json_error(api.post(path, json.dumps(body), "application/json"), 400)
    assert error["field"] == field
    assert "NUL" in error["message"]
    assert "\u0000" not in error["message"]


def test_a_nul_character_in_a_query_string_is_a_400_naming_the_parameter(api):
    error = assert_json_error(api.get("/api/v1/records", {"kind": "event\u0000"}), 400)
    assert error["field"] == "kind"
