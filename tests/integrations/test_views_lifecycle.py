"""Pause and resume, disconnect versus delete, and the warning about workflows that use an
integration: proceeding pauses them and flags them, never leaving them silently broken."""

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import counts
from integrations.models import AuditEvent, Credential, Integration, IntegrationType, Status, SyncedItem, SyncJob
from integrations.secrets import secrets_for
from tests.factories import make_integration
from tests.integrations.ui import text
from workflows.models import Workflow, WorkflowOutput, WorkflowSource

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def calendar(owner):
    integration = make_integration(
        owner,
        IntegrationType.objects.get(slug="ical-feed"),
        name="Family",
        secrets={"url": "https://example.com/x.ics"},
    )
    now = timezone.now()
    SyncedItem.objects.bulk_create(
        SyncedItem(user=owner, integration=integration, kind="event", external_id=f"e{n}", title=f"Event {n}",
                   content_hash="h", source_type="ical-feed", source_name="Family", fetched_at=now)
        for n in range(3)
    )  # fmt: skip
    counts.recount(Integration.objects.filter(pk=integration.pk))  # rows written directly, not by a sync
    integration.refresh_from_db()
    return integration


@pytest.fixture
def briefing(owner, calendar):
    workflow = Workflow.objects.create(owner=owner, name="Morning briefing")
    WorkflowSource.objects.create(workflow=workflow, integration=calendar)
    digest = Workflow.objects.create(owner=owner, name="Weekly digest")
    WorkflowOutput.objects.create(workflow=digest, integration=calendar)
    return workflow, digest


def test_pause_and_resume(owner_client, calendar):
    response = owner_client.post(reverse("integrations:pause", args=[calendar.pk]))
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.status == Status.PAUSED
    page = text(owner_client.get(calendar.get_absolute_url()))
    assert "Paused: scheduled syncs are skipped" in page
    assert reverse("integrations:sync_now", args=[calendar.pk]) not in page
    owner_client.post(reverse("integrations:resume", args=[calendar.pk]))
    calendar.refresh_from_db()
    assert calendar.status == Status.CONNECTED
    assert list(AuditEvent.objects.filter(integration=calendar).values_list("action", flat=True)[:2]) == [
        "resume",
        "pause",
    ]


def test_pause_goes_back_to_where_it_was_asked_but_never_off_site(owner_client, calendar):
    response = owner_client.post(reverse("integrations:pause", args=[calendar.pk]), {"next": "/integrations/"})
    assert response.url == "/integrations/"
    response = owner_client.post(reverse("integrations:resume", args=[calendar.pk]), {"next": "https://evil.example/"})
    assert response.url == calendar.get_absolute_url()


def test_pause_and_resume_need_a_post(owner_client, calendar):
    assert owner_client.get(reverse("integrations:pause", args=[calendar.pk])).status_code == 405


def test_disconnect_keeps_the_data_and_drops_the_credentials(owner_client, calendar):
    page = text(owner_client.get(reverse("integrations:disconnect", args=[calendar.pk])))
    assert "Disconnect “Family”?" in page
    assert "Its 3 synced items stay" in page
    job = SyncJob.objects.create(integration=calendar)  # a queued sync is cancelled
    response = owner_client.post(reverse("integrations:disconnect", args=[calendar.pk]), {"proceed": "1"})
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.status == Status.DISCONNECTED
    assert not Credential.objects.filter(integration=calendar).exists()
    assert secrets_for(calendar, actor="user") == {}
    assert SyncedItem.objects.filter(integration=calendar).count() == 3
    job.refresh_from_db()
    assert job.status == "cancelled"
    from django_q.models import Schedule

    assert not Schedule.objects.filter(name=f"sync-integration-{calendar.pk}").exists()
    page = text(owner_client.get(calendar.get_absolute_url()))
    assert "Disconnected Family" in page
    assert "⊘</span> Disconnected" in page
    assert "Reconnect it" in page


def test_delete_keeps_synced_data_unless_ticked(owner_client, owner, calendar):
    page = text(owner_client.get(reverse("integrations:delete", args=[calendar.pk])))
    assert "Delete “Family”?" in page
    assert "Also delete its 3 synced items" in page
    response = owner_client.post(reverse("integrations:delete", args=[calendar.pk]), {"proceed": "1"})
    assert response.status_code == 302
    assert response.url == reverse("integrations:mine")
    assert not Integration.objects.filter(pk=calendar.pk).exists()
    kept = SyncedItem.objects.filter(user=owner)
    assert kept.count() == 3
    assert all(i.integration_id is None and i.source_name == "Family" for i in kept)
    assert "Its synced items are kept" in text(owner_client.get(response.url))
    # kept items stay visible, with their provenance
    page = text(owner_client.get(reverse("integrations:all_items")))
    assert "Event 1" in page
    assert "Family" in page


