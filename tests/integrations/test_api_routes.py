"""The integration routes on django-ninja: each is in the OpenAPI document, answers with and
without a trailing slash, and refuses other methods with the API's JSON 405; the auth answers
stay the API's own."""

import pytest
from django.test import Client

from integrations.models import ApiToken, IntegrationType
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")

SEED_ROUTES = {
    "/api/v1/integrations": {"get"},
    "/api/v1/integrations/{pk}": {"get", "patch", "delete"},
    "/api/v1/integrations/{type_ref}/connect": {"post"},
    "/api/v1/integrations/{pk}/disconnect": {"post", "delete"},
    "/api/v1/integrations/{pk}/sync": {"post"},
    "/api/v1/integrations/{pk}/jobs": {"get"},
    "/api/v1/jobs/{job_id}": {"get"},
    "/api/v1/uploads": {"post"},
    "/api/v1/uploads/{upload_id}": {"get", "head", "put", "patch", "delete"},
    "/api/v1/imports": {"post"},
}


@pytest.fixture
def api(owner):
    plain = ApiToken.issue(owner, "tests")[1]
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_the_openapi_document_describes_every_integration_route(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path, methods in SEED_ROUTES.items():
        assert path in paths, path
        assert set(paths[path]) == methods, path
    assert not [path for path in paths if path.endswith("/")]  # the slash forms stay out
    ids = [operation["operationId"] for methods in paths.values() for operation in methods.values()]
    assert len(ids) == len(set(ids))  # OpenAPI: an operationId names one operation
    connect = paths["/api/v1/integrations/{type_ref}/connect"]["post"]
    assert "credentials" in connect["requestBody"]["content"]["application/json"]["schema"]["properties"]
    chunk = paths["/api/v1/uploads/{upload_id}"]["put"]
    assert "application/octet-stream" in chunk["requestBody"]["content"]


def test_a_trailing_slash_answers_the_same(api, owner):
    mine = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    for path in ("/api/v1/integrations", f"/api/v1/integrations/{mine.pk}", f"/api/v1/integrations/{mine.pk}/jobs"):
        bare, slashed = api.get(path), api.get(f"{path}/")
        assert bare.status_code == slashed.status_code == 200, path
        assert bare.json() == slashed.json()
    queued = api.post(f"/api/v1/integrations/{mine.pk}/sync/")
    assert queued.status_code == 202
    job = queued.json()["job"]
    assert job["links"]["self"] == f"/api/v1/jobs/{job['id']}"  # links name the paths without the slash
    assert api.get(f"/api/v1/jobs/{job['id']}/").json()["job"]["id"] == job["id"]


@pytest.mark.parametrize("suffix", ["", "/"])
def test_other_methods_are_the_apis_json_405(api, owner, suffix):
    mine = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    response = api.put(f"/api/v1/integrations/{mine.pk}{suffix}")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    upload = api.post(f"/api/v1/uploads{suffix}", "{}", "application/json")
    assert upload.status_code == 404  # past the method check: no such type
    assert api.get(f"/api/v1/uploads{suffix}")["Allow"] == "OPTIONS, POST"


def test_tokens_and_sessions_keep_their_answers(owner):
    url = "/api/v1/integrations/ical-feed/connect"
    wrong_scheme = Client(HTTP_AUTHORIZATION="Token abc").post(url, "{}", "application/json")
    assert wrong_scheme.status_code == 401
    assert "Authorization: Bearer" in wrong_scheme.json()["error"]["message"]
    revoked = Client(HTTP_AUTHORIZATION="Bearer mc_not_a_token").post(url, "{}", "application/json")
    assert revoked.status_code == 401
    assert "not valid" in revoked.json()["error"]["message"]  # not a CSRF refusal: tokens skip CSRF
    session = Client(enforce_csrf_checks=True)
    assert session.post(url, "{}", "application/json").json()["error"]["code"] == "unauthenticated"
    session.force_login(owner)
    refused = session.post(url, "{}", "application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert session.get("/api/v1/integrations").status_code == 200  # reading needs no CSRF token


@pytest.mark.parametrize("suffix", ["", "/"])
def test_head_answers_as_get_without_the_body_and_options_names_the_methods(api, owner, suffix):
    from timeline.models import Place

    mine = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    place = Place.objects.create(user=owner, name="Café Odeon", lat=47.37, lon=8.54)
    paths = [f"/api/v1/integrations/{mine.pk}", f"/api/v1/integrations/{mine.pk}/jobs", f"/api/v1/places/{place.pk}"]
    if not suffix:  # (the timeline's paths have no slash form)
        paths += ["/api/v1/records?limit=1", "/api/v1/places", "/api/v1/people", "/api/v1/zapier/me"]
    else:
        paths = [path + suffix for path in paths[:2]]
    for path in paths:
        got, head = api.get(path), api.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        for header in ("Content-Type", "Content-Length", "Cache-Control"):
            assert head.get(header) == got.get(header), (path, header)
        assert int(head["Content-Length"]) == len(got.content), path

    # A HEAD is checked as its GET is: someone else's, or nobody's, is the same 404 and 401.
    assert api.head("/api/v1/places/999999").status_code == 404
    assert Client().head(f"/api/v1/integrations/{mine.pk}{suffix}").status_code == 401

    options = Client().options(f"/api/v1/integrations/{mine.pk}{suffix}")  # no credentials needed
    assert options.status_code == 204
    assert options["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert options.content == b""
    assert api.options(f"/api/v1/uploads{suffix}")["Allow"] == "OPTIONS, POST"
    upload_paths = "/api/v1/uploads/00000000-0000-0000-0000-000000000000"
    assert api.options(upload_paths + suffix)["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
    refused = api.put(f"/api/v1/integrations/{mine.pk}/jobs{suffix}")
    assert refused.status_code == 405
    assert refused["Allow"] == "GET, HEAD, OPTIONS"
