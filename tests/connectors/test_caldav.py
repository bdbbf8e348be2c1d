"""The CalDAV connector end to end: the real sync engine against a real Radicale server.

Each test makes its own calendar (or its own account, when it syncs "all calendars"), seeds it
through CalDAV like any client would, and looks at what a user would see: the synced items, the
job's counts and messages, the integration's status, and what lands on the server."""

import datetime
import uuid

import pytest
from django.utils import timezone

from connectors.base import OutgoingCard
from connectors.errors import AuthError, BlockedDestination, ConfigError
from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, RequestStat, Status, SyncedItem, SyncJob
from integrations.sync.context import build_context
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import connect, data_text, live_items, sync

pytestmark = [pytest.mark.usefixtures("catalogue"), pytest.mark.peer]
GOOD = ["paris.ics", "all-day.ics", "weekly.ics", "task.ics", "windows-zone.ics", "floating.ics"]
ALL_TIME = {"window_past_days": 3650}
UTC = datetime.UTC


@pytest.fixture
def server(radicale, allow_host):
    allow_host(radicale.host)
    return radicale


@pytest.fixture
def calendar(server):
    return server.make_calendar(f"Work {uuid.uuid4().hex[:6]}")


def seed(server, calendar, *names):
    for name in names:
        server.put(calendar, name, data_text(f"caldav/{name}"))


def simple_event(uid: str, title: str, start: datetime.datetime) -> str:
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    end = (start + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    title = title.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")  # RFC 5545 TEXT escapes
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\nSUMMARY:{title}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def seed_simple(server, calendar, count: int, *, prefix="ev"):
    start = timezone.now().replace(microsecond=0) - datetime.timedelta(days=10)
    for n in range(count):
        server.put(calendar, f"{prefix}-{n}.ics", simple_event(f"{prefix}-{n}", f"Event {n}", start))


def connect_caldav(owner, server, calendar=None, *, password=None, username=None, **config):
    settings = {"server_url": server.url, "username": username or server.username, **ALL_TIME, **config}
    if calendar is not None:
        settings["calendars"] = [calendar.get_display_name()]
    return connect(owner, "caldav", secrets={"password": password or server.password}, config=settings)


def requests_made(integration) -> int:
    return sum(RequestStat.objects.filter(integration=integration).values_list("requests", flat=True))


def by_title(integration):
    return {item.title: item for item in live_items(integration)}


def test_caldav_and_icloud_types_are_available_and_registered():
    for slug in ("caldav", "apple-calendar"):
        itype = IntegrationType.objects.get(slug=slug)
        assert itype.is_available
        assert registry.get(itype.handler).__name__ == "CalDAVConnector"
        fields = [f["name"] for f in itype.auth_schema + itype.source_schema]
        assert fields[:3] == ["server_url", "username", "password"]
        assert "calendars" in fields


def test_full_sync_imports_every_event_with_its_time_zone_recurrence_and_details(owner, server, calendar):
    seed(server, calendar, *GOOD)
    integration = connect_caldav(owner, server, calendar)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.created, job.failed) == (len(GOOD), 0)
    assert live_items(integration).count() == len(GOOD)
    assert integration.status == Status.CONNECTED
    year = timezone.now().year
    items = by_title(integration)

    paris = items["Réunion à Paris — café ☕"]
    assert paris.kind == "event"
    assert paris.occurred_at == datetime.datetime(year, 1, 15, 8, 30, tzinfo=UTC)  # 09:30 in Paris, winter
    assert paris.data["tzid"] == "Europe/Paris"
    assert paris.data["start"] == f"{year}-01-15T09:30:00+01:00"
    assert paris.data["location"] == "Rue de Rivoli, Paris"
    assert "seventy-five octets, so the line is split and must be unfolded.\nSecond line." in paris.summary
    assert paris.data["organizer"] == {"email": "alice@example.com", "name": "Alice Martin"}
    assert [a["email"] for a in paris.data["attendees"]] == ["bob@example.com", "chloe@example.com"]
    assert paris.data["attendees"][0]["partstat"] == "ACCEPTED"
    assert paris.data["categories"] == ["WORK", "PARIS"]
    assert paris.data["alarms"] == [{"action": "DISPLAY", "trigger": "-PT15M"}]
    assert paris.data["extra"] == {"X-CUSTOM-COLOR": "teal"}  # unmapped, kept, and named on the job
    assert paris.data["calendar"] == calendar.get_display_name()
    assert paris.external_id.startswith(str(calendar.url.path))
    assert paris.version
    assert "X-CUSTOM-COLOR" in job.unmapped_fields

    weekend = items["Long weekend"]
    assert weekend.data["all_day"] is True
    assert weekend.data["date"] == weekend.data["start"] == f"{year}-05-01"
    assert weekend.data["end"] == f"{year}-05-04"
    assert weekend.occurred_at == datetime.datetime(year, 5, 1, tzinfo=UTC)

    standup = items["Stand-up"]
    assert standup.data["recurring"] is True
    assert standup.data["rrule"] == "FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert standup.data["exdate"] == [f"{year}-02-16T09:15:00+01:00"]
    assert standup.data["overrides"] == [
        {
            "recurrence_id": f"{year}-02-23T09:15:00+01:00",
            "start": f"{year}-02-23T11:00:00+01:00",
            "end": f"{year}-02-23T11:15:00+01:00",
            "title": "Stand-up (moved)",
            "status": "",
            "location": "",
        }
    ]

    task = items["File taxes"]
    assert task.kind == "task"
    assert task.data["due"] == f"{year}-06-10"
    assert task.data["all_day"] is True
    assert task.data["priority"] == 1
    assert task.data["status"] == "NEEDS-ACTION"

    # Outlook's Windows zone name, defined by the object's own VTIMEZONE: 14:00 CEST is 12:00 UTC.
    assert items["Windows zone name"].occurred_at == datetime.datetime(year, 7, 1, 12, 0, tzinfo=UTC)
    floating = items["Floating breakfast"]
    assert floating.data["floating"] is True
    assert floating.occurred_at == datetime.datetime(year, 3, 10, 8, 0, tzinfo=UTC)