def test_delete_with_the_box_ticked_removes_the_synced_data(owner_client, owner, calendar):
    owner_client.post(reverse("integrations:delete", args=[calendar.pk]), {"proceed": "1", "delete_data": "1"})
    assert not Integration.objects.filter(pk=calendar.pk).exists()
    assert not SyncedItem.objects.filter(user=owner).exists()
    assert AuditEvent.objects.filter(action="delete", detail__deleted_data=True).exists()


def test_the_warning_lists_the_workflows_using_it(owner_client, calendar, briefing):
    workflow, _digest = briefing
    for action in ("disconnect", "delete"):
        page = text(owner_client.get(reverse(f"integrations:{action}", args=[calendar.pk])))
        assert "2 workflows use this integration:" in page
        assert "Morning briefing" in page
        assert "Weekly digest" in page
        assert f'href="{reverse("workflows:detail", args=[workflow.pk])}"' in page
        assert "paused and marked as needing attention" in page
        assert "Proceed:" in page
        assert "Cancel" in page


def test_a_post_without_proceeding_shows_the_warning_and_changes_nothing(owner_client, calendar, briefing):
    response = owner_client.post(reverse("integrations:delete", args=[calendar.pk]))
    assert response.status_code == 200
    assert "Morning briefing" in text(response)
    assert Integration.objects.filter(pk=calendar.pk).exists()
    assert Workflow.objects.filter(is_active=True).count() == 2


def test_proceeding_pauses_the_workflows_and_flags_them(owner_client, calendar, briefing):
    response = owner_client.post(reverse("integrations:delete", args=[calendar.pk]), {"proceed": "1"})
    assert "2 workflows using it were paused." in text(owner_client.get(response.url))
    for workflow in Workflow.objects.all():
        assert workflow.is_active is False
        assert workflow.needs_attention is True
        assert "It uses Family (iCal Feed), which was deleted" in workflow.attention_reason
    # the notifications page says so, with the workflow linked
    page = text(owner_client.get(reverse("integrations:notifications")))
    assert "Morning briefing" in page
    assert "Paused, needs attention" in page


def test_disconnecting_also_pauses_the_workflows(owner_client, calendar, briefing):
    owner_client.post(reverse("integrations:disconnect", args=[calendar.pk]), {"proceed": "1"})
    assert set(Workflow.objects.values_list("needs_attention", flat=True)) == {True}
    assert "which was disconnected" in Workflow.objects.first().attention_reason


def test_another_users_workflows_are_never_touched(owner_client, other_user, calendar):
    theirs = Workflow.objects.create(owner=other_user, name="Theirs")
    owner_client.post(reverse("integrations:delete", args=[calendar.pk]), {"proceed": "1"})
    theirs.refresh_from_db()
    assert theirs.is_active
    assert not theirs.needs_attention


def test_pausing_and_resuming_keeps_needs_reauth_and_says_what_to_do(owner_client, calendar):
    detail = "The calendar address was refused (HTTP 401). Enter the new private address in the settings."
    calendar.set_status(Status.NEEDS_REAUTH, detail)
    owner_client.post(reverse("integrations:pause", args=[calendar.pk]))
    calendar.refresh_from_db()
    assert calendar.status == Status.PAUSED

    response = owner_client.post(reverse("integrations:resume", args=[calendar.pk]), follow=True)

    calendar.refresh_from_db()
    assert (calendar.status, calendar.status_detail) == (Status.NEEDS_REAUTH, detail)
    assert f"Resumed Family. {detail}" in text(response)


def test_a_disconnected_integration_cannot_be_paused_or_resumed(owner_client, calendar):
    from django_q.models import Schedule

    owner_client.post(reverse("integrations:disconnect", args=[calendar.pk]), {"proceed": "1"})

    paused = owner_client.post(reverse("integrations:pause", args=[calendar.pk]), follow=True)
    assert "Family is disconnected, so there is nothing to pause: reconnect it instead." in text(paused)
    resumed = owner_client.post(reverse("integrations:resume", args=[calendar.pk]), follow=True)
    assert "Family is disconnected, so it cannot be resumed: reconnect it instead." in text(resumed)

    calendar.refresh_from_db()
    assert calendar.status == Status.DISCONNECTED
    assert not Schedule.objects.filter(name=f"sync-integration-{calendar.pk}").exists()
    assert not AuditEvent.objects.filter(integration=calendar, action__in=["pause", "resume"]).exists()


def test_a_pause_remembers_a_needs_reauth_written_meanwhile_by_a_worker(calendar):
    from integrations import lifecycle

    page_copy = Integration.objects.get(pk=calendar.pk)  # what the view loaded: connected
    detail = "The calendar address was refused (HTTP 401). Enter the new private address in the settings."
    Integration.objects.get(pk=calendar.pk).set_status(Status.NEEDS_REAUTH, detail)  # a sync, just now

    lifecycle.pause(page_copy)
    lifecycle.resume(Integration.objects.get(pk=calendar.pk))

    calendar.refresh_from_db()
    assert (calendar.status, calendar.status_detail) == (Status.NEEDS_REAUTH, detail)
