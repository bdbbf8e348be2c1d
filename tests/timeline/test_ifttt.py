"""IFTTT's documented calls (ifttt.com/docs/api_reference) replayed against /ifttt/v1/: the service
key on every call, status, test/setup, user/info, triggers (trigger_identity, limit, newest first,
wrapped in data, meta id and timestamp), actions (with SKIP errors), the trigger identity deletion,
and Realtime notifications POSTed to a real local receiver when new records arrive."""

import datetime
import json

import pytest
from django.utils import timezone

from integrations.models import ApiToken, IntegrationType, SyncedItem
from tests.factories import make_integration
from tests.peers.feeds import Reply
from timeline.models import Entity, IftttTrigger, PendingItem
from workflows.models import Card, Workflow

pytestmark = pytest.mark.usefixtures("catalogue")
KEY = "ifttt-service-key-for-tests"
T0 = datetime.datetime(2026, 4, 4, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _service_key(settings):
    settings.IFTTT_SERVICE_KEY = KEY


def ifttt(client, method, path, body=None, *, key=KEY, token=None):
    headers = {"HTTP_IFTTT_SERVICE_KEY": key, "HTTP_ACCEPT": "application/json"}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(f"/ifttt/v1/{path}", data, content_type="application/json", **headers)


def store(integration, external_id, kind="event"):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id, title=external_id,
        occurred_at=T0, data={"uid": external_id}, content_hash=external_id, source_type=integration.type.slug,
        source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


def test_the_service_key_is_checked_on_every_call(client, owner, settings):
    token = ApiToken.issue(owner, "IFTTT")[1]
    assert ifttt(client, "get", "status").status_code == 200
    for method, path in (("get", "status"), ("post", "test/setup"), ("get", "user/info")):
        refused = ifttt(client, method, path, {} if method == "post" else None, key="wrong", token=token)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["message"]
    refused = ifttt(client, "post", "triggers/new_record", {"triggerFields": {"kind": "any"}}, key="", token=token)
    assert refused.status_code == 401
    settings.IFTTT_SERVICE_KEY = ""  # not set up: nothing answers, whatever key is sent
    assert ifttt(client, "get", "status", key="").status_code == 401


def test_test_setup_gives_a_working_token_and_samples_for_every_trigger_and_action(client):
    setup = ifttt(client, "post", "test/setup", {})
    assert setup.status_code == 200
    data = setup.json()["data"]
    token, samples = data["accessToken"], data["samples"]
    assert set(samples["triggers"]) == {"new_record", "new_card"}
    assert set(samples["actions"]) == {"create_task", "create_note", "run_workflow"}

    info = ifttt(client, "get", "user/info", token=token)
    assert info.status_code == 200
    assert info.json()["data"]["id"]
    fields = samples["triggers"]["new_record"]
    poll = {"triggerFields": fields, "trigger_identity": "t1"}
    polled = ifttt(client, "post", "triggers/new_record", poll, token=token)
    assert polled.status_code == 200
    assert len(polled.json()["data"]) >= 3
    for action, fields in samples["actions"].items():
        assert ifttt(client, "post", f"actions/{action}", {"actionFields": fields}, token=token).status_code == 200
    for action, fields in samples["actionRecordSkipping"].items():
        skipped = ifttt(client, "post", f"actions/{action}", {"actionFields": fields}, token=token)
        assert skipped.status_code == 400
        assert skipped.json()["errors"][0]["status"] == "SKIP"

    again = ifttt(client, "post", "test/setup", {}).json()["data"]["accessToken"]
    assert ifttt(client, "get", "user/info", token=token).status_code == 401  # the earlier test token is revoked
    assert ifttt(client, "get", "user/info", token=again).status_code == 200


def test_a_bad_token_is_401_and_bad_fields_are_400(client, owner):
    assert ifttt(client, "get", "user/info", token="mc_wrong").status_code == 401
    assert ifttt(client, "get", "user/info").status_code == 401
    token = ApiToken.issue(owner, "IFTTT")[1]
    missing = ifttt(client, "post", "triggers/new_record", {"trigger_identity": "x"}, token=token)
    assert missing.status_code == 400
    assert "kind" in missing.json()["errors"][0]["message"]
    unknown = ifttt(client, "post", "triggers/new_record", {"triggerFields": {"kind": "nope"}}, token=token)
    assert unknown.status_code == 400
    bad_limit = {"triggerFields": {"kind": "any"}, "limit": "many"}
    assert ifttt(client, "post", "triggers/new_record", bad_limit, token=token).status_code == 400


def test_trigger_is_newest_first_wrapped_in_data_with_meta_and_limit(client, owner, other_user):
    token = ApiToken.issue(owner, "IFTTT")[1]
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="ical-feed"), name="Theirs")
    from timeline.ingest import ingest

    for name, kind in (("one", "event"), ("two", "task"), ("three", "event")):
        ingest(owner.pk, [store(calendar, name, kind).pk])
    ingest(other_user.pk, [store(theirs, "not yours").pk])

    def poll(**body):
        answer = ifttt(client, "post", "triggers/new_record", {"trigger_identity": "abc", **body}, token=token)
        assert answer.status_code == 200
        return answer.json()["data"]

    every = poll(triggerFields={"kind": "any"})
    assert [r["title"] for r in every] == ["three", "two", "one"]
    newest = Entity.objects.get(title="three")
    assert every[0]["meta"] == {"id": str(newest.pk), "timestamp": int(newest.created_at.timestamp())}
    assert [r["title"] for r in poll(triggerFields={"kind": "event"})] == ["three", "one"]
    assert [r["title"] for r in poll(triggerFields={"kind": "any"}, limit=1)] == ["three"]
    assert poll(triggerFields={"kind": "any"}, limit=0) == []
    remembered = IftttTrigger.objects.get(trigger_identity="abc")
    assert (remembered.user, remembered.slug) == (owner, "new_record")
    theirs_token = ApiToken.issue(other_user, "IFTTT")[1]
    taken = {"trigger_identity": "abc", "triggerFields": {"kind": "any"}}
    answer = ifttt(client, "post", "triggers/new_record", taken, token=theirs_token)
    assert [r["title"] for r in answer.json()["data"]] == ["not yours"]  # their own records only
    assert IftttTrigger.objects.get(trigger_identity="abc").user == owner  # and the identity stays the owner's

    forgotten = ifttt(client, "delete", "triggers/new_record/trigger_identity/abc")
    assert forgotten.status_code == 200
    assert not IftttTrigger.objects.filter(trigger_identity="abc").exists()