def test_a_second_sync_without_changes_rewrites_nothing_and_costs_one_request(owner, server, calendar):
    seed(server, calendar, *GOOD)
    integration = connect_caldav(owner, server, calendar)
    first = sync(integration)
    before_rows = {i.pk: i.updated_at for i in SyncedItem.objects.filter(integration=integration)}
    before_requests = requests_made(integration)

    second = sync(integration)

    assert second.kind == "incremental"
    assert second.status == JobStatus.SUCCEEDED
    assert (second.seen, second.created, second.updated, second.deleted) == (0, 0, 0, 0)
    assert {i.pk: i.updated_at for i in SyncedItem.objects.filter(integration=integration)} == before_rows
    # One PROPFIND of the calendar home: the unchanged ctag says so, and no item is fetched.
    assert requests_made(integration) - before_requests == 1
    assert first.seen == len(GOOD)


def test_edits_additions_and_deletions_arrive_through_the_sync_token(owner, server, calendar):
    seed_simple(server, calendar, 5)
    integration = connect_caldav(owner, server, calendar)
    sync(integration)
    token_before = integration.sync_cursor["calendars"][str(calendar.url.path)]["sync_token"]
    assert token_before.startswith("http://radicale.org/ns/sync/")

    start = timezone.now().replace(microsecond=0)
    server.put(calendar, "ev-1.ics", simple_event("ev-1", "Event 1, moved", start))
    server.delete(calendar, "ev-2.ics")
    server.put(calendar, "new.ics", simple_event("new", "Brand new", start))
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    # Only the two changed objects were fetched; the three others were not even looked at.
    assert (job.seen, job.created, job.updated, job.unchanged, job.deleted) == (2, 1, 1, 0, 1)
    titles = set(live_items(integration).values_list("title", flat=True))
    assert titles == {"Event 0", "Event 1, moved", "Event 3", "Event 4", "Brand new"}
    gone = SyncedItem.objects.get(integration=integration, external_id__endswith="/ev-2.ics")
    assert gone.deleted_at is not None
    assert gone.title == "Event 2"
    assert integration.sync_cursor["calendars"][str(calendar.url.path)]["sync_token"] != token_before


