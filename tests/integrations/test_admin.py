"""Staff can manage everything in the admin, and no admin page ever shows a secret."""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from integrations.models import (
    ApiToken,
    AuditEvent,
    IntegrationType,
    JobStatus,
    OAuthApp,
    RateLimitBucket,
    RequestStat,
    Status,
    SyncedItem,
    SyncJob,
)
from integrations.secrets import secrets_for, store_secrets
from tests.factories import make_integration, make_type, make_user
from tests.oauth.helpers import messages_of
from workflows.models import Card, CardDelivery, Execution, Workflow, WorkflowOutput, WorkflowSource

PASSWORD = "s3cret-admin-must-not-see"
API_KEY = "sk-live-admin-must-not-see"
TOKEN = "ya29.tok-admin-must-not-see"
REFRESH = "1//refresh-admin-must-not-see"
CLIENT_SECRET = "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-see"
HOOK_TOKEN = "hooktoken-admin-must-not-see"
HEADER_TOKEN = "bearer-header-admin-must-not-see"
SIGNING_SECRET = "whsec_admin-must-not-see"
SECRETS = [PASSWORD, API_KEY, TOKEN, REFRESH, CLIENT_SECRET, HOOK_TOKEN, HEADER_TOKEN, SIGNING_SECRET]

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def staff_client(client, db):
    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.fixture
def secret_integration(owner):
    integration = make_integration(owner, secrets={"password": PASSWORD, "api_key": API_KEY})
    credential = integration.credential
    credential.access_token, credential.refresh_token = TOKEN, REFRESH
    credential.granted_scopes = ["calendar.readonly"]
    credential.save()
    SyncJob.objects.create(integration=integration, status=JobStatus.SUCCEEDED)
    return integration


@pytest.fixture
def everything(owner, secret_integration):
    """One realistic object of every model the admin shows, secrets stored wherever they can be."""
    google = IntegrationType.objects.get(slug="google-calendar")
    OAuthApp.objects.create(
        integration_type=google, client_id="hub.apps.googleusercontent.com", client_secret=CLIENT_SECRET
    )
    hook = make_integration(owner, IntegrationType.objects.get(slug="webhook"), name="Team hook")
    store_secrets(
        hook,
        {
            "url": f"https://hooks.example.com/services/{HOOK_TOKEN}",
            "signing_secret": SIGNING_SECRET,
            "headers": f"Authorization: Bearer {HEADER_TOKEN}\nX-Source: metacortex",
        },
    )
    ApiToken.issue(owner, "laptop script")
    secrets_for(secret_integration, purpose="sync")  # a task reading secrets is audited
    now = timezone.now()
    SyncedItem.objects.create(user=owner, integration=secret_integration, kind="event", external_id="e1",
                              title="Standup", content_hash="h", source_type="test-feed", source_name="Mine",
                              fetched_at=now)  # fmt: skip
    RequestStat.objects.create(integration=secret_integration, hour=now.replace(minute=0, second=0, microsecond=0))
    RateLimitBucket.objects.create(key=f"integration:{secret_integration.pk}")
    workflow = Workflow.objects.create(owner=owner, name="Morning briefing")
    source = WorkflowSource.objects.create(workflow=workflow, integration=secret_integration)
    output = WorkflowOutput.objects.create(workflow=workflow, integration=hook)
    execution = Execution.objects.create(workflow=workflow, status="success")
    card = Card.objects.create(workflow=workflow, execution=execution, source=source, title="Today")
    CardDelivery.objects.create(output=output, card=card)
    Schedule.objects.get_or_create(name="admin-example", defaults={"func": "integrations.tasks.ping"})
    for success in (True, False):
        Task.objects.create(id=f"task{int(success)}", name=f"task-{success}", func="integrations.tasks.ping",
                            started=now, stopped=now, success=success, result=f"success={success}")  # fmt: skip
    task = {"id": "queued1", "name": "queued", "func": "integrations.tasks.ping", "args": (), "kwargs": {}}
    OrmQ.objects.create(key="metacortex", payload=SignedPackage.dumps(task), lock=now)
    Group.objects.create(name="Support")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    return hook


