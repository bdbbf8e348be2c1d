"""How the iCal feed reads the instances of a series as real producers write them, against a real
local HTTP server: moved instances named by the wrong value type, and ends before starts."""

import datetime

import pytest

from integrations.models import JobStatus
from tests.connectors.helpers import connect, live_items, sync

pytestmark = pytest.mark.usefixtures("catalogue")
WIDE = {"window_past_days": 400, "window_future_days": 400}
UTC = datetime.UTC


def _calendar(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


def _event(uid: str, title: str, lines: str) -> str:
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{title}\r\n{lines}END:VEVENT\r\n"


def _year() -> int:
    return datetime.date.today().year


def _sync(owner, feed_server, text: str):
    feed_server.serve("/cal.ics", text)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    return integration, sync(integration)


def _series(integration, uid: str):
    return sorted(
        ((i.occurred_at, i.title) for i in live_items(integration) if i.data["uid"] == uid), key=lambda p: p[0]
    )


@pytest.mark.parametrize(
    ("start", "moved", "recurrence_id"),
    [
        # A UTC series whose moved instance names its date only (RFC 5545 wants a date-time here).
        ("DTSTART:{y}0105T100000Z", "DTSTART:{y}0106T150000Z", "RECURRENCE-ID;VALUE=DATE:{y}0106"),
        # A zoned series: 10:00 in Berlin is 09:00 UTC in January.
        (
            "DTSTART;TZID=Europe/Berlin:{y}0105T100000",
            "DTSTART;TZID=Europe/Berlin:{y}0106T160000",
            "RECURRENCE-ID;VALUE=DATE:{y}0106",
        ),
        # A zone named as Exchange names it, with no VTIMEZONE: resolved by the hub, not icalendar.
        (
            'DTSTART;TZID="W. Europe Standard Time":{y}0105T100000',
            'DTSTART;TZID="W. Europe Standard Time":{y}0106T160000',
            "RECURRENCE-ID;VALUE=DATE:{y}0106",
        ),
        # An all-day series whose moved instance names a date-time.
        ("DTSTART;VALUE=DATE:{y}0105", "DTSTART;VALUE=DATE:{y}0109", "RECURRENCE-ID:{y}0106T000000Z"),
    ],
)
def test_a_moved_instance_named_by_its_date_only_replaces_that_instance(
    owner, feed_server, start, moved, recurrence_id
):
    """RECURRENCE-ID;VALUE=DATE on a series of date-times (or a date-time on an all-day series)
    matched no instance: the moved instance showed as well as the original, twice in all."""
    y = _year()
    master = _event("s@x", "Standup", f"{start.format(y=y)}\r\nRRULE:FREQ=DAILY;COUNT=3\r\n")
    change = _event("s@x", "Standup (moved)", f"{recurrence_id.format(y=y)}\r\n{moved.format(y=y)}\r\n")
    integration, job = _sync(owner, feed_server, _calendar(master, change))

    assert job.status == JobStatus.SUCCEEDED, (job.error_message, job.remediation, job.item_errors)
    titles = [title for _when, title in _series(integration, "s@x")]
    assert sorted(titles) == ["Standup", "Standup", "Standup (moved)"]


@pytest.mark.parametrize(
    ("start", "end", "expected_start", "expected_end"),
    [
        ("DTSTART:{y}0201T100000Z", "DTEND:{y}0201T090000Z", "{y}-02-01T10:00:00+00:00", "{y}-02-01T10:00:00+00:00"),
        ("DTSTART:{y}0201T100000Z", "DURATION:-PT1H", "{y}-02-01T10:00:00+00:00", "{y}-02-01T10:00:00+00:00"),
        ("DTSTART;VALUE=DATE:{y}0203", "DTEND;VALUE=DATE:{y}0201", "{y}-02-03", "{y}-02-04"),
    ],
)
def test_an_end_before_the_start_is_read_the_same_in_single_and_recurring_events(
    owner, feed_server, start, end, expected_start, expected_end
):
    """An event whose end comes before its start: a single one was stored ending before it starts,
    while the expansion library moved a recurring one's start to its end. Both now start at
    DTSTART (the anchor every reader and the repeat rule go by) and last no time (an all-day one,
    its day), and the job says so."""
    y = _year()
    times = f"{start.format(y=y)}\r\n{end.format(y=y)}\r\n"
    single = _event("one@x", "Once", times)
    series = _event("many@x", "Often", times + "RRULE:FREQ=WEEKLY;COUNT=2\r\n")
    integration, job = _sync(owner, feed_server, _calendar(single, series))

    assert job.status == JobStatus.PARTIAL, (job.error_message, job.item_errors)
    assert job.failed == 0
    items = sorted(live_items(integration), key=lambda i: i.occurred_at)
    once = next(i for i in items if i.data["uid"] == "one@x")
    often = [i for i in items if i.data["uid"] == "many@x"]
    assert len(often) == 2
    assert (once.data["start"], once.data["end"]) == (expected_start.format(y=y), expected_end.format(y=y))
    assert (often[0].data["start"], often[0].data["end"]) == (once.data["start"], once.data["end"])
    assert often[0].occurred_at == once.occurred_at
    assert all(i.data["start"] <= i.data["end"] for i in items)
    assert "Event 'Once' (UID one@x) ends before it starts" in job.remediation
    assert "Event 'Often' (UID many@x) ends before it starts" in job.remediation


@pytest.mark.parametrize(
    ("start", "end", "all_day", "expected_end"),
    [
        ("DTSTART;VALUE=DATE:{y}0301", "DTEND:{y}0303T000000Z", True, "{y}-03-03"),
        ("DTSTART;VALUE=DATE:{y}0301", "DTEND:{y}0302T120000Z", True, "{y}-03-03"),
        ("DTSTART:{y}0301T100000Z", "DTEND;VALUE=DATE:{y}0302", False, "{y}-03-02T00:00:00+00:00"),
    ],
)
def test_an_end_of_another_kind_than_the_start_is_read_the_same_in_single_and_recurring_events(
    owner, feed_server, start, end, all_day, expected_end
):
    """RFC 5545 wants DTEND of DTSTART's kind (both dates, or both date-times); producers mix them.
    A single all-day event with a date-time end stayed all-day, while the expansion library turned
    the same event, repeating, into one timed at midnight UTC (the evening before, west of UTC).
    The end is now read as the start's kind in both: the day it reaches, or that day's start."""
    y = _year()
    times = f"{start.format(y=y)}\r\n{end.format(y=y)}\r\n"
    single = _event("one@x", "Once", times)
    series = _event("many@x", "Often", times + "RRULE:FREQ=YEARLY;COUNT=2\r\n")
    integration, job = _sync(owner, feed_server, _calendar(single, series))

    assert job.failed == 0, job.item_errors
    items = sorted(live_items(integration), key=lambda i: i.occurred_at)
    once = next(i for i in items if i.data["uid"] == "one@x")
    first = next(i for i in items if i.data["uid"] == "many@x")
    assert (once.data["all_day"], once.data["end"]) == (all_day, expected_end.format(y=y))
    assert (first.data["all_day"], first.data["start"], first.data["end"]) == (
        all_day,
        once.data["start"],
        once.data["end"],
    )
    assert "Event 'Once' (UID one@x) has an end of another kind than its start" in job.remediation


@pytest.mark.parametrize(
    "start", ["DTSTART:{y}0401T100000Z", "DTSTART;TZID=America/New_York:{y}0401T210000", "DTSTART:{y}0401T100000"]
)
def test_a_repeat_rule_ending_on_a_date_includes_that_day(owner, feed_server, start):
    """UNTIL is inclusive (RFC 5545 3.3.10), and must be of DTSTART's kind; producers write a date
    alone on a series of date-times ("until April 3"). It was read as midnight starting that day,
    so the series lost its last meeting. A date-only UNTIL now covers that whole day, in the
    series' own zone."""
    y = _year()
    series = _event("u@x", "Class", f"{start.format(y=y)}\r\nRRULE:FREQ=DAILY;UNTIL={y}0403\r\n")
    integration, job = _sync(owner, feed_server, _calendar(series))

    assert job.status == JobStatus.SUCCEEDED, (job.error_message, job.remediation, job.item_errors)
    days = [i.data["start"][:10] for i in sorted(live_items(integration), key=lambda i: i.occurred_at)]
    assert days == [f"{y}-04-01", f"{y}-04-02", f"{y}-04-03"]
