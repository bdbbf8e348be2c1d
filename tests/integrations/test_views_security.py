"""Three users on every route: the owner, another user (404, nothing changes) and an anonymous
visitor (sent to log in; 401 from the API). CSRF is enforced on every POST, and no page ever
contains a stored secret."""

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import Integration, IntegrationType, Status, SyncedItem, SyncJob
from integrations.secrets import secrets_for
from tests.factories import make_integration
from tests.integrations.ui import TOKEN, text

pytestmark = pytest.mark.usefixtures("catalogue")
SECRET_URL = f"https://calendar.example.com/private-{TOKEN}/basic.ics?key={TOKEN}"


@pytest.fixture
def owned(owner):
    integration = make_integration(
        owner, IntegrationType.objects.get(slug="ical-feed"), name="Mine", secrets={"url": SECRET_URL},
        config={"window_past_days": 30, "window_future_days": 365},
    )  # fmt: skip
    job = SyncJob.objects.create(integration=integration, status="succeeded")
    return integration, job


def page_routes(integration, job):
    pk, job_pk = integration.pk, job.pk
    return [
        ("get", reverse("integrations:detail", args=[pk])),
        ("get", reverse("integrations:edit", args=[pk])),
        ("get", reverse("integrations:ledger", args=[pk])),
        ("get", reverse("integrations:job", args=[pk, job_pk])),
        ("get", reverse("integrations:job_status", args=[pk, job_pk])),
        ("get", reverse("integrations:items", args=[pk])),
        ("get", reverse("integrations:disconnect", args=[pk])),
        ("get", reverse("integrations:delete", args=[pk])),
        ("post", reverse("integrations:edit", args=[pk])),
        ("post", reverse("integrations:edit_test", args=[pk])),
        ("post", reverse("integrations:pause", args=[pk])),
        ("post", reverse("integrations:resume", args=[pk])),
        ("post", reverse("integrations:sync_now", args=[pk])),
        ("post", reverse("integrations:disconnect", args=[pk])),
        ("post", reverse("integrations:delete", args=[pk])),
    ]


def api_routes(integration, job):
    pk = integration.pk
    return [
        ("get", f"/api/v1/integrations/{pk}"),
        ("patch", f"/api/v1/integrations/{pk}"),
        ("delete", f"/api/v1/integrations/{pk}"),
        ("delete", f"/api/v1/integrations/{pk}/disconnect"),
        ("post", f"/api/v1/integrations/{pk}/sync"),
        ("get", f"/api/v1/integrations/{pk}/jobs"),
        ("get", f"/api/v1/jobs/{job.pk}"),
    ]


def _call(client, method, url, **extra):
    if method in ("patch",):
        return client.patch(url, data="{}", content_type="application/json", **extra)
    return getattr(client, method)(url, **({"data": {"proceed": "1"}} if method == "post" else {}), **extra)


def test_another_user_gets_404_everywhere_and_changes_nothing(other_client, owned):
    integration, job = owned
    for method, url in page_routes(integration, job):
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = _call(other_client, method, url, **htmx)
            assert response.status_code == 404, (method, url, htmx, response.status_code)
    for method, url in api_routes(integration, job):
        response = _call(other_client, method, url)
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["message"].startswith("No such")
    integration.refresh_from_db()
    assert integration.name == "Mine"
    assert integration.status == Status.CONNECTED
    assert secrets_for(integration, actor="user") == {"url": SECRET_URL}
    assert SyncJob.objects.count() == 1


def test_the_owner_reaches_every_page(owner_client, owned):
    integration, job = owned
    for method, url in page_routes(integration, job):
        if method == "get":
            assert owner_client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_log_in_or_get_401(client, owned):
    integration, job = owned
    login = reverse("account_login")
    for method, url in page_routes(integration, job):
        response = _call(client, method, url)
        assert response.status_code == 302, (method, url)
        assert response.url.startswith(login), (method, url)
    pages = ["mine", "all_items", "tokens", "notifications"]
    for url in [reverse(f"integrations:{name}") for name in pages] + [reverse("integrations:connect", args=["x"])]:
        assert client.get(url).url.startswith(login)
    for method, url in [
        *api_routes(integration, job),
        ("get", "/api/v1/integrations"),
        ("post", "/api/v1/integrations/ical-feed/connect"),
    ]:
        response = _call(client, method, url)
        assert response.status_code == 401, (method, url)
        assert response.json()["error"]["message"] == "Authentication is required."
    assert Integration.objects.get().status == Status.CONNECTED