def test_a_token_the_server_forgot_falls_back_to_comparing_etags(owner, server, calendar):
    """Radicale answers an unknown token with 403 DAV:valid-sync-token (RFC 6578 3.2), as a server
    does once it has expired tokens: the sync must go on, fetching only what really changed."""
    seed_simple(server, calendar, 4)
    integration = connect_caldav(owner, server, calendar)
    sync(integration)
    path = str(calendar.url.path)
    cursor = integration.sync_cursor
    cursor["calendars"][path]["sync_token"] = "http://radicale.org/ns/sync/" + "0" * 64
    integration.sync_cursor = cursor
    integration.save(update_fields=["sync_cursor"])
    server.put(calendar, "ev-0.ics", simple_event("ev-0", "Event 0, edited", timezone.now().replace(microsecond=0)))
    server.delete(calendar, "ev-3.ics")

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.seen, job.updated, job.deleted) == (1, 1, 1)
    assert set(live_items(integration).values_list("title", flat=True)) == {"Event 0, edited", "Event 1", "Event 2"}
    # A fresh token was taken on the way: the next sync is back on the fast path.
    assert integration.sync_cursor["calendars"][path]["sync_token"] != "http://radicale.org/ns/sync/" + "0" * 64
    assert sync(integration).seen == 0


def test_with_sync_tokens_off_the_ctag_and_etags_find_exactly_the_changes(owner, server, calendar):
    seed_simple(server, calendar, 4)
    integration = connect_caldav(owner, server, calendar, use_sync_token=False)
    first = sync(integration)
    state = integration.sync_cursor["calendars"][str(calendar.url.path)]
    assert first.created == 4
    assert state["sync_token"] is None
    assert state["ctag"]

    requests_before = requests_made(integration)
    unchanged = sync(integration)
    assert unchanged.seen == 0
    assert requests_made(integration) - requests_before == 1

    server.put(calendar, "ev-2.ics", simple_event("ev-2", "Event 2, edited", timezone.now().replace(microsecond=0)))
    server.delete(calendar, "ev-0.ics")
    changed = sync(integration)

    assert changed.status == JobStatus.SUCCEEDED
    assert (changed.seen, changed.updated, changed.deleted) == (1, 1, 1)  # one etag differed: one fetch
    assert set(live_items(integration).values_list("title", flat=True)) == {"Event 1", "Event 2, edited", "Event 3"}


def test_a_malformed_event_is_reported_by_name_and_the_rest_is_imported(owner, server, calendar):
    seed(server, calendar, "paris.ics", "unknown-zone.ics", "all-day.ics")
    integration = connect_caldav(owner, server, calendar)

    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert (job.created, job.failed) == (2, 1)
    assert "could not be read" in job.remediation
    [error] = job.item_errors
    assert error["external_id"].endswith("/unknown-zone.ics")
    assert "Mars/Olympus_Mons" in error["error"]
    assert "Meeting on Mars" in error["error"]
    assert set(live_items(integration).values_list("title", flat=True)) == {"Réunion à Paris — café ☕", "Long weekend"}
    assert integration.status == Status.CONNECTED  # the worker went on; the integration still works


def test_a_wrong_password_fails_the_job_as_auth_and_asks_to_reconnect(owner, server, calendar):
    integration = connect_caldav(owner, server, calendar, password="not-the-password")

    job = sync(integration)

    assert job.status == JobStatus.FAILED
    assert job.error_class == "auth"
    assert "refused the username or password" in job.error_message
    assert integration.status == Status.NEEDS_REAUTH
    assert "app-specific password" in integration.status_detail
    assert SyncedItem.objects.filter(integration=integration).count() == 0


