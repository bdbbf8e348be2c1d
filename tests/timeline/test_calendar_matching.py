"""The same event from two calendar services, as each connector really stores it (records made by
the connectors' own transform from what the service sends), taken into the timeline."""

import datetime
import zoneinfo

import icalendar
import pytest
import recurring_ical_events
from django.utils import timezone

from connectors.base import Context
from connectors.google.calendar import GoogleCalendarConnector
from connectors.ical_feed import RECURRENCE_MARKERS, ICalFeedConnector
from connectors.kinds import typed_record
from connectors.outlook_calendar import OutlookCalendarConnector
from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity

pytestmark = pytest.mark.usefixtures("catalogue")
UTC = datetime.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def integration_of(user, slug, name):
    return make_integration(user, IntegrationType.objects.get(slug=slug), name=name)


def store(integration, record):
    return SyncedItem.objects.create(
        user=integration.user,
        integration=integration,
        kind=record.kind,
        external_id=record.external_id,
        title=record.title,
        occurred_at=record.occurred_at,
        data=record.data,
        content_hash=record.external_id,
        source_type=integration.type.slug,
        source_name=integration.name,
        fetched_at=timezone.now(),
    )


def feed_records(ics_events: str, calendar_zone: str | None = None):
    """What the iCal feed connector stores for these VEVENTs (recurring ones expanded)."""
    connector = ICalFeedConnector(Context(config={}, secrets={}, http=None))
    connector.default_tz = zoneinfo.ZoneInfo(calendar_zone) if calendar_zone else None
    connector.calendar_name = "Feed"
    text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n" + ics_events + "END:VCALENDAR\r\n"
    calendar = icalendar.Calendar.from_ical(text)
    window = (datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2027, 1, 1, tzinfo=UTC))
    # As the connector reads them: a series is expanded, a plain event is read as it is.
    recurring = bool(RECURRENCE_MARKERS.search(ics_events))
    found = recurring_ical_events.of(calendar).between(*window) if recurring else calendar.walk("VEVENT")
    records = []
    for event in found:
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        external_id = f"{event['UID']}::{start.isoformat()}" if recurring else str(event["UID"])
        raw = {"external_id": external_id, "event": event, "start": start, "end": end, "recurring": recurring}
        records.append(connector.transform(raw))
    return records


def google_record(event: dict):
    """What the Google Calendar connector stores for this events.list item."""
    connector = GoogleCalendarConnector.__new__(GoogleCalendarConnector)
    return connector.transform({"calendar": "primary", "event": {"status": "confirmed", **event}})


def outlook_record(event: dict, series_uid: str | None = None):
    """What the Outlook Calendar connector stores for this calendarView delta item (times in UTC,
    as the connector asks them); `series_uid`: its series master's iCalUId, as the sync reads it."""
    connector = OutlookCalendarConnector.__new__(OutlookCalendarConnector)
    raw = {"calendar": "default", "event": {"isCancelled": False, **event}}
    if series_uid is not None:
        raw["series_uid"] = series_uid
    return connector.transform(raw)


# An Exchange UID, as Outlook mints it and as a Google invitee's copy keeps it (iCalUID).
EXCHANGE_UID = "040000008200E00074C5B7101A82E00800000000FB7128DC464BD4010000000000000000100000006176917542798940"


# An Outlook exception: an occurrence of a weekly standup moved from 09:00 to 14:00 UTC, with its
# own iCalUId (Graph: different for each occurrence) and its series master's id.
MOVED_STANDUP = {
    "id": "AAMkAGI2TG93AAB=",
    "iCalUId": "040000008200E00074C5B7101A82E00807EA0309FB7128DC464BD40100000000",
    "type": "exception",
    "seriesMasterId": "AAMkAGI2TG93AAA=",
    "subject": "Standup (afternoon)",
    "start": {"dateTime": "2026-03-09T14:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-09T14:15:00.0000000", "timeZone": "UTC"},
    "originalStart": "2026-03-09T09:00:00Z",
    "originalStartTimeZone": "W. Europe Standard Time",
}


def take(*items):
    return ingest(items[0].user_id, [i.pk for i in items])


def events(user):
    return Entity.objects.filter(user=user, kind="event", deleted_at__isnull=True)