def test_every_post_needs_the_csrf_token(owner, owned):
    integration, job = owned
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    posts = [url for method, url in page_routes(integration, job) if method == "post"]
    posts += [
        reverse("integrations:connect", args=["ical-feed"]),
        reverse("integrations:connect_test", args=["ical-feed"]),
        reverse("integrations:tokens"),
    ]
    for url in posts:
        assert client.post(url, {"proceed": "1", "name": "x"}).status_code == 403, url
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    assert Integration.objects.count() == 1
    # with the token (as the pages send it, in the form or in HTMX's X-CSRFToken header) it works
    page = client.get(reverse("integrations:detail", args=[integration.pk]))
    token = page.context["csrf_token"]
    response = client.post(reverse("integrations:pause", args=[integration.pk]), HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED


def test_pages_and_partials_never_contain_the_stored_secret(owner_client, owner, owned):
    integration, job = owned
    SyncedItem.objects.create(user=owner, integration=integration, kind="event", external_id="e1", title="Event",
                              content_hash="h", source_type="ical-feed", fetched_at=job.queued_at)  # fmt: skip
    urls = [url for method, url in page_routes(integration, job) if method == "get"] + [
        reverse("integrations:mine"),
        reverse("integrations:gallery"),
        reverse("integrations:all_items"),
        reverse("integrations:notifications"),
    ]
    for url in urls:
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            page = text(owner_client.get(url, **htmx))
            assert TOKEN not in page, url
    detail = text(owner_client.get(integration.get_absolute_url()))
    assert "https://calendar.example.com/…" in detail  # shown masked: scheme and host only


def test_an_expired_session_sends_htmx_requests_to_the_login_page(client, owned):
    """A progress bar polling (or a live search) after the session expired: HTMX follows plain
    redirects inside the request and would swap the login page into the bar, so it gets
    HX-Redirect to the login page instead, which brings the user back to where they were."""
    integration, job = owned
    login = reverse("account_login")
    detail = reverse("integrations:detail", args=[integration.pk])
    for url in (
        reverse("integrations:job_status", args=[integration.pk, job.pk]),
        reverse("integrations:ledger", args=[integration.pk]) + "?compact=1",
        reverse("integrations:gallery") + "?q=mail",
        reverse("integrations:items", args=[integration.pk]),
        reverse("integrations:detail", args=[integration.pk]),
        reverse("workflows:list"),
    ):
        response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{detail}")
        assert response.status_code == 200, url
        assert response["HX-Redirect"] == f"{login}?next={detail}", url
        assert response.content == b"", url  # nothing to swap in
    plain = client.get(reverse("integrations:job_status", args=[integration.pk, job.pk]))
    assert plain.status_code == 302  # without HTMX: the usual redirect


def test_read_only_pages_answer_head_as_get_without_the_body(owner_client, owner, owned):
    """A link checker or an uptime monitor asks with HEAD: the same status and headers as GET, no
    body (was 405). Pages that start something on GET (the OAuth consent and callback) still refuse it."""
    from tests.workflows.helpers import make_workflow

    integration, job = owned
    workflow = make_workflow(owner)
    urls = [
        "/", "/healthz", reverse("integrations:gallery"), reverse("integrations:mine"),
        reverse("integrations:notifications"), integration.get_absolute_url(),
        reverse("integrations:items", args=[integration.pk]), reverse("integrations:ledger", args=[integration.pk]),
        reverse("integrations:job", args=[integration.pk, job.pk]),
        reverse("workflows:list"), reverse("workflows:detail", args=[workflow.pk]),
        reverse("workflows:executions", args=[workflow.pk]),
    ]  # fmt: skip
    for url in urls:
        got, head = owner_client.get(url), owner_client.head(url)
        assert head.status_code == got.status_code, url
        assert got.status_code in (200, 302), url
        assert head["Content-Type"] == got["Content-Type"], url
        assert head.content == b"", url
    assert owner_client.head(reverse("oauth:consent", args=["google-calendar"])).status_code == 405