def test_new_card_trigger_and_actions(client, owner, other_user):
    token = ApiToken.issue(owner, "IFTTT")[1]
    workflow = Workflow.objects.create(owner=owner, name="Morning")
    card = Card.objects.create(workflow=workflow, title="Digest", content="Hello")
    Card.objects.create(workflow=Workflow.objects.create(owner=other_user, name="Theirs"), title="not yours")
    cards = ifttt(client, "post", "triggers/new_card", {"triggerFields": {"workflow": "any"}}, token=token).json()
    assert [(c["title"], c["meta"]["id"]) for c in cards["data"]] == [("Digest", str(card.pk))]

    note_fields = {"actionFields": {"title": "", "text": "Remember"}}
    made = ifttt(client, "post", "actions/create_note", note_fields, token=token)
    assert made.status_code == 200
    note = Entity.objects.get(pk=int(made.json()["data"][0]["id"]))
    assert (note.user, note.kind, note.fields.get("text")) == (owner, "note", "Remember")
    theirs = Workflow.objects.get(owner=other_user)
    other_run = {"actionFields": {"workflow": str(theirs.pk)}}
    assert ifttt(client, "post", "actions/run_workflow", other_run, token=token).json()["errors"][0]["status"] == "SKIP"
    assert ifttt(client, "post", "actions/create_task", {}, token=token).status_code == 400


