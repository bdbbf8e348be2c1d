"""Google Calendar end to end: connected through the real OAuth flow (local authorization server),
synced against the Calendar API contract fake (tests/fakes/google_calendar.py)."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from connectors.base import OutgoingCard
from connectors.errors import AuthError
from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, Status, SyncedItem
from integrations.sync.context import build_context
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import live_items, sync
from tests.fakes.oauth_api import google_error
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
ALICE = "alice@example.com"
SLUG = "google-calendar"


def _day(offset: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def _at(offset_days: int, hour: int) -> str:
    day = datetime.date.today() + datetime.timedelta(days=offset_days)
    return f"{day.isoformat()}T{hour:02d}:00:00+01:00"


@pytest.fixture
def calendar(google_calendar_api):
    api = google_calendar_api
    api.put_event(ALICE, {"id": "meet1", "summary": "Planning", "description": "Quarterly plan",
                          "location": "Room 4", "start": {"dateTime": _at(2, 9), "timeZone": "Europe/Paris"},
                          "end": {"dateTime": _at(2, 10), "timeZone": "Europe/Paris"},
                          "attendees": [{"email": "bob@example.com", "responseStatus": "accepted"}],
                          "conferenceData": {"entryPoints": [{"uri": "https://meet.example/abc"}]}})  # fmt: skip
    api.put_event(ALICE, {"id": "holiday1", "summary": "Holiday", "start": {"date": _day(5)}, "end": {"date": _day(6)}})
    for week in range(3):
        start, end = _at(7 * week + 1, 8), _at(7 * week + 1, 9)
        api.put_event(ALICE, {"id": f"standup_{week}", "summary": "Standup", "recurringEventId": "standup",
                              "start": {"dateTime": start}, "end": {"dateTime": end}})  # fmt: skip
    api.put_event(
        ALICE, {"id": "ancient", "summary": "Long ago", "start": {"date": "2001-01-01"}, "end": {"date": "2001-01-02"}}
    )
    return api


@pytest.fixture
def integration(owner_client, oauth_server, calendar):
    return connect_with_oauth(owner_client, oauth_server, SLUG, calendar)


def test_the_type_is_available_and_registered():
    itype = IntegrationType.objects.get(slug=SLUG)
    assert itype.is_available
    assert registry.get(itype.handler).__name__ == "GoogleCalendarConnector"


def test_full_sync_reads_the_window_page_by_page(integration, calendar):
    calendar.max_page = 2
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    items = {i.external_id: i for i in live_items(integration)}
    assert set(items) == {f"primary:{e}" for e in ["meet1", "holiday1", "standup_0", "standup_1", "standup_2"]}
    meeting = items["primary:meet1"]
    assert meeting.title == "Planning"
    assert meeting.summary == "Quarterly plan"
    assert meeting.occurred_at.hour == 8  # 09:00 +01:00 in UTC
    assert meeting.data["attendees"] == ["bob@example.com"]
    assert meeting.data["location"] == "Room 4"
    assert meeting.data["extra"]["conferenceData"]["entryPoints"][0]["uri"] == "https://meet.example/abc"
    assert job.unmapped_fields == []  # conferenceData is a known field
    assert items["primary:holiday1"].data["all_day"] is True
    assert items["primary:standup_1"].data["recurring_event_id"] == "standup"
    lists = calendar.requests_to(r"/events$")
    assert len(lists) == 3  # five events, two per page
    assert "timeMin" in lists[0].args
    assert "syncToken" not in lists[0].args
    assert integration.sync_cursor["sync_tokens"]["primary"]
    assert integration.account_identity == ALICE


def test_incremental_sync_sends_only_the_sync_token_and_applies_changes(integration, calendar):
    sync(integration)
    calendar.put_event(ALICE, {**calendar.live_events(ALICE)["meet1"], "summary": "Planning (moved)"})
    calendar.cancel_event(ALICE, "holiday1")
    calendar.put_event(
        ALICE, {"id": "new1", "summary": "Lunch", "start": {"dateTime": _at(3, 12)}, "end": {"dateTime": _at(3, 13)}}
    )

    job = sync(integration)

    assert job.kind == "incremental"
    assert (job.created, job.updated, job.deleted) == (1, 1, 1)
    last = calendar.requests_to(r"/events$")[-1]
    assert last.args.get("syncToken")
    assert "timeMin" not in last.args
    assert live_items(integration).get(external_id="primary:meet1").title == "Planning (moved)"
    assert SyncedItem.objects.get(integration=integration, external_id="primary:holiday1").deleted_at is not None
    assert sync(integration).seen == 0  # nothing changed: nothing written


def test_an_expired_sync_token_410_triggers_a_full_resync_with_tombstones(integration, calendar):
    sync(integration)
    calendar.expire_sync_tokens(ALICE)
    # Gone while the token was dead: a full listing no longer shows it.
    del calendar.calendar(ALICE).events["standup_2"]

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    statuses = calendar.requests_to(r"/events$")[-2:]
    assert statuses[0].args.get("syncToken")
    assert statuses[1].args.get("timeMin")
    assert job.deleted == 1
    assert not live_items(integration).filter(external_id="primary:standup_2").exists()
    assert live_items(integration).count() == 4


def test_a_wider_or_slid_window_is_listed_again_without_tombstoning(integration, calendar):
    calendar.put_event(ALICE, {"id": "far", "summary": "Far ahead", "start": {"date": _day(400)}})
    sync(integration)
    assert not live_items(integration).filter(external_id="primary:far").exists()

    integration.config = {**integration.config, "window_future_days": 500}
    integration.save()
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).filter(external_id="primary:far").exists()
    assert job.deleted == 0
    last_two = calendar.requests_to(r"/events$")[-2:]
    assert last_two[0].args.get("syncToken")  # changes first, so no removal is missed
    assert last_two[1].args.get("timeMin")

    cursor = {**integration.sync_cursor, "window_at": "2000-01-01T00:00:00+00:00"}  # a week later
    integration.sync_cursor = cursor
    integration.save()
    sync(integration)
    assert calendar.requests_to(r"/events$")[-1].args.get("timeMin")
    assert sync(integration).seen == 0  # and then back to incremental only


def test_a_full_relisting_after_410_that_fails_midway_still_removes_what_was_deleted(integration, calendar):
    """The sync token expired (410) and Google's full listing failed on its second page (a 500): the
    job resumes from its checkpoint, and the listing it completes still removes what was deleted
    while the token was dead. (Resumed without knowing the first page, it tombstoned nothing, and the
    deleted event stayed on the timeline until the next 410.)"""
    sync(integration)
    calendar.expire_sync_tokens(ALICE)
    del calendar.calendar(ALICE).events["standup_2"]
    calendar.max_page = 2
    calendar.fail(
        r"/events$", 500, {"error": {"code": 500, "message": "Backend Error"}}, when=lambda q: "pageToken" in q
    )

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert any(s.args.get("pageToken") for s in calendar.requests_to(r"/events$"))  # it did resume mid-listing
    assert not live_items(integration).filter(external_id="primary:standup_2").exists()
    assert live_items(integration).count() == 4
    assert sync(integration).seen == 0  # and back to incremental


def test_rate_limiting_waits_for_retry_after_and_goes_on(integration, calendar):
    calendar.fail(r"/events$", *calendar.rate_limited(retry_after=1))
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED
    assert live_items(integration).count() == 5
    assert len(calendar.requests_to(r"/events$")) == 2


@pytest.mark.parametrize("status", [429, 403])
def test_a_retry_after_given_as_a_date_holds_the_sync_until_then(integration, calendar, settings, status):
    """Retry-After may name the moment (an HTTP-date, e.g. when a daily quota resets) instead of a
    number of seconds: the sync waits until then instead of retrying on a short backoff."""
    settings.SYNC_MAX_WAIT = 2  # a longer wait holds the job instead of a worker
    until = timezone.now() + datetime.timedelta(minutes=10)
    _, body, headers = calendar.rate_limited(retry_after=until)
    if status == 403:  # Google's other way to say it: 403 rateLimitExceeded
        body = {"error": {**body["error"], "code": 403}}
    calendar.fail(r"/events$", status, body, headers, times=10)
    job = queue_sync(integration, enqueue=False)
    waits = []

    held = run_job(job.pk, sleep=waits.append)

    assert held.status == JobStatus.QUEUED, held.error_message
    assert waits == []
    assert len(calendar.requests_to(r"/events$")) == 1  # asked once, not again before the time named
    assert abs((held.not_before - until).total_seconds()) < 5
    assert f"{until:%H:%M}" in held.error_message


def test_the_projects_daily_quota_used_up_waits_for_googles_new_day_instead_of_asking_to_reauthenticate(
    integration, calendar, settings
):
    """403 dailyLimitExceeded (Calendar's error guide: the project's daily quota is reached) is no
    missing permission: nothing the person can fix by signing in again. The sync waits for the quota
    day to turn (midnight Pacific time) and the connection stays connected."""
    settings.SYNC_MAX_WAIT = 0  # any wait holds the job instead of a worker
    body = google_error(403, "Daily Limit Exceeded", "dailyLimitExceeded", "PERMISSION_DENIED")
    body["error"]["errors"][0]["domain"] = "usageLimits"
    calendar.fail(r"/events$", 403, body, times=10)
    job = queue_sync(integration, enqueue=False)
    pacific = zoneinfo.ZoneInfo("America/Los_Angeles")
    midnights = {
        datetime.datetime.combine(timezone.now().astimezone(pacific).date() + datetime.timedelta(days=1),
                                  datetime.time(), pacific)
    }  # fmt: skip

    held = run_job(job.pk, sleep=lambda seconds: None)

    midnights.add(
        datetime.datetime.combine(timezone.now().astimezone(pacific).date() + datetime.timedelta(days=1),
                                  datetime.time(), pacific)
    )  # fmt: skip
    integration.refresh_from_db()
    assert integration.status != Status.NEEDS_REAUTH, integration.status_detail
    assert held.status == JobStatus.QUEUED, held.error_message
    assert min(abs((held.not_before - m).total_seconds()) for m in midnights) < 5
    assert "daily quota" in held.error_message


def test_an_access_token_expired_at_the_provider_is_refreshed_mid_sync(integration, calendar, oauth_server):
    from integrations.models import Credential

    old = Credential.objects.get(integration=integration).access_token
    oauth_server.expire_access_token(old)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert Credential.objects.get(integration=integration).access_token != old
    assert calendar.requests_to(r"/events$")[0].headers["Authorization"] == f"Bearer {old}"


def test_a_missing_calendar_is_a_settings_error_naming_the_field(integration, calendar):
    integration.config = {**integration.config, "calendars": ["primary", "nope@group.calendar.google.com"]}
    integration.save()
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "nope@group.calendar.google.com" in job.error_message
    assert integration.status == Status.ERROR


# -- output: tasks with due dates become events -----------------------------------------------


def _connector(integration):
    ctx = build_context(integration, purpose="test send")
    return integration.type.connector_class()(ctx)


def test_tasks_with_due_dates_are_pushed_out_as_events_once(integration, calendar):
    connector = _connector(integration)
    due_time = datetime.datetime(2026, 3, 2, 15, 30, tzinfo=datetime.UTC)
    cards = [
        OutgoingCard(title="Renew passport", markdown="Bring photos", due=datetime.date(2026, 3, 1), key="task-1"),
        OutgoingCard(title="Call the bank", due=due_time, key="task-2", url="https://hub.example/t/2"),
        OutgoingCard(title="No due date", key="task-3"),
    ]
    delivery = connector.send(cards, {"calendar_id": "primary", "event_duration_minutes": 45})

    assert delivery.delivered == 2
    assert "1 card(s) without a due date skipped" in delivery.detail
    events = {e["summary"]: e for e in calendar.live_events(ALICE).values()}
    assert events["Renew passport"]["start"] == {"date": "2026-03-01"}
    assert events["Renew passport"]["end"] == {"date": "2026-03-02"}
    call = events["Call the bank"]
    assert datetime.datetime.fromisoformat(call["start"]["dateTime"]) == due_time
    assert datetime.datetime.fromisoformat(call["end"]["dateTime"]) == due_time + datetime.timedelta(minutes=45)
    assert call["source"]["url"] == "https://hub.example/t/2"

    again = connector.send(
        [OutgoingCard(title="Renew passport (today!)", due=datetime.date(2026, 3, 1), key="task-1")], {}
    )
    assert "0 event(s) created, 1 updated" in again.detail
    titles = [e["summary"] for e in calendar.live_events(ALICE).values()]
    assert titles.count("Renew passport (today!)") == 1
    assert "Renew passport" not in titles


def test_a_due_time_without_a_zone_is_pushed_in_the_persons_zone_not_the_hubs(integration, calendar):
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=integration.user, defaults={"time_zone": "America/New_York"})
    connector = _connector(integration)
    connector.send([OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30), key="t-ny")], {})

    event = next(e for e in calendar.live_events(ALICE).values() if e["summary"] == "Dentist")
    assert event["start"]["timeZone"] == "America/New_York"
    start = datetime.datetime.fromisoformat(event["start"]["dateTime"])
    assert start == datetime.datetime(2026, 7, 2, 19, 30, tzinfo=datetime.UTC)  # 15:30 EDT


def test_pushing_events_without_the_events_permission_asks_to_reauthenticate(owner_client, oauth_server, calendar):
    integration = connect_with_oauth(
        owner_client, oauth_server, SLUG, calendar, scope="https://www.googleapis.com/auth/calendar.readonly"
    )
    assert sync(integration).status == JobStatus.SUCCEEDED  # reading still works
    with pytest.raises(AuthError, match="lacks a permission") as info:
        _connector(integration).send([OutgoingCard(title="x", due=datetime.date(2026, 1, 1), key="k")], {})
    assert "allow every permission" in info.value.remediation


def test_a_full_listing_of_a_narrower_window_tombstones_nothing_outside_it(integration, calendar):
    calendar.put_event(ALICE, {"id": "past", "summary": "Three weeks ago", "start": {"dateTime": _at(-20, 9)},
                               "end": {"dateTime": _at(-20, 10)}})  # fmt: skip
    sync(integration)
    assert live_items(integration).filter(external_id="primary:past").exists()

    # Ten days of the past now: the event is outside every listing from here on, yet not deleted.
    integration.config = {**integration.config, "window_past_days": 10}
    integration.save()
    del calendar.calendar(ALICE).events["standup_2"]  # really gone, inside the window
    job = sync(integration, kind="full")

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert "timeMin" in calendar.requests_to(r"/events$")[-1].args
    assert job.deleted == 1
    assert live_items(integration).filter(external_id="primary:past").exists()
    assert not live_items(integration).filter(external_id="primary:standup_2").exists()


def test_a_last_page_without_its_sync_token_tombstones_nothing(integration, calendar):
    sync(integration)
    del calendar.calendar(ALICE).events["standup_2"]
    calendar.drop_sync_token = True  # the listing ends, but nothing says it is complete

    job = sync(integration, kind="full")

    assert job.deleted == 0
    assert live_items(integration).count() == 5
    assert job.status == JobStatus.PARTIAL
    assert "may be incomplete: nothing was deleted" in job.remediation


def test_a_page_token_given_twice_stops_the_listing_instead_of_looping_forever(integration, calendar):
    """A listing whose next page names the page token it just gave would be read again and again:
    the sync stops with a message naming Google Calendar, deletes nothing, and the job ends."""
    sync(integration)
    page = {"kind": "calendar#events", "items": [], "nextPageToken": "page-2"}
    calendar.fail(r"/events$", 200, page, times=200)

    job = sync(integration, kind="full")

    assert len(calendar.requests_to(r"/events$")) < 10
    assert job.status != JobStatus.SUCCEEDED
    assert "Google Calendar" in job.error_message
    assert "same next-page token twice" in job.error_message
    assert job.deleted == 0
    assert live_items(integration).count() == 5