def test_a_floating_time_in_a_feed_is_read_in_the_calendars_zone_and_joins_the_google_copy(owner):
    feed, google = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "google-calendar", "Google")
    (in_feed,) = feed_records(
        "BEGIN:VEVENT\r\nUID:dinner@example.com\r\nDTSTART:20260314T190000\r\nDTEND:20260314T210000\r\n"
        "SUMMARY:Dinner\r\nEND:VEVENT\r\n",
        calendar_zone="Europe/Paris",  # X-WR-TIMEZONE: the floating 19:00 is 19:00 in Paris
    )
    in_google = google_record(
        {
            "id": "abc",
            "iCalUID": "dinner@example.com",
            "summary": "Dinner",
            "start": {"dateTime": "2026-03-14T19:00:00+01:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-03-14T21:00:00+01:00", "timeZone": "Europe/Paris"},
        }
    )
    take(store(feed, in_feed))
    dinner = events(owner).get()
    assert dinner.start_at == datetime.datetime(2026, 3, 14, 19, 0, tzinfo=PARIS) == in_feed.occurred_at
    assert dinner.end_at == datetime.datetime(2026, 3, 14, 21, 0, tzinfo=PARIS)
    take(store(google, in_google))
    dinner = events(owner).get()
    assert dinner.sources.count() == 2
    assert dinner.start_at == datetime.datetime(2026, 3, 14, 18, 0, tzinfo=UTC)


def test_a_floating_weekly_series_in_a_feed_joins_googles_instances_across_the_dst_change(owner):
    feed, google = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "google-calendar", "Google")
    occurrences = feed_records(
        "BEGIN:VEVENT\r\nUID:yoga@example.com\r\nDTSTART:20260322T090000\r\nDTEND:20260322T100000\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=2\r\nSUMMARY:Yoga\r\nEND:VEVENT\r\n",
        calendar_zone="Europe/Paris",
    )
    take(*[store(feed, r) for r in occurrences])
    # Paris moves to summer time on 29 March: the second class starts an hour earlier in UTC.
    instances = [
        google_record(
            {
                "id": f"yoga_{day}",
                "iCalUID": "yoga@example.com",
                "recurringEventId": "yoga",
                "summary": "Yoga",
                "start": {"dateTime": f"2026-03-{day}T09:00:00{offset}", "timeZone": "Europe/Paris"},
                "end": {"dateTime": f"2026-03-{day}T10:00:00{offset}", "timeZone": "Europe/Paris"},
                "originalStartTime": {"dateTime": f"2026-03-{day}T09:00:00{offset}", "timeZone": "Europe/Paris"},
            }
        )
        for day, offset in (("22", "+01:00"), ("29", "+02:00"))
    ]
    take(*[store(google, r) for r in instances])
    classes = events(owner).order_by("start_at")
    assert [e.sources.count() for e in classes] == [2, 2]
    assert [e.start_at.astimezone(UTC).hour for e in classes] == [8, 7]