def test_connection_test_returns_the_account_and_explains_bad_settings(owner, server, calendar):
    itype = IntegrationType.objects.get(slug="caldav")
    integration = connect_caldav(owner, server, calendar)

    def tested(**changes):
        integration.config = {**integration.config, **changes}
        ctx = build_context(integration, purpose="connection test")
        connector = registry.get(itype.handler)(ctx)
        try:
            return connector.test_connection()
        finally:
            connector.close()

    assert tested() == f"{server.username}@127.0.0.1"
    with pytest.raises(ConfigError) as missing_calendar:
        tested(calendars=["Holidays on Mars"])
    assert "No calendar named Holidays on Mars" in str(missing_calendar.value)
    assert calendar.get_display_name() in str(missing_calendar.value)
    assert missing_calendar.value.field == "calendars"
    with pytest.raises(ConfigError) as not_found:
        tested(server_url=f"{server.url}{server.username}/no-such-collection/")
    assert "No CalDAV service was found" in str(not_found.value)
    assert "server URL" in not_found.value.remediation
    with pytest.raises(ConfigError) as unknown_host:
        tested(server_url="https://caldav.no-such-host.invalid/")
    assert "could not be found" in str(unknown_host.value)
    integration.config = {**integration.config, "server_url": server.url}
    from integrations.secrets import store_secrets

    store_secrets(integration, {"password": "wrong"})
    with pytest.raises(AuthError):
        tested()


def test_a_calendar_url_on_a_private_address_is_refused_unless_allowlisted(owner, radicale, settings):
    settings.SSRF_ALLOWED_HOSTS = []
    integration = connect_caldav(owner, radicale)
    ctx = build_context(integration, purpose="connection test")
    with pytest.raises(BlockedDestination) as refused:
        registry.get("caldav")(ctx).test_connection()
    assert "127.0.0.1" in str(refused.value)
    assert "private or internal address" in str(refused.value)

    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "config"
    assert "private or internal address" in job.error_message
    assert integration.status == Status.ERROR
    assert "public address" in integration.status_detail


def test_a_full_sync_killed_midway_resumes_after_the_last_stored_batch(owner, server, calendar, settings):
    settings.SYNC_BATCH_SIZE = 2
    seed_simple(server, calendar, 5)
    integration = connect_caldav(owner, server, calendar)
    job = queue_sync(integration, enqueue=False)

    class WorkerKilled(BaseException):
        """Stands for SIGKILL: nothing after the stored batch runs."""

    def die_after_first_batch(progress):
        if progress.status == JobStatus.RUNNING and progress.progress_done >= 2:
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        run_job(job.pk, on_progress=die_after_first_batch)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.created == 2
    assert job.cursor_after["pending"]["after"].endswith("/ev-1.ics")  # the checkpoint
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - datetime.timedelta(hours=1))

    resumed = run_job(job.pk)  # another worker takes the stale job over

    assert resumed.status == JobStatus.SUCCEEDED
    assert resumed.attempts == 2
    assert (resumed.seen, resumed.created) == (5, 5)  # the remaining three were fetched, nothing twice
    assert live_items(integration).count() == 5
    integration.refresh_from_db()
    assert integration.sync_cursor["full"] is False
    assert sync(integration).seen == 0


def test_old_events_outside_the_window_are_left_out_but_long_series_kept(owner, server, calendar):
    long_ago = timezone.now().replace(microsecond=0) - datetime.timedelta(days=400)
    server.put(calendar, "old.ics", simple_event("old", "Long ago", long_ago))
    series = simple_event("series", "Every week since long ago", long_ago).replace(
        "SUMMARY:", "RRULE:FREQ=WEEKLY\r\nSUMMARY:"
    )
    server.put(calendar, "series.ics", series)
    seed_simple(server, calendar, 2)
    integration = connect_caldav(owner, server, calendar, window_past_days=30)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert set(live_items(integration).values_list("title", flat=True)) == {
        "Event 0",
        "Event 1",
        "Every week since long ago",
    }
    # An event we hold that moves far into the past is updated, not left behind at its old date.
    server.put(calendar, "ev-0.ics", simple_event("ev-0", "Event 0, moved back", long_ago))
    assert sync(integration).updated == 1
    moved = live_items(integration).get(title="Event 0, moved back")
    assert moved.occurred_at == long_ago


