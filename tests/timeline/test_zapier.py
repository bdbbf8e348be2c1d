"""Zapier's documented calls (docs.zapier.com/platform/build/hook-trigger, API Key auth) replayed
against the hub: the auth test, subscribe, perform list (poll), the REST hook deliveries to a real
local receiver (a 410 unsubscribes), unsubscribe, and the actions."""

import datetime
import json

import pytest
from django.utils import timezone

from integrations.models import ApiToken, IntegrationType, SyncedItem
from tests.factories import make_integration
from tests.peers.feeds import Reply
from timeline import zapier
from timeline.ingest import ingest
from timeline.models import Entity, ZapierHook
from workflows.models import Card, Execution, Workflow

pytestmark = pytest.mark.usefixtures("catalogue")
T0 = datetime.datetime(2026, 4, 4, 9, 0, tzinfo=datetime.UTC)


def store(integration, external_id, kind="event"):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id, title=external_id,
        occurred_at=T0, data={"uid": external_id}, content_hash=external_id, source_type=integration.type.slug,
        source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


def caller(client, token):
    def call(method, path, body=None, **query):
        if method == "get":
            return client.get(f"/api/v1/zapier{path}", query, HTTP_AUTHORIZATION=f"Bearer {token}")
        return getattr(client, method)(
            f"/api/v1/zapier{path}", json.dumps(body) if body is not None else None,
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
        )  # fmt: skip

    return call


@pytest.fixture
def zap(client, owner):
    return caller(client, ApiToken.issue(owner, "Zapier")[1])


@pytest.fixture
def calendar(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")


def test_the_auth_test_names_the_token_owner_and_refuses_a_bad_token(zap, client, owner):
    answer = zap("get", "/me")
    assert answer.status_code == 200
    assert answer.json()["email"] == owner.email
    assert caller(client, "mc_wrong")("get", "/me").status_code == 401


def test_subscribe_deliver_and_unsubscribe(zap, owner, calendar, feed_server):
    before = store(calendar, "before")
    ingest(owner.pk, [before.pk])
    subscribed = zap("post", "/hooks", {"target_url": feed_server.url("/zap"), "event": "new_record", "kinds": "event"})
    assert subscribed.status_code == 201
    hook_id = subscribed.json()["id"]

    first, task = store(calendar, "first"), store(calendar, "a task", kind="task")
    ingest(owner.pk, [first.pk, task.pk])
    feed_server.sequence("/zap", [Reply(200, b'{"status": "success"}')])
    assert zapier.deliver_due(owner.pk, "new_record") == 1

    sent = feed_server.requests_to("/zap")
    assert len(sent) == 1
    items = json.loads(sent[0].body)
    assert [i["title"] for i in items] == ["first"]  # only new, only the chosen kind
    assert items[0]["id"] == Entity.objects.get(sources__item=first).pk

    first.title = "first, renamed"
    first.save()
    ingest(owner.pk, [first.pk])  # an update is not a new record: the Zap is not run again
    assert zapier.deliver_due(owner.pk, "new_record") == 0
    assert len(feed_server.requests_to("/zap")) == 1

    assert zap("delete", f"/hooks/{hook_id}").status_code == 200
    assert not ZapierHook.objects.filter(pk=hook_id).exists()
    assert zap("delete", f"/hooks/{hook_id}").status_code == 404


def test_a_target_answering_410_is_unsubscribed(zap, owner, calendar, feed_server):
    hook_id = zap("post", "/hooks", {"target_url": feed_server.url("/gone")}).json()["id"]
    feed_server.sequence("/gone", [Reply(410, b"")])
    item = store(calendar, "new")
    ingest(owner.pk, [item.pk])
    assert zapier.deliver_due(owner.pk) == 0
    assert len(feed_server.requests_to("/gone")) == 1
    assert not ZapierHook.objects.filter(pk=hook_id).exists()


def test_a_busy_target_gets_the_items_again_after_a_pause(zap, owner, calendar, feed_server):
    hook_id = zap("post", "/hooks", {"target_url": feed_server.url("/busy")}).json()["id"]
    feed_server.sequence("/busy", [Reply(503, b"busy"), Reply(200, b"ok")])
    item = store(calendar, "new")
    ingest(owner.pk, [item.pk])
    assert zapier.deliver_due(owner.pk) == 0
    hook = ZapierHook.objects.get(pk=hook_id)
    assert hook.failures == 1
    assert "HTTP 503" in hook.last_error
    assert zapier.deliver_due(owner.pk) == 0  # still pausing: not called
    assert len(feed_server.requests_to("/busy")) == 1
    ZapierHook.objects.filter(pk=hook_id).update(next_attempt_at=timezone.now())
    assert zapier.deliver_due(owner.pk) == 1
    bodies = [json.loads(s.body) for s in feed_server.requests_to("/busy")]
    assert bodies[0] == bodies[1]


def test_subscribe_refuses_private_addresses_unknown_kinds_and_what_is_not_yours(zap, client, other_user):
    assert zap("post", "/hooks", {"target_url": "http://127.0.0.1:9/zap"}).status_code == 400
    assert zap("post", "/hooks", {"target_url": "https://user:pw@hooks.example.com/x"}).status_code == 400
    assert zap("post", "/hooks", {"target_url": "https://hooks.example.com/x", "kinds": ["nope"]}).status_code == 400
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="ical-feed"), name="Theirs")
    answer = zap("post", "/hooks", {"target_url": "https://hooks.example.com/x", "integration": theirs.pk})
    assert answer.status_code == 404
    other = caller(client, ApiToken.issue(other_user, "z")[1])
    mine = ZapierHook.objects.create(user=theirs.user, target_url="https://hooks.example.com/y")
    assert zap("delete", f"/hooks/{mine.pk}").status_code == 404  # the other person's hook
    assert other("delete", f"/hooks/{mine.pk}").status_code == 200