def test_an_instance_moved_in_google_joins_the_same_moved_instance_from_the_feed(owner):
    feed, google = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "google-calendar", "Google")
    occurrences = feed_records(
        "BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTART;TZID=Europe/Paris:20260302T100000\r\n"
        "DTEND;TZID=Europe/Paris:20260302T101500\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:standup@example.com\r\nRECURRENCE-ID;TZID=Europe/Paris:20260309T100000\r\n"
        "DTSTART;TZID=Europe/Paris:20260309T150000\r\nDTEND;TZID=Europe/Paris:20260309T151500\r\n"
        "SUMMARY:Standup (afternoon)\r\nEND:VEVENT\r\n"
    )
    assert [r.data.get("recurrence_id") for r in occurrences][1] == "2026-03-09T10:00:00+01:00"
    take(*[store(feed, r) for r in occurrences])
    # Google names a moved instance by its original start (originalStartTime), like RECURRENCE-ID.
    moved = google_record(
        {
            "id": "standup_20260309T090000Z",
            "iCalUID": "standup@example.com",
            "recurringEventId": "standup",
            "summary": "Standup (afternoon)",
            "start": {"dateTime": "2026-03-09T15:00:00+01:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-03-09T15:15:00+01:00", "timeZone": "Europe/Paris"},
            "originalStartTime": {"dateTime": "2026-03-09T10:00:00+01:00", "timeZone": "Europe/Paris"},
        }
    )
    take(store(google, moved))
    standups = events(owner).order_by("start_at")
    assert standups.count() == 2
    afternoon = standups.last()
    assert afternoon.sources.count() == 2
    assert afternoon.start_at == datetime.datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_a_single_outlook_event_joins_the_google_copy_of_the_invitation_by_its_ical_uid(owner):
    outlook, google = (
        integration_of(owner, "outlook-calendar", "Outlook"),
        integration_of(owner, "google-calendar", "Google"),
    )
    in_outlook = outlook_record(
        {
            "id": "AAMkAGI2TG93AAA=",
            "iCalUId": EXCHANGE_UID,
            "type": "singleInstance",
            "subject": "Review",
            "start": {"dateTime": "2026-04-02T08:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-04-02T09:00:00.0000000", "timeZone": "UTC"},
            "originalStartTimeZone": "Europe/Paris",
        }
    )
    in_google = google_record(
        {
            "id": "abc",
            "iCalUID": EXCHANGE_UID,
            "summary": "Review",
            "start": {"dateTime": "2026-04-02T10:00:00+02:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-04-02T11:00:00+02:00", "timeZone": "Europe/Paris"},
        }
    )
    take(store(outlook, in_outlook))
    take(store(google, in_google))
    review = events(owner).get()
    assert review.sources.count() == 2
    assert review.start_at == datetime.datetime(2026, 4, 2, 8, 0, tzinfo=UTC)


def test_an_outlook_occurrence_is_named_by_its_original_start_and_not_by_its_own_ical_uid():
    # Graph: iCalUId differs for each occurrence of a series (the series' UID is its master's, which
    # the calendar view does not list), and originalStart is the instance's start before it moved.
    moved = outlook_record(MOVED_STANDUP)
    fields = typed_record(OutlookCalendarConnector, moved).fields
    assert "uid" not in fields
    assert "timezone" not in fields  # a Windows zone name, which this server cannot place
    assert fields["recurrence_id"] == "2026-03-09T09:00:00Z"


def test_an_outlook_occurrence_joins_the_google_instance_by_its_series_uid_and_original_start(owner):
    outlook, google = (
        integration_of(owner, "outlook-calendar", "Outlook"),
        integration_of(owner, "google-calendar", "Google"),
    )
    moved = MOVED_STANDUP
    in_outlook = outlook_record(moved, series_uid=EXCHANGE_UID)
    assert typed_record(OutlookCalendarConnector, in_outlook).fields["uid"] == EXCHANGE_UID
    in_google = google_record(
        {
            "id": "standup_20260309T090000Z",
            "iCalUID": EXCHANGE_UID,
            "recurringEventId": "standup",
            "summary": "Standup (afternoon)",
            "start": {"dateTime": "2026-03-09T15:00:00+01:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-03-09T15:15:00+01:00", "timeZone": "Europe/Paris"},
            "originalStartTime": {"dateTime": "2026-03-09T10:00:00+01:00", "timeZone": "Europe/Paris"},
        }
    )
    take(store(outlook, in_outlook))
    take(store(google, in_google))
    afternoon = events(owner).get()
    assert afternoon.sources.count() == 2

    # Another occurrence of the same series (another original start) stays its own entity.
    other = outlook_record(
        {**moved, "id": "AAMkAGI2TG93AAC=", "type": "occurrence", "originalStart": "2026-03-16T09:00:00Z",
         "start": {"dateTime": "2026-03-16T09:00:00.0000000", "timeZone": "UTC"},
         "end": {"dateTime": "2026-03-16T09:15:00.0000000", "timeZone": "UTC"}},
        series_uid=EXCHANGE_UID,
    )  # fmt: skip
    take(store(outlook, other))
    assert events(owner).count() == 2


