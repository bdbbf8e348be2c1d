"""Plaid's hub-side flows against the contract fake over real HTTP: Hosted Link (connect, and
re-connect in update mode after ITEM_LOGIN_REQUIRED) and the signed webhook that queues a sync."""

import json
import time
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse

from integrations.models import (
    AuditAction,
    AuditEvent,
    Integration,
    IntegrationType,
    JobStatus,
    JobTrigger,
    Status,
    SyncJob,
)
from integrations.secrets import secrets_for
from tests.connectors.helpers import live_items, sync
from tests.factories import make_user
from tests.fakes.contract import open_connector, seed_owner
from tests.fakes.plaid import ACCESS_TOKEN, CLIENT_ID, ITEM_ID, SECRET, PlaidFake


@pytest.fixture
def owner(db):
    return seed_owner("plaid")


@pytest.fixture
def plaid(allow_host, settings):
    fake = PlaidFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"plaid": fake.url}
    settings.PLAID_CLIENT_ID, settings.PLAID_SECRET, settings.PLAID_ENV = CLIENT_ID, SECRET, "sandbox"
    settings.SITE_URL = "https://hub.example.com"
    yield fake
    fake.stop()


@pytest.fixture
def linked(owner, plaid):
    """An integration of the fake's Item, as Link would have created it."""
    connector = open_connector(owner, "plaid", secrets={"access_token": ACCESS_TOKEN}, config={"window_days": 30})
    integration = connector.ctx.integration
    integration.account_identity = "Plaid item " + ITEM_ID
    integration.save(update_fields=["account_identity"])
    return integration


def test_plaid_is_available_with_link_and_the_operators_keys(owner):
    itype = IntegrationType.objects.get(slug="plaid")
    assert (itype.is_available, itype.handler) == (True, "plaid")
    assert [f["name"] for f in itype.auth_schema] == ["access_token"]  # the keys are the operator's


# Hosted Link --------------------------------------------------------------------------------


def _follow_hosted_link(client, start) -> str:
    """The browser at Plaid's hosted page, then back at the hub: the return path."""
    assert start.status_code == 302, start.content[:300]
    at_plaid = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_plaid.headers["Location"])
    assert (back.scheme, back.netloc) == ("https", "hub.example.com")
    return f"{back.path}?{back.query}" if back.query else back.path


def test_connecting_through_hosted_link_exchanges_the_public_token_and_syncs(owner, plaid, client):
    plaid.next_item_id = "item-new-1"
    plaid.add("t-1", "12.34", "2026-12-01")
    client.force_login(owner)
    start = client.post(reverse("plaid_link_start"))
    back = _follow_hosted_link(client, start)
    finish = client.get(back)

    integration = Integration.objects.get(user=owner, type__slug="plaid")
    assert finish.status_code == 302
    assert finish["Location"] == reverse("integrations:detail", args=[integration.pk])
    assert integration.account_identity == "Plaid item item-new-1"
    token = secrets_for(integration)["access_token"]
    assert plaid.items[token] == "item-new-1"
    created = plaid.requests("POST", r"/link/token/create$")[0].json
    assert created["hosted_link"]["completion_redirect_uri"] == "https://hub.example.com/plaid/link/return/"
    assert created["webhook"] == "https://hub.example.com/plaid/webhook/"
    assert created["products"] == ["transactions"]
    assert created["user"]["client_user_id"] == f"user-{owner.pk}"
    assert "access_token" not in created
    # The first sync was queued by the connect; run it as a worker would.
    job = SyncJob.objects.get(integration=integration)
    from integrations.sync.engine import run_job

    assert run_job(job.pk).status == JobStatus.SUCCEEDED
    assert live_items(integration).filter(kind="transaction").count() == 1


