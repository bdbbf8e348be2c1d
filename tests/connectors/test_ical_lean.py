"""The lean reader of feed events (connectors/ical_lean.py) must never change what a user sees:
the iCal feed connector makes the same records, errors and notices with it as with icalendar
reading every event; and it must really be used for everyday events."""

import dataclasses
import datetime
import io
from pathlib import Path

import pytest

from bench.calendars import ical_feed
from connectors import ical_lean
from connectors.base import Context
from connectors.fetch import Fetched
from connectors.ical_feed import ICalFeedConnector
from tests.connectors.helpers import data_text

WIDE = {"window_past_days": 400, "window_future_days": 400}
CORPUS = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "data" / "ical").glob("*.ics"))

# Lines the lean reader reads itself and lines it leaves to icalendar, in their awkward forms.
TRICKY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//MetaCortex tests//lean//EN
X-WR-TIMEZONE:America/New_York
BEGIN:VTIMEZONE
TZID:Custom Zone
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:escapes@example.com
DTSTAMP:20260101T000000Z
DTSTART:{Y}0301T100000Z
DTEND:{Y}0301T110000Z
SUMMARY:Commas\\, semicolons\\; colons\\: a backslash \\\\ and\\nnew lines\\N
DESCRIPTION:Tab\tinside and \\\\n not a new line
LOCATION;ALTREP="http://example.com/room":Room 1
URL:https://example.com/a\\,b?c=d%2Ce
ORGANIZER;CN="Bob ^'the boss^'":mailto:bob@example.com
ATTENDEE;CN=Alice;PARTSTAT=accepted;ROLE=CHAIR:mailto:alice@example.com
ATTENDEE;CN="Smith, Carol":MAILTO:carol@example.com
CATEGORIES:Work\\,Home,Travel
CATEGORIES:Second
SEQUENCE:3
PRIORITY:high
GEO:here
CLASS:PRIVATE
TRANSP:TRANSPARENT
X-CUSTOM:kept\\, as written
x-lower-case:value
X-DATE;VALUE=DATE:{Y}0301
STATUS:tentative
END:VEVENT
BEGIN:VEVENT
UID:zones@example.com
DTSTART;TZID="Europe/Berlin":{Y}0302T100000
DTEND;TZID=Custom Zone:{Y}0302T110000
DTSTAMP;TZID=utc:20260101T000000
CREATED:20260101T000000
LAST-MODIFIED;VALUE=DATE-TIME:20260101
SUMMARY:Zones
END:VEVENT
BEGIN:VEVENT
UID:floating-and-duration@example.com
DTSTART:{Y}0303T080000
DURATION:PT90M
summary:Lower-case names
END:VEVENT
BEGIN:VEVENT
UID:all-day@example.com
DTSTART;VALUE=DATE:{Y}0304
DTEND;VALUE=DATE:{Y}0306
SUMMARY:All day
EXDATE:{Y}0305T000000Z
END:VEVENT
BEGIN:VEVENT
UID:no-end@example.com
DTSTART;TZID=Mars/Olympus:{Y}0307T080000
SUMMARY:Unknown zone
END:VEVENT
BEGIN:VEVENT
UID:bad-dates@example.com
DTSTART:{Y}0230T250000
SUMMARY:Not a date
END:VEVENT
BEGIN:VEVENT
UID:twice@example.com
DTSTART:{Y}0308T080000Z
DTSTART:{Y}0308T090000Z
SUMMARY:Start twice
END:VEVENT
BEGIN:VEVENT
UID:alarm@example.com
DTSTART:{Y}0309T080000Z
SUMMARY:With an alarm
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:broken-alarm@example.com
DTSTART:{Y}0309T090000Z
SUMMARY:With an alarm icalendar refuses
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER:garbage
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:control@example.com
DTSTART:{Y}0310T080000Z
SUMMARY:Bell\x07 inside
END:VEVENT
END:VCALENDAR
"""


def _connector(lean: bool) -> ICalFeedConnector:
    connector = ICalFeedConnector(
        Context(config=dict(WIDE), secrets={"url": "https://feed.example.com/c.ics"}, http=None)
    )
    connector.lean = lean
    return connector


def _run(text: str, lean: bool) -> list:
    """Everything the connector hands the engine: records (or transform errors), item errors,
    deletes, notices."""
    connector = _connector(lean)
    body = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    connector._fetch = lambda cursor: Fetched(not_modified=False, validators={"etag": "1"}, body=io.BytesIO(body))
    out = []
    for batch in connector.list_changes(None):
        for raw in batch.items:
            try:
                out.append(dataclasses.asdict(connector.transform(raw)))
            except Exception as exc:  # noqa: BLE001 - the same failure on both sides is what counts
                out.append(("transform failed", type(exc).__name__, str(exc)))
        out.append(([(e.external_id, str(e)) for e in batch.errors], batch.deletes, batch.notices))
    return out


@pytest.mark.parametrize("text", [*(f"ical/{n}" for n in CORPUS if n.endswith(".ics")), "TRICKY", "BENCH"])
def test_the_lean_reader_and_icalendar_make_the_same_records(text):
    if text == "TRICKY":
        body = TRICKY.replace("{Y}", str(datetime.date.today().year))
    elif text == "BENCH":
        body = ical_feed(300).decode()
    else:
        body = data_text(text)
    assert _run(body, lean=True) == _run(body, lean=False)


def test_everyday_events_are_read_lean_and_odd_ones_by_icalendar():
    reader = ical_lean.Reader()
    year = datetime.date.today().year
    plain = (
        f"BEGIN:VEVENT\r\nUID:a@b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Paris:{year}0101T100000\r\n"
        "SUMMARY:Yoga\r\nORGANIZER;CN=Bob:mailto:bob@example.com\r\nX-COLOR:teal\r\nEND:VEVENT\r\n"
    )
    event = reader.event(plain)
    assert isinstance(event, ical_lean.Event)
    assert event.decoded("DTSTART") == datetime.datetime(
        year, 1, 1, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    assert str(event["SUMMARY"]) == "Yoga"
    with_alarm = plain.replace(
        "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT"
    )
    assert isinstance(reader.event(with_alarm), ical_lean.Event)  # alarms are not read, only checked
    assert reader.event(with_alarm.replace("TRIGGER:-PT5M", "TRIGGER:soon")) is None
    assert reader.event(plain.replace("SUMMARY:Yoga", "SUMMARY:Yoga\r\nSUMMARY:Pilates")) is None


@pytest.mark.parametrize(
    "line",
    [
        "DTSTAMP:20260101",
        "DTSTAMP:20260101T000000",
        "DTSTAMP;TZID=Europe/Paris:20260101T100000",
        "CREATED;TZID=Europe/Paris:20260101T100000",
        "LAST-MODIFIED;VALUE=DATE:20260101",
        "DTSTART;TZID=Europe/Paris:20260101",
        "DTSTART;TZID=Europe/Paris:20260101T100000",
        "DTEND;VALUE=DATE-TIME:20260101",
        "DTEND:20260101T100000Z",
        "SUMMARY:a\\,b\\:c\\nd",
        "LOCATION:x\u2028y",
    ],
)
def test_each_value_is_the_one_icalendar_reads(line):
    import icalendar

    text = f"BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n"
    [(name, expected)] = icalendar.Event.from_ical(text).items()
    [(lean_name, found)] = ical_lean.Reader().event(text).items()
    assert lean_name == name
    value, lean_value = getattr(expected, "dt", str(expected)), getattr(found, "dt", str(found))
    assert (type(lean_value), lean_value) == (type(value), value)
    assert getattr(lean_value, "tzinfo", None) == getattr(value, "tzinfo", None)