def _admin_pages() -> list[str]:
    """The changelist of every registered model and the change page of each of its objects (their
    history and delete pages too, for the integrations app)."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        objects = list(model._default_manager.order_by("pk")[:20])
        assert objects, f"give {model._meta.label} an example object in the `everything` fixture"
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{prefix}_changelist"))
        for obj in objects:
            pages.append(reverse(f"{prefix}_change", args=[obj.pk]))
            if model._meta.app_label == "integrations":
                pages += [reverse(f"{prefix}_history", args=[obj.pk]), reverse(f"{prefix}_delete", args=[obj.pk])]
    pages.append(reverse("admin:integrations_integration_changelist") + "?q=" + PASSWORD[:6])
    return pages


def test_no_admin_page_shows_a_secret(staff_client, everything):
    pages = _admin_pages()
    assert len(pages) > 2 * len(admin.site._registry)
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for secret in SECRETS:
            assert secret not in body, f"{secret} leaked on {url}"


def test_the_webhook_page_says_its_secrets_exist_without_showing_them(staff_client, everything):
    url = reverse("admin:integrations_integration_change", args=[everything.pk])
    body = staff_client.get(url).content.decode()
    assert "3 form secret(s) stored, encrypted; never displayed" in body
    assert "hooks.example.com" not in body


def test_integration_admin_says_secrets_exist_without_showing_them(staff_client, secret_integration):
    body = staff_client.get(reverse("admin:integrations_integration_change", args=[secret_integration.pk])).content
    assert b"form secret(s), access token, refresh token stored, encrypted; never displayed" in body


def test_admin_action_pauses_integrations(staff_client, secret_integration):
    response = staff_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "pause", "_selected_action": [secret_integration.pk]},
        follow=True,
    )
    assert response.status_code == 200
    secret_integration.refresh_from_db()
    assert secret_integration.status == Status.PAUSED


def test_admin_action_refuses_to_queue_sync_for_unavailable_types(staff_client, secret_integration):
    response = staff_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "queue_sync", "_selected_action": [secret_integration.pk]},
        follow=True,
    )
    assert "not available yet" in response.content.decode()
    assert not SyncJob.objects.filter(integration=secret_integration, status="queued").exists()


def test_admin_action_queues_a_sync(staff_client, owner):
    calendar = make_integration(
        owner,
        IntegrationType.objects.get(slug="ical-feed"),
        name="Family",
        secrets={"url": "https://example.com/x.ics"},
    )
    response = staff_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "queue_sync", "_selected_action": [calendar.pk]},
        follow=True,
    )
    assert "Queued 1 sync(s)." in messages_of(response)
    job = SyncJob.objects.get(integration=calendar)
    assert (job.status, job.trigger) == (JobStatus.QUEUED, "admin")
    assert AuditEvent.objects.filter(integration=calendar, action="sync_queued", actor="staff").exists()


def _type_form(itype, **changes) -> dict:
    """The change form of a blueprint as the admin page would post it back."""
    values = model_to_dict(itype, fields=[f.name for f in IntegrationType._meta.concrete_fields])
    values.update(changes)
    data = {}
    for name, value in values.items():
        if isinstance(value, list | dict):
            data[name] = json.dumps(value)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    return data


def test_handler_must_be_a_registered_key(staff_client):
    itype = make_type("test-feed", handler="", is_available=False)
    url = reverse("admin:integrations_integrationtype_change", args=[itype.pk])
    assert '<select name="handler"' in staff_client.get(url).content.decode()

    refused = staff_client.post(url, _type_form(itype, handler="connectors.webhook.WebhookConnector"))
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    itype.refresh_from_db()
    assert itype.handler == ""

    accepted = staff_client.post(url, _type_form(itype, handler="ical_feed"))
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    itype.refresh_from_db()
    assert itype.handler == "ical_feed"


def test_revoked_api_tokens_stay_revoked(staff_client, owner):
    token, _plain = ApiToken.issue(owner, "old laptop")
    changelist = reverse("admin:integrations_apitoken_changelist")
    staff_client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    revoked_at = token.revoked_at
    assert revoked_at is not None

    url = reverse("admin:integrations_apitoken_change", args=[token.pk])
    assert 'name="revoked_at' not in staff_client.get(url).content.decode()
    staff_client.post(url, {"revoked_at_0": "", "revoked_at_1": "", "name": "old laptop"})
    token.refresh_from_db()
    assert token.revoked_at == revoked_at


@pytest.mark.parametrize(
    "params",
    [
        ["access_type", "offline"],  # a list: every Connect click was a 500 ('list' has no .items())
        {"state": "fixed"},  # the hub's own parameters: a 500 (given twice), or a weakened flow
        {"code_challenge": "x"},
        {"redirect_uri": "https://elsewhere.example.com/"},
        {"prompt": {"nested": True}},
    ],
)
def test_oauth_extra_params_are_checked_when_staff_save_them(staff_client, params):
    itype = IntegrationType.objects.get(slug="google-calendar")
    url = reverse("admin:integrations_integrationtype_change", args=[itype.pk])
    before = itype.oauth_extra_params

    refused = staff_client.post(url, _type_form(itype, oauth_extra_params=params))
    assert refused.status_code == 200
    assert "Extra authorization parameters" in refused.content.decode()
    itype.refresh_from_db()
    assert itype.oauth_extra_params == before


def test_plain_oauth_extra_params_are_saved(staff_client):
    itype = IntegrationType.objects.get(slug="google-calendar")
    url = reverse("admin:integrations_integrationtype_change", args=[itype.pk])
    params = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    accepted = staff_client.post(url, _type_form(itype, oauth_extra_params=params))
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    itype.refresh_from_db()
    assert itype.oauth_extra_params == params


def _integration_form(integration, config) -> dict:
    """The integration change form as the admin page posts it back, with another config."""
    return {
        "user": integration.user_id,
        "name": integration.name,
        "config": json.dumps(config),
        "is_active": "on",
        "sync_interval_minutes": integration.sync_interval_minutes,
        "credential-TOTAL_FORMS": 1,
        "credential-INITIAL_FORMS": 1,
        "credential-MIN_NUM_FORMS": 0,
        "credential-MAX_NUM_FORMS": 0,
        "credential-0-id": integration.credential.pk,
        "credential-0-integration": integration.pk,
    }


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (["window_past_days", 30], "a JSON object"),  # the person's page and the API were a 500 after this
        ({"window_past_days": "lots"}, "must be a whole number"),
        ({"window_past_days": 30, "url": "https://calendar.example.com/private-token.ics"}, "never in config"),
    ],
)
def test_staff_cannot_save_a_config_the_type_would_refuse(staff_client, owner, config, says):
    feed = make_integration(
        owner,
        IntegrationType.objects.get(slug="ical-feed"),
        config={"window_past_days": 30},
        secrets={"url": "https://calendar.example.com/a.ics"},
    )
    url = reverse("admin:integrations_integration_change", args=[feed.pk])

    refused = staff_client.post(url, _integration_form(feed, config))
    assert refused.status_code == 200
    assert says in refused.content.decode()
    feed.refresh_from_db()
    assert feed.config == {"window_past_days": 30}

    accepted = staff_client.post(url, _integration_form(feed, {"window_past_days": "60"}))
    assert accepted.status_code == 302
    feed.refresh_from_db()
    assert feed.config == {"window_past_days": 60}  # cleaned as the person's own form cleans it


@pytest.mark.parametrize("icon", ["gogle-calendar.svg", "../css/app.css", "/etc/passwd"])
def test_an_icon_file_that_does_not_exist_is_refused(staff_client, icon):
    # With the manifest static storage of a real deployment, {% static %} of a missing file raises:
    # one typo here made the gallery (and every page showing the type) a server error for everyone.
    itype = IntegrationType.objects.get(slug="google-calendar")
    url = reverse("admin:integrations_integrationtype_change", args=[itype.pk])
    refused = staff_client.post(url, _type_form(itype, icon=icon))
    assert refused.status_code == 200
    assert "There is no icon file" in refused.content.decode()
    itype.refresh_from_db()
    assert itype.icon == "google-calendar.svg"