def test_the_return_view_needs_a_flow_started_by_the_same_person(owner, plaid, client):
    plaid.next_item_id = "item-new-2"
    client.force_login(owner)
    back = _follow_hosted_link(client, client.post(reverse("plaid_link_start")))
    intruder = make_user("intruder@example.com", password=None)
    other = client.__class__()
    other.force_login(intruder)
    answer = other.get(back, follow=False)
    assert answer.status_code == 302
    assert not Integration.objects.filter(type__slug="plaid").exists()
    assert plaid.requests("POST", r"/item/public_token/exchange$") == []


def test_starting_link_needs_a_post_with_csrf(owner, plaid, client):
    client.force_login(owner)
    assert client.get(reverse("plaid_link_start")).status_code == 405
    strict = client.__class__(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(reverse("plaid_link_start")).status_code == 403
    assert plaid.requests("POST", r"/link/token/create$") == []


def test_an_unfinished_link_changes_nothing(owner, plaid, client):
    client.force_login(owner)
    client.post(reverse("plaid_link_start"))  # the person closes Plaid's page instead
    answer = client.get(reverse("plaid_link_return"), follow=True)
    assert "was not finished" in answer.content.decode()
    assert not Integration.objects.filter(type__slug="plaid").exists()


def test_item_login_required_then_reconnecting_in_update_mode(owner, plaid, linked, client):
    plaid.login_required.add(ITEM_ID)
    job = sync(linked)
    assert (job.status, job.error_class) == (JobStatus.FAILED, "auth")
    assert "Re-connect with Plaid" in job.remediation
    linked.refresh_from_db()
    assert linked.status == Status.NEEDS_REAUTH

    client.force_login(owner)
    page = client.get(reverse("integrations:detail", args=[linked.pk])).content.decode()
    assert "Re-connect with Plaid" in page
    assert "cdn.plaid.com" not in page  # no third-party script: Link is Plaid's own page
    start = client.post(reverse("plaid_link_start"), {"integration": linked.pk})
    created = plaid.requests("POST", r"/link/token/create$")[-1].json
    assert created["access_token"] == ACCESS_TOKEN  # update mode
    assert "products" not in created
    finish = client.get(_follow_hosted_link(client, start))
    assert finish["Location"] == reverse("integrations:detail", args=[linked.pk])
    linked.refresh_from_db()
    assert linked.status == Status.CONNECTED
    assert Integration.objects.filter(type__slug="plaid").count() == 1


def test_update_mode_is_only_for_ones_own_integration(owner, plaid, linked, client):
    stranger = make_user("stranger@example.com", password=None)
    client.force_login(stranger)
    assert client.post(reverse("plaid_link_start"), {"integration": linked.pk}).status_code == 404
    assert plaid.requests("POST", r"/link/token/create$") == []


# Webhook ------------------------------------------------------------------------------------


def _event(code="SYNC_UPDATES_AVAILABLE", item_id=ITEM_ID, kind="TRANSACTIONS") -> bytes:
    return json.dumps({
        "webhook_type": kind, "webhook_code": code, "item_id": item_id, "initial_update_complete": True,
        "historical_update_complete": True, "environment": "sandbox",
    }).encode()  # fmt: skip


def _deliver(client, body: bytes, signature: str | None):
    headers = {"HTTP_PLAID_VERIFICATION": signature} if signature is not None else {}
    return client.post(reverse("plaid_webhook"), data=body, content_type="application/json", **headers)


def test_a_signed_sync_updates_available_queues_a_sync(plaid, linked, client):
    body = _event()
    answer = _deliver(client, body, plaid.sign_webhook(body))
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"queued": 1}
    job = SyncJob.objects.get(integration=linked)
    assert job.trigger == JobTrigger.WEBHOOK
    # Plaid asked, not the person: no "you queued a sync" entry in their audit log.
    assert not AuditEvent.objects.filter(integration=linked, action=AuditAction.SYNC_QUEUED).exists()
    (asked,) = plaid.requests("POST", r"/webhook_verification_key/get$")
    assert asked.json["key_id"] == plaid.key_id
    # The key is cached: a second webhook costs no second look-up.
    body = _event(code="DEFAULT_UPDATE")
    assert _deliver(client, body, plaid.sign_webhook(body)).json() == {"queued": 0}
    assert len(plaid.requests("POST", r"/webhook_verification_key/get$")) == 1