def test_syncing_all_calendars_picks_up_new_ones_and_tombstones_deleted_ones(owner, server):
    username, password = server.add_user(f"u{uuid.uuid4().hex[:8]}")
    client = server.client_for(username, password)
    keep = server.make_calendar("Keep", client=client)
    drop = server.make_calendar("Drop", client=client)
    seed_simple(server, keep, 2, prefix="k")
    seed_simple(server, drop, 3, prefix="d")
    integration = connect_caldav(owner, server, username=username, password=password)  # all calendars
    assert sync(integration).created == 5

    drop.delete()
    added = server.make_calendar("Added later", client=client)
    seed_simple(server, added, 1, prefix="a")
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.deleted) == (1, 3)
    assert set(live_items(integration).values_list("data__calendar", flat=True)) == {"Keep", "Added later"}
    assert SyncedItem.objects.filter(integration=integration, deleted_at__isnull=False).count() == 3


def test_send_pushes_tasks_with_a_due_date_and_resending_updates_instead_of_duplicating(owner, server, calendar):
    integration = connect_caldav(owner, server, calendar)
    connector = registry.get("caldav")(build_context(integration, purpose="delivery"))
    due = datetime.datetime(2031, 3, 14, 15, 0, tzinfo=UTC)
    card = OutgoingCard(title="Renew passport", markdown="Bring two photos.", due=due, key="workflow-7:item-42")
    no_due = OutgoingCard(title="Just a note", key="workflow-7:item-43")

    first = connector.send([card, no_due], {"calendar": calendar.get_display_name()})
    card.title = "Renew passport (booked)"
    second = connector.send([card], {"calendar": calendar.get_display_name()})
    connector.close()

    assert first.delivered == 1
    assert "Skipped 1 card(s) without a due date: 'Just a note'" in first.detail
    assert second.delivered == 1
    assert second.external_ids == first.external_ids
    todos = calendar.todos(include_completed=True)
    assert len(todos) == 1
    todo = todos[0].icalendar_component
    assert str(todo["SUMMARY"]) == "Renew passport (booked)"
    assert todo.decoded("DUE") == due
    assert str(todo["DESCRIPTION"]) == "Bring two photos."

    # The pushed task comes back in as a task on the next sync, under the id send() reported.
    sync(integration)
    item = SyncedItem.objects.get(integration=integration, external_id=first.external_ids[0])
    assert item.kind == "task"
    assert item.title == "Renew passport (booked)"


def test_send_can_add_events_instead_of_tasks(owner, server, calendar):
    integration = connect_caldav(owner, server, calendar)
    connector = registry.get("caldav")(build_context(integration, purpose="delivery"))
    cards = [
        OutgoingCard(title="Dentist", due=datetime.datetime(2031, 5, 2, 8, 0, tzinfo=UTC), key="a"),
        OutgoingCard(title="Mum's birthday", due=datetime.date(2031, 6, 9), key="b"),
    ]

    delivery = connector.send(
        cards, {"calendar": calendar.get_display_name(), "item_type": "event", "event_duration_minutes": 45}
    )
    connector.close()

    assert delivery.delivered == 2
    events = {str(e.icalendar_component["SUMMARY"]): e.icalendar_component for e in calendar.events()}
    dentist, birthday = events["Dentist"], events["Mum's birthday"]
    assert dentist.decoded("DTEND") - dentist.decoded("DTSTART") == datetime.timedelta(minutes=45)
    assert birthday.decoded("DTSTART") == datetime.date(2031, 6, 9)
    assert birthday.decoded("DTEND") == datetime.date(2031, 6, 10)


def test_an_event_over_the_download_limit_is_skipped_by_name_and_the_rest_imported(owner, server, settings):
    username, password = server.add_user(f"u{uuid.uuid4().hex[:8]}")
    calendar = server.make_calendar("Big", client=server.client_for(username, password))
    seed_simple(server, calendar, 4)
    huge = simple_event("huge", "Huge", timezone.now().replace(microsecond=0))
    server.put(calendar, "huge.ics", huge.replace("SUMMARY:", "DESCRIPTION:" + "x" * 20_000 + "\r\nSUMMARY:"))
    settings.OUTBOUND_MAX_BYTES = 8 * 1024
    integration = connect_caldav(owner, server, username=username, password=password)

    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert (job.created, job.failed) == (4, 1)
    [error] = job.item_errors
    assert error["external_id"].endswith("/huge.ics")
    assert "larger than the download limit" in error["error"]
