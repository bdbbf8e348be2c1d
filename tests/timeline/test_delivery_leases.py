"""Change webhooks and Zapier hooks are sent under a lease, not a row lock held across the POST:
a hook another worker holds is left alone until its lease runs out, and a worker whose lease was
taken over while it waited on the receiver records nothing (the new holder sends from where the
hook stood)."""

import datetime

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline import webhooks, zapier
from timeline.ingest import ingest
from timeline.models import ChangeWebhook, HookEvent, ZapierHook

pytestmark = pytest.mark.usefixtures("catalogue")
T0 = datetime.datetime(2026, 4, 4, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def records(owner):
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Cal")
    items = []
    for name in ("one", "two"):
        items.append(SyncedItem.objects.create(
            user=owner, integration=calendar, kind="event", external_id=name, title=name, occurred_at=T0,
            data={"uid": name}, content_hash=name, source_type="ical-feed", source_name="Cal", fetched_at=T0,
        ))  # fmt: skip
    ingest(owner.pk, [item.pk for item in items])
    return items


def test_a_hook_held_by_another_worker_waits_for_its_lease_to_run_out(owner, records, feed_server):
    feed_server.serve("/hook", b"ok", content_type="text/plain")
    hook = ChangeWebhook.objects.create(user=owner, url=feed_server.url("/hook"), secret="s")
    ChangeWebhook.objects.filter(pk=hook.pk).update(leased_until=timezone.now() + datetime.timedelta(minutes=1))
    assert list(webhooks.due_hooks(owner.pk)) == []
    assert webhooks.deliver(hook.pk) == 0
    assert feed_server.requests_to("/hook") == []

    ChangeWebhook.objects.filter(pk=hook.pk).update(leased_until=timezone.now() - datetime.timedelta(seconds=1))
    assert webhooks.deliver(hook.pk) == 2  # that worker died: its lease ran out, the hook is sent
    hook.refresh_from_db()
    assert hook.leased_until is None  # and given back once done
    assert len(feed_server.requests_to("/hook")) == 1


def test_a_worker_that_lost_its_lease_during_the_post_records_nothing(owner, records, feed_server, monkeypatch):
    feed_server.serve("/hook", b"ok", content_type="text/plain")
    hook = ChangeWebhook.objects.create(user=owner, url=feed_server.url("/hook"), secret="s")
    real_post = webhooks._post
    taken_over = timezone.now() + datetime.timedelta(minutes=5)

    def slow_receiver_then_takeover(*args):
        real_post(*args)
        # Meanwhile this worker's lease ran out and another worker claimed the hook.
        ChangeWebhook.objects.filter(pk=hook.pk).update(leased_until=taken_over)

    monkeypatch.setattr(webhooks, "_post", slow_receiver_then_takeover)
    assert webhooks.deliver(hook.pk) == 0
    hook.refresh_from_db()
    assert hook.delivered_seq == 0  # the new holder decides; the batch is resent with the same delivery id
    assert hook.leased_until == taken_over  # the old worker did not release another worker's lease


def test_zapier_hooks_are_leased_the_same_way(owner, records, feed_server):
    feed_server.serve("/zap", b"ok", content_type="text/plain")
    hook = ZapierHook.objects.create(user=owner, target_url=feed_server.url("/zap"), event=HookEvent.NEW_RECORD)
    ZapierHook.objects.filter(pk=hook.pk).update(leased_until=timezone.now() + datetime.timedelta(minutes=1))
    assert zapier.deliver_due(owner.pk) == 0
    assert feed_server.requests_to("/zap") == []
    ZapierHook.objects.filter(pk=hook.pk).update(leased_until=None)
    assert zapier.deliver_due(owner.pk) == 2
    hook.refresh_from_db()
    assert hook.leased_until is None
    assert hook.delivered_record > 0
