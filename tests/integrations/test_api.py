"""The JSON API with a personal token (and with the session): catalogue, connect (tested first),
one instance, sync and its job, disconnect, delete. JSON errors carry a message and a field, and
no answer ever holds a secret."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import ApiToken, Integration, IntegrationType, JobStatus, Status, SyncJob
from integrations.secrets import secrets_for
from integrations.sync.engine import run_job
from tests.factories import make_integration
from tests.integrations.ui import MISSING_PATH, TOKEN, serve_calendar
from workflows.models import Workflow, WorkflowSource

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def api(owner):
    _token, plain = ApiToken.issue(owner, "tests")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plain}")
    client.plain = plain
    return client


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def connect_body(url, name="Family calendar"):
    return {"name": name, "credentials": {"url": url}, "config": {"window_past_days": 400, "window_future_days": 400}}


def test_the_catalogue_and_my_instances(api, owner, other_user):
    make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    make_integration(other_user, IntegrationType.objects.get(slug="ical-feed"), name="Theirs")
    response = api.get("/api/v1/integrations")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert len(data["types"]) == IntegrationType.objects.count()
    ical = next(t for t in data["types"] if t["slug"] == "ical-feed")
    assert ical["available"] is True
    assert ical["connected"] == 1
    assert ical["links"]["connect"] == "/api/v1/integrations/ical-feed/connect"
    assert ical["fields"]["auth"][0]["type"] == "secret_url"
    soon = next(t for t in data["types"] if t["slug"] == "instacart")
    assert soon["available"] is False
    assert soon["links"]["connect"] is None
    assert [i["name"] for i in data["integrations"]] == ["Mine"]


def test_connect_tests_first_and_answers_the_new_instance(api, owner, feed_server):
    url = serve_calendar(feed_server)
    wrong = post(api, "/api/v1/integrations/ical-feed/connect", connect_body(feed_server.url(MISSING_PATH)))
    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert error["code"] == "connection_failed"
    assert "(HTTP 404)" in error["message"]
    assert error["remediation"] == "Check the address in the integration's settings."
    assert TOKEN not in wrong.content.decode()
    assert not Integration.objects.exists()

    response = post(api, "/api/v1/integrations/ical-feed/connect", connect_body(url))
    assert response.status_code == 201
    created = response.json()["integration"]
    assert created["name"] == "Family calendar"
    assert created["status"] == "connected"
    assert created["account_identity"] == "Awkward Calendar"  # the test's findings are not the identity
    assert created["config"] == {"window_past_days": 400, "window_future_days": 400}
    assert created["credentials_stored"] is True
    assert TOKEN not in response.content.decode()
    assert "url" not in created["config"]
    integration = Integration.objects.get(pk=created["id"])
    assert integration.user == owner
    assert secrets_for(integration, actor="user") == {"url": url}


def test_connect_by_type_id_and_with_the_default_name(api, feed_server):
    itype = IntegrationType.objects.get(slug="ical-feed")
    body = connect_body(serve_calendar(feed_server))
    del body["name"]
    response = post(api, f"/api/v1/integrations/{itype.pk}/connect", body)
    assert response.status_code == 201
    assert response.json()["integration"]["name"] == "iCal Feed"


def test_connect_validation_errors_name_their_field(api):
    response = post(
        api,
        "/api/v1/integrations/ical-feed/connect",
        {"name": "x", "credentials": {}, "config": {"window_past_days": -1}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "Some settings need fixing."
    assert error["fields"] == {
        "url": "Calendar address is required.",
        "window_past_days": "Days of past events must be at least 0.",
    }
    assert error["field"] == "url"
    one = post(api, "/api/v1/integrations/ical-feed/connect", {"name": "x", "credentials": {"url": "ftp://x"}})
    assert one.json()["error"] == {
        "code": "invalid",
        "message": "Calendar address must be a full http:// or https:// address.",
        "field": "url",
        "remediation": "",
    }


def test_connect_refuses_bad_bodies_unknown_and_coming_soon_types(api):
    bad = api.post("/api/v1/integrations/ical-feed/connect", data="not json", content_type="application/json")
    assert bad.status_code == 400
    assert "JSON object" in bad.json()["error"]["message"]
    assert post(api, "/api/v1/integrations/ical-feed/connect", {"credentials": "x"}).status_code == 400
    assert post(api, "/api/v1/integrations/no-such-type/connect", {}).status_code == 404
    soon = post(api, "/api/v1/integrations/mint/connect", {"name": "x"})
    assert soon.status_code == 409
    assert soon.json()["error"]["code"] == "not_connectable"
    assert not Integration.objects.exists()


def test_sync_answers_the_job_and_its_status(api, owner, feed_server):
    created = post(api, "/api/v1/integrations/ical-feed/connect", connect_body(serve_calendar(feed_server))).json()
    pk = created["integration"]["id"]
    # Connecting queued the first sync already; once it is gone, a sync call queues a new one.
    first = SyncJob.objects.get(integration_id=pk)
    assert (first.kind, first.status) == ("full", JobStatus.QUEUED)
    first.delete()
    response = post(api, f"/api/v1/integrations/{pk}/sync", {})
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["status"] == "queued"
    assert job["active"] is True
    assert job["trigger"] == "api"
    again = post(api, f"/api/v1/integrations/{pk}/sync", {})
    assert again.status_code == 200
    assert again.json()["already_running"] is True
    assert again.json()["job"]["id"] == job["id"]

    run_job(job["id"])
    status = api.get(f"/api/v1/jobs/{job['id']}").json()["job"]
    assert status["status"] == JobStatus.SUCCEEDED
    assert status["progress"]["percent"] == 100
    assert status["counts"]["created"] == 14
    assert status["error"] is None
    assert api.get(f"/api/v1/integrations/{pk}/jobs").json()["jobs"][0]["id"] == job["id"]
    one = api.get(f"/api/v1/integrations/{pk}").json()["integration"]
    assert one["item_count"] == 14
    assert one["last_synced_at"]


def test_sync_is_refused_with_409_when_paused(api, owner):
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), status=Status.PAUSED)
    response = post(api, f"/api/v1/integrations/{integration.pk}/sync", {})
    assert response.status_code == 409
    assert "resume it first" in response.json()["error"]["message"]


@pytest.mark.parametrize("slug", ["kindle-highlights", "apple-health"])
def test_an_import_only_integration_is_not_synced_through_the_api_either(api, owner, slug):
    """No service to ask: a sync could only end in "Nothing was imported". 409, as on its page."""
    imported = make_integration(owner, IntegrationType.objects.get(slug=slug), name="My export")
    response = post(api, f"/api/v1/integrations/{imported.pk}/sync", {})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_refused"
    assert "Use Import a newer export on its page." in response.json()["error"]["message"]
    assert not imported.sync_jobs.exists()


def test_a_failed_job_reports_its_error_and_remediation_without_the_secret(api, feed_server):
    created = post(api, "/api/v1/integrations/ical-feed/connect", connect_body(serve_calendar(feed_server))).json()
    feed_server.reset()
    job = post(api, f"/api/v1/integrations/{created['integration']['id']}/sync", {}).json()["job"]
    run_job(job["id"])
    response = api.get(f"/api/v1/jobs/{job['id']}")
    error = response.json()["job"]["error"]
    assert error["class"] == "config"
    assert "(HTTP 404)" in error["message"]
    assert error["remediation"]
    assert TOKEN not in response.content.decode()


def test_disconnect_keeps_data_pauses_workflows_and_drops_secrets(api, owner):
    integration = make_integration(
        owner, IntegrationType.objects.get(slug="ical-feed"), secrets={"url": "https://x.example/a.ics"}
    )
    workflow = Workflow.objects.create(owner=owner, name="Digest")
    WorkflowSource.objects.create(workflow=workflow, integration=integration)
    response = api.delete(f"/api/v1/integrations/{integration.pk}/disconnect")
    assert response.status_code == 200
    data = response.json()
    assert data["integration"]["status"] == "disconnected"
    assert data["integration"]["credentials_stored"] is False
    assert data["paused_workflows"] == [{"id": workflow.pk, "name": "Digest"}]
    workflow.refresh_from_db()
    assert workflow.needs_attention
    assert not workflow.is_active


def test_patch_renames_and_delete_removes(api, owner):
    integration = make_integration(
        owner, IntegrationType.objects.get(slug="ical-feed"), secrets={"url": "https://x.example/a.ics"}
    )
    response = api.patch(
        f"/api/v1/integrations/{integration.pk}", data=json.dumps({"name": "Renamed"}), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["integration"]["name"] == "Renamed"
    assert secrets_for(integration, actor="user") == {"url": "https://x.example/a.ics"}
    response = api.delete(f"/api/v1/integrations/{integration.pk}?delete_data=true")
    assert response.status_code == 200
    assert response.json()["deleted"] == integration.pk
    assert not Integration.objects.exists()


def test_tokens_authenticate_and_revoked_tokens_do_not(api, owner):
    assert api.get("/api/v1/integrations").status_code == 200
    ApiToken.objects.get(user=owner).revoke()
    response = api.get("/api/v1/integrations")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API token is not valid, or it was revoked."
    wrong = Client(HTTP_AUTHORIZATION="Bearer mc_nope").get("/api/v1/integrations")
    assert wrong.status_code == 401
    basic = Client(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz").get("/api/v1/integrations")
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["error"]["message"]


def test_a_token_created_in_the_ui_works_until_revoked_in_the_ui(owner_client, owner):
    # Created by a POST that redirects to the page showing the token once (or shows it directly).
    page = owner_client.post(reverse("integrations:tokens"), {"name": "cli"}, follow=True).content.decode()
    plain = page.split('readonly value="', 1)[1].split('"', 1)[0]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/v1/integrations").status_code == 200
    owner_client.post(reverse("integrations:revoke_token", args=[ApiToken.objects.get().pk]))
    assert client.get("/api/v1/integrations").status_code == 401


def test_session_requests_need_csrf_but_token_requests_do_not(owner, api):
    session = Client(enforce_csrf_checks=True)
    session.force_login(owner)
    assert session.get("/api/v1/integrations").status_code == 200  # reading needs no token
    refused = post(session, "/api/v1/integrations/ical-feed/connect", {"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    session.get(reverse("integrations:mine"))  # sets the CSRF cookie, as a page visit does
    csrf = session.cookies["csrftoken"].value
    allowed = session.post(
        "/api/v1/integrations/mint/connect", data="{}", content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert allowed.status_code == 409  # past CSRF: refused for its own reason
    assert post(api, "/api/v1/integrations/mint/connect", {}).status_code == 409  # the token client: no CSRF


def test_wrong_methods_are_405(api):
    response = api.post("/api/v1/integrations")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert api.get("/api/v1/integrations/1/sync").status_code == 405


def test_no_answer_holds_a_secret(api, owner, dovecot, allow_host):
    """An IMAP mailbox with a password: listed, fetched, synced, disconnected; never the password."""
    from tests.peers.dovecot import PASSWORD

    allow_host(dovecot.host)
    user = dovecot.new_user("api")
    body = {
        "name": "Mail",
        "credentials": {"username": user, "password": PASSWORD},
        "config": {"host": "127.0.0.1", "port": dovecot.port, "security": "none"},
    }
    answers = [post(api, "/api/v1/integrations/imap/connect", body)]
    assert answers[0].status_code == 201, answers[0].content
    pk = answers[0].json()["integration"]["id"]
    answers += [api.get("/api/v1/integrations"), api.get(f"/api/v1/integrations/{pk}")]
    job = post(api, f"/api/v1/integrations/{pk}/sync", {})
    answers.append(job)
    run_job(job.json()["job"]["id"])
    answers += [api.get(f"/api/v1/jobs/{job.json()['job']['id']}"), api.delete(f"/api/v1/integrations/{pk}/disconnect")]
    for answer in answers:
        assert PASSWORD not in answer.content.decode()
        assert api.plain not in answer.content.decode()
    assert SyncJob.objects.get().status == JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/nope"),
        ("post", "/api/v1/integrations/abc/sync"),
        ("get", "/api/v1/integrations/1/unknown"),
        ("delete", "/api/v1/jobs/"),
    ],
)
def test_unknown_routes_answer_a_json_404(api, method, path):
    for client in (api, Client()):  # with a token, and anonymous
        response = getattr(client, method)(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        error = response.json()["error"]
        assert set(error) == {"code", "message", "field", "remediation"}
        assert error["code"] == "not_found"
        assert path in error["message"]
        assert "/api/v1/integrations" in error["remediation"]


def test_deeply_nested_json_is_a_400_not_a_500(api, owner):
    instance = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    deep = '{"name": "x", "config": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    for method, url in (
        ("PATCH", f"/api/v1/integrations/{instance.pk}"),
        ("POST", "/api/v1/integrations/ical-feed/connect"),
    ):
        response = api.generic(method, url, deep, content_type="application/json")
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["error"]["message"]
    # Not only what the parser gives up on: anything past the limit, e.g. 40 lists deep.
    response = api.generic(
        "PATCH", f"/api/v1/integrations/{instance.pk}", '{"config": ' + "[" * 40 + "]" * 40 + "}", "application/json"
    )
    assert response.status_code == 400
    assert Integration.objects.get(pk=instance.pk).name == "Mine"


@pytest.mark.parametrize(
    ("body", "field", "where"),
    [
        ('{"name": "Cal\\ud800endar"}', "name", "name"),
        ('{"name": "x", "credentials": {"url": "https://example.com/\\udfff.ics"}}', "url", "credentials.url"),
        ('{"name": "x", "config": {"window_past_days": ["\\ud800"]}}', "window_past_days", "config.window_past_days.0"),
        ('{"name": "x", "config": {"\\ud800": 1}}', "\\ud800", "config.\\ud800"),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_the_field(api, owner, body, field, where):
    instance = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine")
    for method, url in (
        ("PATCH", f"/api/v1/integrations/{instance.pk}"),
        ("POST", "/api/v1/integrations/ical-feed/connect"),
    ):
        response = api.generic(method, url, body, content_type="application/json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["field"] == field
        assert error["message"].startswith(f"{where} contains a lone UTF-16 surrogate")
    assert list(Integration.objects.values_list("name", flat=True)) == ["Mine"]


def test_a_surrogate_pair_is_ordinary_text(api, feed_server):
    body = json.dumps(connect_body(serve_calendar(feed_server), name="Cal 📅"))  # ensure_ascii: "\\ud83d\\udcc5"
    assert "\\ud83d\\udcc5" in body
    response = api.post("/api/v1/integrations/ical-feed/connect", body, content_type="application/json")
    assert response.status_code == 201
    assert Integration.objects.get().name == "Cal 📅"