@pytest.mark.parametrize(
    "forge",
    [
        "missing",
        "not-a-jwt",
        "other-key",
        "unknown-kid",
        "body-changed",
        "too-old",
        "alg-none",
    ],
)
def test_a_webhook_without_plaids_valid_signature_is_refused(plaid, linked, client, forge):
    body = _event()
    signature = {
        "missing": lambda: None,
        "not-a-jwt": lambda: "abc.def",
        "other-key": lambda: plaid.sign_webhook(body, key=ec.generate_private_key(ec.SECP256R1())),
        "unknown-kid": lambda: plaid.sign_webhook(body, kid="key-unknown"),
        "body-changed": lambda: plaid.sign_webhook(body.replace(b"SYNC_UPDATES", b"SYNC-UPDATES")),
        "too-old": lambda: plaid.sign_webhook(body, iat=int(time.time()) - 6 * 60),
        "alg-none": lambda: "eyJhbGciOiJub25lIiwia2lkIjoieCJ9.eyJpYXQiOjF9.",
    }[forge]()
    answer = _deliver(client, body, signature)
    assert answer.status_code == 401
    assert "error" in answer.json()
    assert not SyncJob.objects.filter(integration=linked).exists()


def test_a_webhook_for_an_unknown_item_or_not_json_is_a_400(plaid, linked, client):
    body = _event(item_id="item-nobody")
    assert _deliver(client, body, plaid.sign_webhook(body)).status_code == 400
    body = b"[1, 2]"
    assert _deliver(client, body, plaid.sign_webhook(body)).status_code == 400
    assert not SyncJob.objects.filter(integration=linked).exists()


def test_a_webhook_is_refused_when_the_hub_has_no_plaid_keys(plaid, linked, client, settings):
    settings.PLAID_SECRET = ""
    body = _event()
    assert _deliver(client, body, plaid.sign_webhook(body)).status_code == 401


def test_plaid_unreachable_for_the_key_is_a_503_not_a_500(plaid, linked, client, fast_backoff):
    plaid.fail("POST", r"/webhook_verification_key/get$", 500, {"error_code": "INTERNAL_SERVER_ERROR"}, times=5)
    body = _event()
    assert _deliver(client, body, plaid.sign_webhook(body)).status_code == 503


def test_login_repaired_retests_an_integration_waiting_for_reauth(plaid, linked, client):
    plaid.login_required.add(ITEM_ID)
    sync(linked)
    linked.refresh_from_db()
    assert linked.status == Status.NEEDS_REAUTH
    body = _event(kind="ITEM", code="ERROR")
    assert _deliver(client, body, plaid.sign_webhook(body)).json() == {"queued": 0}  # nothing to do until repaired

    plaid.login_required.discard(ITEM_ID)  # the person signed in again through another app on this Item
    body = _event(kind="ITEM", code="LOGIN_REPAIRED")
    assert _deliver(client, body, plaid.sign_webhook(body)).json() == {"queued": 1}
    linked.refresh_from_db()
    assert linked.status == Status.CONNECTED
    assert SyncJob.objects.filter(integration=linked, status=JobStatus.QUEUED).exists()


@pytest.mark.parametrize("code", ["USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED"])
def test_a_revoked_permission_webhook_syncs_at_once_to_meet_plaids_answer(plaid, linked, client, code):
    """The person revoked the hub's access at Plaid or at their bank (https://plaid.com/docs/api/items/#webhooks):
    Plaid says so by webhook, and the hub must not wait for the schedule to find out. A sync is
    queued at once; it meets Plaid's refusal and asks the person to reconnect."""
    body = _event(kind="ITEM", code=code)
    assert _deliver(client, body, plaid.sign_webhook(body)).json() == {"queued": 1}
    assert SyncJob.objects.get(integration=linked).trigger == JobTrigger.WEBHOOK
