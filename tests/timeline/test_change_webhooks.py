"""Change webhooks against a real local receiver: registered through the API, batches of changes
(deletions included) POSTed signed, resent with the same delivery key until the receiver takes them."""

import datetime
import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from integrations.models import ApiToken, IntegrationType, SyncedItem
from tests.factories import make_integration
from tests.peers.feeds import Reply
from timeline.ingest import ingest
from timeline.models import ChangeWebhook
from timeline.webhooks import deliver

pytestmark = pytest.mark.usefixtures("catalogue")
T0 = datetime.datetime(2026, 4, 4, 9, 0, tzinfo=datetime.UTC)


def store(integration, external_id):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind="event", external_id=external_id, title=external_id,
        occurred_at=T0, data={"uid": external_id}, content_hash=external_id, source_type=integration.type.slug,
        source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def api(client, owner):
    token = ApiToken.issue(owner, "t")[1]

    def call(method, path, **body):
        return getattr(client, method)(
            f"/api/v1{path}", json.dumps(body) if body else None, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )  # fmt: skip

    return call


def test_changes_are_posted_signed_and_resent_until_taken(api, owner, feed_server):
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")
    before = store(calendar, "before")
    ingest(owner.pk, [before.pk])
    created = api("post", "/webhooks", url=feed_server.url("/hook"), kinds=["event"])
    assert created.status_code == 201
    hook_id, secret = created.json()["id"], created.json()["secret"]

    first, second = store(calendar, "first"), store(calendar, "second")
    ingest(owner.pk, [first.pk, second.pk])
    before.deleted_at = timezone.now()
    before.save()
    ingest(owner.pk, [before.pk])
    feed_server.sequence("/hook", [Reply(503, b"busy"), Reply(200, b"ok")])

    assert deliver(hook_id) == 0  # the receiver is busy: nothing is lost, a retry is booked
    hook = ChangeWebhook.objects.get(pk=hook_id)
    assert hook.failures == 1
    assert "HTTP 503" in hook.last_error
    assert hook.next_attempt_at > timezone.now()
    hook.next_attempt_at = timezone.now()  # the pause is over
    hook.save()
    assert deliver(hook_id) == 3

    sent = feed_server.requests_to("/hook")
    assert len(sent) == 2
    first, last = ({k.lower(): v for k, v in s.headers.items()} for s in sent)  # header names are case-blind
    assert first["x-metacortex-delivery"] == last["x-metacortex-delivery"]
    body = sent[1].body
    stamp = last["x-metacortex-timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, last["x-metacortex-signature"])
    changes = json.loads(body)["changes"]
    assert [(c["record"] or {}).get("title") for c in changes] == ["first", "second", None]  # only since registering
    assert changes[2]["deleted"] is True
    assert deliver(hook_id) == 0  # taken: nothing is sent twice
    assert len(feed_server.requests_to("/hook")) == 2


def test_a_private_or_ambiguous_address_is_refused_and_hooks_are_per_user(api, client, other_user):
    refused = api("post", "/webhooks", url="http://127.0.0.1:9/hook")
    assert refused.status_code == 400
    assert api("post", "/webhooks", url="http://127.0.0.1:9\\@example.com/hook").status_code == 400
    assert api("post", "/webhooks", url="https://user:pw@example.com/hook").status_code == 400
    assert api("post", "/webhooks", url="https://example.com/x", kinds=["nope"]).status_code == 400
    assert api("get", "/webhooks").json() == []


def test_a_deeply_nested_or_surrogate_body_is_a_400_naming_the_field(client, owner):
    token = ApiToken.issue(owner, "t")[1]

    def post(raw: str):
        return client.post(
            "/api/v1/webhooks", raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    deep = post('{"url": "https://example.com/h", "kinds": ' + "[" * 1000 + "]" * 1000 + "}")
    assert deep.status_code == 400
    assert "nested too deeply" in deep.json()["error"]["message"]
    surrogate = post('{"url": "https://example.com/\\ud800"}')
    assert surrogate.status_code == 400
    assert surrogate.json()["error"]["field"] == "url"