def test_an_event_merged_from_two_calendars_is_found_by_the_title_and_place_either_gave_it(owner):
    """An invitee renames their copy (Outlook and Apple Calendar let them): the entity keeps one
    title, and the other one still finds it, as does the other copy's location."""
    from timeline import search

    google, feed = integration_of(owner, "google-calendar", "Google"), integration_of(owner, "ical-feed", "Feed")
    take(
        store(google, google_record({
            "id": "g1", "iCalUID": "kickoff@example.com", "summary": "Project kickoff",
            "start": {"dateTime": "2026-04-14T09:00:00+02:00"}, "end": {"dateTime": "2026-04-14T10:00:00+02:00"},
        })),
        *[store(feed, r) for r in feed_records(
            "BEGIN:VEVENT\r\nUID:kickoff@example.com\r\nDTSTART:20260414T070000Z\r\nDTEND:20260414T080000Z\r\n"
            "SUMMARY:Zahnrad launch meeting\r\nLOCATION:Room Matterhorn\r\nEND:VEVENT\r\n"
        )],
    )  # fmt: skip
    entity = events(owner).get()
    assert entity.sources.count() == 2
    for words in ("kickoff", "zahnrad launch", "matterhorn"):
        assert list(search.matching(events(owner), words)) == [entity], words


# A weekly all-day series ("Gym day") as Graph lists it (Prefer: outlook.timezone="UTC"): every
# all-day start and end is midnight UTC of its date, but originalStart is the occurrence's midnight
# in the organizer's zone, converted to UTC: 07:00Z for Los Angeles (UTC-7 in June), 22:00Z the day
# before for Berlin (UTC+2). https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/7803
def all_day_instance(event_id, day, original_start, kind="occurrence", series="AAMkAllDaySeries="):
    following = (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    return {
        "id": event_id,
        "type": kind,
        "seriesMasterId": series,
        "isAllDay": True,
        "subject": "Gym day",
        "start": {"dateTime": f"{day}T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": f"{following}T00:00:00.0000000", "timeZone": "UTC"},
        "originalStart": original_start,
        "originalStartTimeZone": "UTC",  # Graph gives the asked zone for all-day events, not the organizer's
    }


def google_all_day_instance(day, original_day=None):
    following = (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    return google_record(
        {
            "id": f"gym_{(original_day or day).replace('-', '')}",
            "iCalUID": EXCHANGE_UID,
            "recurringEventId": "gym",
            "summary": "Gym day",
            "start": {"date": day},
            "end": {"date": following},
            "originalStartTime": {"date": original_day or day},
        }
    )


@pytest.mark.parametrize(
    ("occurrence", "exception"),
    [
        # Los Angeles (UTC-7): the occurrence of 5 June, and the one of 12 June moved to the 13th.
        (("2026-06-05", "2026-06-05T07:00:00Z"), ("2026-06-13", "2026-06-12T07:00:00Z")),
        # Berlin (UTC+2): originalStart falls on the day before in UTC.
        (("2026-06-05", "2026-06-04T22:00:00Z"), ("2026-06-13", "2026-06-11T22:00:00Z")),
        # Auckland (UTC+12) and Honolulu (UTC-10), the far ends of the inhabited zones but one.
        (("2026-06-05", "2026-06-04T12:00:00Z"), ("2026-06-13", "2026-06-12T10:00:00Z")),
    ],
)
def test_all_day_outlook_occurrences_join_the_google_instances_of_the_same_dates(owner, occurrence, exception):
    outlook, google = (
        integration_of(owner, "outlook-calendar", "Outlook"),
        integration_of(owner, "google-calendar", "Google"),
    )
    (day, original), (moved_to, moved_original) = occurrence, exception
    in_outlook = [
        outlook_record(all_day_instance("AAMkGym1=", day, original), series_uid=EXCHANGE_UID),
        outlook_record(all_day_instance("AAMkGym2=", moved_to, moved_original, "exception"), series_uid=EXCHANGE_UID),
    ]
    fields = typed_record(OutlookCalendarConnector, in_outlook[0]).fields
    assert fields["recurrence_id"] == day  # the occurrence's date, as Google and iCalendar name it
    assert typed_record(OutlookCalendarConnector, in_outlook[1]).fields["recurrence_id"] == "2026-06-12"
    take(*[store(outlook, record) for record in in_outlook])
    take(store(google, google_all_day_instance(day)), store(google, google_all_day_instance(moved_to, "2026-06-12")))
    found = events(owner)
    assert found.count() == 2, "each all-day occurrence is one thing on the timeline, held by both calendars"
    assert all(entity.sources.count() == 2 for entity in found)