def test_perform_list_is_newest_first_with_stable_ids_and_filters(zap, owner, other_user, calendar):
    music = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Other cal")
    items = [store(calendar, "one"), store(calendar, "two"), store(music, "three", kind="task")]
    for item in items:
        ingest(owner.pk, [item.pk])
    listed = zap("get", "/triggers/new-records")
    assert listed.status_code == 200
    assert [r["title"] for r in listed.json()] == ["three", "two", "one"]
    assert zap("get", "/triggers/new-records").json() == listed.json()  # the same ids on every poll
    assert [r["title"] for r in zap("get", "/triggers/new-records", kinds="event").json()] == ["two", "one"]
    assert [r["title"] for r in zap("get", "/triggers/new-records", integration=music.pk).json()] == ["three"]
    assert [r["title"] for r in zap("get", "/triggers/new-records", limit=1).json()] == ["three"]
    assert zap("get", "/triggers/new-records", kinds="nope").status_code == 400
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="ical-feed"), name="Theirs")
    assert zap("get", "/triggers/new-records", integration=theirs.pk).status_code == 404
    kinds = zap("get", "/choices/kinds").json()
    assert {"id": "task", "name": "Task"} in kinds
    assert {c["name"] for c in zap("get", "/choices/integrations").json()} == {"Cal", "Other cal"}


def test_workflow_cards_trigger_and_run_action(zap, owner, other_user, feed_server):
    workflow = Workflow.objects.create(owner=owner, name="Morning")
    old = Card.objects.create(workflow=workflow, title="old card")
    subscribed = zap("post", "/hooks", {"target_url": feed_server.url("/cards"), "event": "new_card"})
    assert subscribed.status_code == 201
    feed_server.sequence("/cards", [Reply(200, b"ok")])
    new = Card.objects.create(workflow=workflow, title="new card", content="Hello")
    from timeline.tasks import tell_automations

    tell_automations(owner.pk, "new_card")
    sent = [json.loads(s.body) for s in feed_server.requests_to("/cards")]
    assert [[c["id"] for c in batch] for batch in sent] == [[new.pk]]
    assert sent[0][0]["workflow_name"] == "Morning"
    assert [c["id"] for c in zap("get", "/triggers/new-cards").json()] == [new.pk, old.pk]

    run = zap("post", "/actions/workflow-runs", {"workflow": workflow.pk})
    assert run.status_code == 202
    assert Execution.objects.get(pk=run.json()["id"]).trigger == "automation"
    theirs = Workflow.objects.create(owner=other_user, name="Theirs")
    assert zap("post", "/actions/workflow-runs", {"workflow": theirs.pk}).status_code == 404
    assert zap("get", "/triggers/new-cards", workflow=theirs.pk).status_code == 404


def test_create_a_task_or_note_action(zap, owner):
    made = zap("post", "/actions/records", {"kind": "task", "title": "Buy milk", "due": "2026-05-01"})
    assert made.status_code == 201
    entity = Entity.objects.get(pk=made.json()["id"], user=owner)
    assert (entity.kind, entity.title, entity.fields.get("due")) == ("task", "Buy milk", "2026-05-01")
    assert entity.sources.get().item.source_name == "Zapier"
    note = zap("post", "/actions/records", {"kind": "note", "title": "Idea", "text": "Write it down"})
    assert Entity.objects.get(pk=note.json()["id"]).fields.get("text") == "Write it down"
    assert zap("post", "/actions/records", {"kind": "event", "title": "x"}).status_code == 400
    assert zap("post", "/actions/records", {"kind": "task", "title": ""}).status_code == 400


def test_the_help_page_gives_the_values_to_paste_and_is_linked_from_api_tokens(owner_client, owner, settings):
    settings.IFTTT_SERVICE_KEY = ""
    Workflow.objects.create(owner=owner, name="Morning digest")
    page = owner_client.get("/timeline/automate/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"{settings.SITE_URL}/api/v1/zapier/hooks" in text
    assert "{{bundle.targetUrl}}" in text
    assert "Morning digest" in text
    assert "IFTTT_SERVICE_KEY" in text  # not set up: says what the administrator must set
    assert "/timeline/automate/" in owner_client.get("/integrations/api-tokens/").content.decode()


def test_the_help_page_needs_a_sign_in(client):
    assert client.get("/timeline/automate/").status_code == 302


def test_a_workflow_run_that_makes_cards_runs_the_card_zaps(zap, owner, feed_server):
    from tests.workflows.helpers import add_source, make_workflow, query_integration
    from workflows.runner import start_execution
    from workflows.tasks import run_execution

    items = [{"id": "n1", "title": "Release 2.0", "summary": "", "url": "https://example.com/n1"}]
    feed_server.serve("/news", json.dumps({"items": items}), content_type="application/json")
    feed_server.sequence("/zap-cards", [Reply(200, b"ok")])
    workflow = make_workflow(owner)
    add_source(workflow, query_integration(owner, feed_server.url("/news"), name="News"), {"q": "py"})
    zap("post", "/hooks", {"target_url": feed_server.url("/zap-cards"), "event": "new_card", "workflow": workflow.pk})

    execution, _ = start_execution(workflow)
    assert run_execution(execution.pk)["ran"] is True
    (batch,) = [json.loads(s.body) for s in feed_server.requests_to("/zap-cards")]
    assert [(c["title"], c["workflow_id"]) for c in batch] == [("News", workflow.pk)]