def test_new_records_are_announced_to_the_realtime_api(client, owner, settings, feed_server):
    settings.IFTTT_REALTIME_URL = feed_server.url("/v1/notifications")
    feed_server.sequence("/v1/notifications", [Reply(200, b"{}")])
    token = ApiToken.issue(owner, "IFTTT")[1]
    body = {"triggerFields": {"kind": "any"}, "trigger_identity": "applet-1"}
    assert ifttt(client, "post", "triggers/new_record", body, token=token).status_code == 200
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")

    from timeline.tasks import drain

    item = store(calendar, "arrived")
    PendingItem.objects.create(user=owner, item_id=item.pk)
    assert drain(owner.pk) == 1
    sent = feed_server.requests_to("/v1/notifications")
    assert len(sent) == 1
    headers = {k.lower(): v for k, v in sent[0].headers.items()}
    assert headers["ifttt-service-key"] == KEY
    assert headers["x-request-id"]
    assert json.loads(sent[0].body) == {"data": [{"trigger_identity": "applet-1"}]}

    item.title = "arrived, renamed"
    item.save()
    PendingItem.objects.create(user=owner, item_id=item.pk)
    assert drain(owner.pk) == 1
    assert len(feed_server.requests_to("/v1/notifications")) == 1  # an update is not a new record


def test_a_failing_realtime_api_does_not_stop_the_timeline(owner, settings, feed_server):
    settings.IFTTT_REALTIME_URL = feed_server.url("/down")
    feed_server.sequence("/down", [Reply(500, b"oops")])
    IftttTrigger.objects.create(user=owner, trigger_identity="applet-2", slug="new_record")
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")
    from timeline.tasks import drain

    PendingItem.objects.create(user=owner, item_id=store(calendar, "x").pk)
    assert drain(owner.pk) == 1
    assert len(feed_server.requests_to("/down")) == 1
    assert Entity.objects.filter(user=owner, title="x").exists()


def test_the_periodic_sweep_announces_what_it_took_in(owner, settings, feed_server):
    settings.IFTTT_REALTIME_URL = feed_server.url("/v1/notifications")
    feed_server.sequence("/v1/notifications", [Reply(200, b"{}")])
    IftttTrigger.objects.create(user=owner, trigger_identity="applet-3", slug="new_record")
    IftttTrigger.objects.create(user=owner, trigger_identity="cards-only", slug="new_card")
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")
    from timeline.tasks import drain_all

    PendingItem.objects.create(user=owner, item_id=store(calendar, "left behind").pk)
    assert drain_all() == 1
    (sent,) = feed_server.requests_to("/v1/notifications")
    assert json.loads(sent.body) == {"data": [{"trigger_identity": "applet-3"}]}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"actionFields": {"title": "a\\ud800"}}', "application/json"),  # a lone surrogate: SQLite refuses it
        ('{"actionFields": {"title": "a\\u0000"}}', "application/json"),  # NUL: PostgreSQL refuses it
        ("[" * 100_000, "application/json"),  # past Python's JSON parser (RecursionError)
        ({"actionFields": "x"}, None),  # a form, not JSON: the middleware had read the stream
    ],
)
def test_a_body_no_database_can_store_or_no_parser_can_read_is_a_400(client, owner, body, content_type):
    token = ApiToken.issue(owner, "IFTTT")[1]
    client.raise_request_exception = False
    headers = {"HTTP_IFTTT_SERVICE_KEY": KEY, "HTTP_AUTHORIZATION": f"Bearer {token}"}
    extra = {"content_type": content_type} if content_type else {}
    response = client.post("/ifttt/v1/actions/create_task", body, **extra, **headers)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"][0]["message"]
    assert not Entity.objects.filter(user=owner).exists()
