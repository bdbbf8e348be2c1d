"""What a new user tripped on (issue 12): connecting starts the first sync at once, a change of what
is synced starts a full sync (the cursor would answer "nothing new"), every integration page offers
"Re-sync everything" and "Backfill from a date", and the account identity is kept apart from what
the connection test found."""

import pytest
from django.test import Client
from django.urls import reverse

from integrations.connections import split_identity
from integrations.models import JobKind, JobStatus, SyncJob
from integrations.sync.engine import run_job
from tests.integrations.ui import connect_ical, ical_form, serve_calendar, text, the_only_integration

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def synced_calendar(owner_client, owner, feed_server):
    connect_ical(owner_client, serve_calendar(feed_server))
    integration = the_only_integration(owner)
    first = SyncJob.objects.get(integration=integration)
    run_job(first.pk)
    integration.refresh_from_db()
    assert integration.sync_cursor is not None  # the next sync would be incremental
    return integration


@pytest.mark.parametrize(
    ("tested", "identity", "findings"),
    [
        ("ITC (1 event)", "ITC", "1 event"),
        ("hooks.example.com (signed; no request sent)", "hooks.example.com", "signed; no request sent"),
        ("Zurich: Sunny, 21 °C", "Zurich", "Sunny, 21 °C"),
        ("me@example.com", "me@example.com", ""),
        ("", "", ""),
    ],
)  # fmt: skip
def test_the_account_identity_is_what_remains_without_the_test_findings(tested, identity, findings):
    assert split_identity(tested) == (identity, findings)


def test_connecting_starts_the_first_sync_and_the_subtitle_is_the_account_only(owner_client, owner, feed_server):
    response = owner_client.post(
        reverse("integrations:connect", args=["ical-feed"]), ical_form(serve_calendar(feed_server)), follow=True
    )
    integration = the_only_integration(owner)
    job = SyncJob.objects.get(integration=integration)
    assert (job.kind, job.status) == (JobKind.FULL, JobStatus.QUEUED)
    page = text(response)
    assert "Awkward Calendar (7 events). The first sync has started." in page  # said once
    assert integration.account_identity == "Awkward Calendar"
    page = text(owner_client.get(integration.get_absolute_url()))
    assert "(7 events)" not in page  # the page's subtitle is the account, not the old test


def test_changing_the_window_starts_a_full_sync(owner_client, synced_calendar):
    response = owner_client.post(
        reverse("integrations:edit", args=[synced_calendar.pk]),
        ical_form("", window_past_days="10", window_future_days="10"),
        follow=True,
    )
    assert "A full sync has started" in text(response)
    job = synced_calendar.sync_jobs.filter(status=JobStatus.QUEUED).get()
    assert job.kind == JobKind.FULL


def test_a_rename_alone_starts_no_sync(owner_client, synced_calendar):
    owner_client.post(reverse("integrations:edit", args=[synced_calendar.pk]), ical_form("", name="Renamed"))
    assert not synced_calendar.sync_jobs.filter(status=JobStatus.QUEUED).exists()


def test_resync_everything_and_backfill_are_offered_and_queue_their_kind(owner_client, synced_calendar):
    page = text(owner_client.get(synced_calendar.get_absolute_url()))
    assert "Re-sync everything" in page
    assert "Backfill from a date" in page
    url = reverse("integrations:sync_now", args=[synced_calendar.pk])

    owner_client.post(url, {"kind": "full"})
    job = synced_calendar.sync_jobs.get(status=JobStatus.QUEUED)
    assert job.kind == JobKind.FULL
    job.delete()

    owner_client.post(url, {"kind": "backfill", "since": "2024-01-31"})
    job = synced_calendar.sync_jobs.get(status=JobStatus.QUEUED)
    assert (job.kind, job.options) == (JobKind.BACKFILL, {"since": "2024-01-31"})


def test_a_backfill_needs_a_past_date(owner_client, synced_calendar):
    url = reverse("integrations:sync_now", args=[synced_calendar.pk])
    response = owner_client.post(url, {"kind": "backfill", "since": "not a date"}, follow=True)
    assert "Choose the date to backfill from" in text(response)
    response = owner_client.post(url, {"kind": "backfill", "since": "2999-01-01"}, follow=True)
    assert "The backfill date is in the future" in text(response)
    assert not synced_calendar.sync_jobs.filter(status=JobStatus.QUEUED).exists()


def test_a_full_resync_while_another_sync_waits_says_so(owner_client, synced_calendar):
    url = reverse("integrations:sync_now", args=[synced_calendar.pk])
    owner_client.post(url)  # an incremental sync, queued
    response = owner_client.post(url, {"kind": "full"}, follow=True)
    assert "another sync (incremental) is already queued" in text(response)


def test_another_user_cannot_start_a_resync(synced_calendar, other_user):
    other_client = Client()
    other_client.force_login(other_user)
    response = other_client.post(reverse("integrations:sync_now", args=[synced_calendar.pk]), {"kind": "full"})
    assert response.status_code == 404
    assert not synced_calendar.sync_jobs.filter(status=JobStatus.QUEUED).exists()


def test_one_notion_of_available_on_the_home_page_and_the_gallery(client, owner_client, settings):
    from integrations.models import IntegrationType

    oauth = IntegrationType.objects.available().filter(auth_kind="oauth2").first()
    assert oauth is not None
    anonymous = Client()
    home = text(anonymous.get("/"))
    card = home[home.index(f"<h3>{oauth.display_name}</h3>") :][:600]
    assert "Not configured on this hub" in card
    assert "Available" not in card
    gallery = text(owner_client.get(reverse("integrations:gallery"), {"available": "1"}))
    assert f'data-slug="{oauth.slug}"' not in gallery
    assert 'data-slug="ical-feed"' in gallery


def test_a_kept_calendar_address_is_in_its_field_and_never_in_the_logs(owner_client, feed_server, caplog):
    from tests.integrations.ui import MISSING_PATH, TOKEN

    caplog.set_level("DEBUG")
    typed = feed_server.url(MISSING_PATH)
    page = text(owner_client.post(reverse("integrations:connect", args=["ical-feed"]), ical_form(typed)))
    assert f'value="{typed}"' in page  # kept for the person to fix, with a Show button
    assert 'data-reveal="id_url"' in page
    # The hub's own records of the failure (the HTTP client's debug lines are the connectors' matter).
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("integrations", "django", "workflows")]
    assert ours  # the failure was logged...
    assert not [line for line in ours if TOKEN in line]  # ...without the address
