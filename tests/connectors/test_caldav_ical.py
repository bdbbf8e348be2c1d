"""What the CalDAV connector makes of awkward calendar objects, and of the caldav library's
errors. These inputs are ones a strict server such as Radicale refuses to store, but which other
servers (and old data) do hand out, so they are read here straight from tests/data/caldav/."""

import datetime
from pathlib import Path

import pytest
from caldav.lib import error as dav_error

from connectors.caldav_calendar import lean
from connectors.caldav_calendar.ical import CalendarObject, card_to_ics, card_uid, ends_after, read, to_record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError, classify
from connectors.registry import registry
from tests.connectors.helpers import data_text

UTC = datetime.UTC


def obj(name: str, *, timezone=None) -> CalendarObject:
    return CalendarObject(
        external_id=f"/alice/work/{name}",
        etag='"etag-1"',
        url=f"https://dav.example.com/alice/work/{name}",
        calendar="Work",
        ics=data_text(f"caldav/{name}"),
        timezone=timezone,
    )


def test_broken_icalendar_is_an_item_error_naming_the_object():
    with pytest.raises(ItemError) as broken:
        to_record(obj("broken-syntax.ics"))
    assert broken.value.external_id == "/alice/work/broken-syntax.ics"
    assert "broken-syntax.ics in calendar 'Work' is not valid iCalendar" in str(broken.value)


def test_an_event_without_start_is_an_item_error_with_its_title():
    with pytest.raises(ItemError) as no_start:
        to_record(obj("no-start.ics"))
    assert "'When is this?'" in str(no_start.value)
    assert "no start time (DTSTART)" in str(no_start.value)
    assert no_start.value.external_id == "/alice/work/no-start.ics"


def test_an_unknown_time_zone_is_an_item_error_not_a_silent_guess():
    with pytest.raises(ItemError) as unknown:
        to_record(obj("unknown-zone.ics"))
    assert "Mars/Olympus_Mons" in str(unknown.value)


@pytest.mark.parametrize(
    ("tzid", "offset"),
    [
        ('"tzone://Microsoft/Utc"', 0),  # Exchange's UTC, in Teams and Calendly invitations
        ("Eastern Standard Time 1", -4),  # Outlook's copy of a Windows zone
        ("europe/paris", 2),  # an IANA name in the wrong case
        ("Z", 0),
    ],
)
def test_zone_names_that_still_mean_one_zone_are_read_not_refused(tzid, offset):
    # icalendar knows none of these names; the event was skipped as "neither defined nor known".
    item = CalendarObject(
        external_id="/alice/work/invite.ics",
        etag='"1"',
        url="http://dav.example/alice/work/invite.ics",
        calendar="Work",
        ics="BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:invite-1\r\n"
        f"DTSTAMP:20260101T000000Z\r\nSUMMARY:Invitation\r\nDTSTART;TZID={tzid}:20260710T140000\r\n"
        f"DTEND;TZID={tzid}:20260710T150000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )

    record = to_record(item)

    expected = datetime.datetime(2026, 7, 10, 14 - offset, 0, tzinfo=UTC)
    assert record.occurred_at == expected
    assert datetime.datetime.fromisoformat(record.data["end"]) == expected + datetime.timedelta(hours=1)


def test_a_calendars_default_zone_given_by_its_windows_name_is_understood():
    # calendar-timezone (RFC 4791 5.2.2) as Exchange-backed servers and Outlook write it.
    from connectors.caldav_calendar.dav import _zone_name

    vtimezone = (
        "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\n"
        "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\nEND:VCALENDAR\r\n"
    )
    assert _zone_name(vtimezone) == "Europe/Berlin"
    assert _zone_name(vtimezone.replace("W. Europe Standard Time", "Europe/Paris")) == "Europe/Paris"
    assert _zone_name(vtimezone.replace("W. Europe Standard Time", "Custom zone")) is None


def test_html_descriptions_become_plain_text_and_bad_values_are_kept_as_text():
    record = to_record(obj("nul-and-html.ics"))
    assert record.summary == "Agenda\n1. Budget\n2. Hiring & offsites"
    assert record.data["description_html"].startswith("<b>Agenda</b>")
    assert record.data["priority"] == "high"  # not an integer, as the source wrote it: kept, not dropped
    assert record.version == '"etag-1"'
    assert record.source_url.endswith("/nul-and-html.ics")


def test_nul_characters_never_reach_the_database():
    item = obj("floating.ics")
    item.ics = item.ics.replace("SUMMARY:Floating breakfast", "SUMMARY:Break\x00fast")
    assert to_record(item).title == "Breakfast"


def test_floating_times_are_read_in_the_calendars_own_zone():
    record = to_record(obj("floating.ics", timezone="America/New_York"))
    year = datetime.date.today().year
    assert record.occurred_at == datetime.datetime(year, 3, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert record.data["floating"] is True
    assert record.data["tzid"] == "America/New_York"


def test_floating_times_without_the_calendars_zone_are_read_in_the_persons_else_the_hubs(settings):
    from connectors.base import Context

    settings.TIME_ZONE = "Asia/Tokyo"
    year = datetime.date.today().year
    person = registry.get("caldav")(Context(config={}, secrets={}, http=None, time_zone="Europe/Berlin"))
    record = person.transform(obj("floating.ics"))
    assert record.occurred_at == datetime.datetime(year, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert record.data["tzid"] == "Europe/Berlin"
    unchosen = registry.get("caldav")(Context(config={}, secrets={}, http=None))
    assert unchosen.transform(obj("floating.ics")).occurred_at == datetime.datetime(year, 3, 9, 23, 0, tzinfo=UTC)


def test_window_keeps_recent_future_and_open_ended_recurring_objects():
    now = datetime.datetime.now(UTC)
    since = now - datetime.timedelta(days=30)
    old_year = now.year - 3
    old = obj("all-day.ics")
    old.ics = old.ics.replace(str(now.year), str(old_year))
    assert not ends_after(old, since)
    assert ends_after(obj("task.ics"), datetime.datetime(now.year, 1, 1, tzinfo=UTC))
    weekly = obj("weekly.ics")
    weekly.ics = weekly.ics.replace("COUNT=10", "INTERVAL=1").replace(str(now.year), str(old_year))
    assert ends_after(weekly, since)  # a series with no end recurs into the window
    assert ends_after(obj("broken-syntax.ics"), since)  # undecidable: kept, so its error is reported


def test_outgoing_cards_get_a_stable_uid_and_a_due_date():
    from connectors.base import OutgoingCard

    card = OutgoingCard(title="Pay rent", due=datetime.date(2031, 1, 1), key="rent-2031-01")
    assert card_uid(card) == card_uid(OutgoingCard(title="Other title", key="rent-2031-01"))
    text = card_to_ics(card, as_event=False)
    assert "BEGIN:VTODO" in text
    assert "DUE;VALUE=DATE:20310101" in text
    assert f"UID:{card_uid(card)}" in text


def test_caldav_library_errors_are_classified_with_what_to_do():
    registry.get("caldav")  # importing the connector registers its classifier
    wrong_password = classify(dav_error.AuthorizationError(url="https://x/", reason="Unauthorized", status=401))
    assert isinstance(wrong_password, AuthError)
    assert "app-specific password" in wrong_password.remediation
    assert isinstance(classify(dav_error.NotFoundError("https://x/cal/")), ConfigError)
    assert "server URL" in classify(dav_error.NotFoundError("https://x/cal/")).remediation
    assert isinstance(classify(dav_error.ReportError("https://x/", status=503)), TransientError)
    limited = classify(dav_error.RateLimitError(url="https://x/", retry_after="7", retry_after_seconds=7.0))
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 7.0


CORPUS = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "data" / "caldav").glob("*.ics"))
LEAN = {
    "paris.ics", "all-day.ics", "weekly.ics", "task.ics", "done-task.ics", "floating.ics", "nul-and-html.ics",
    "escapes.ics", "no-start.ics", "bom.ics", "blank-line-folds.ics", "two-starts.ics", "no-wrapper.ics",
    "colon-escapes.ics",
}  # fmt: skip


@pytest.mark.parametrize("name", CORPUS)
def test_the_fast_reader_and_icalendar_make_the_same_record(name):
    """The lean reader (used for speed) must never change what a user sees: same record, or the
    same error, as icalendar; and it must really be used for the everyday objects."""
    fast, slow = obj(name), obj(name)
    try:
        read_fast = isinstance(read(fast.ics), lean.Component)
    except ValueError:
        read_fast = False
    assert read_fast == (name in LEAN)
    try:
        slow._parsed = read(slow.ics, lean=False)
    except ValueError:
        with pytest.raises(ItemError):
            to_record(fast)
        return
    try:
        expected = to_record(slow)
    except ItemError as exc:
        expected = exc
    try:
        got = to_record(fast)
    except ItemError as exc:
        got = exc
    if isinstance(expected, ItemError):
        assert isinstance(got, ItemError)
        assert str(got) == str(expected)
    else:
        assert got == expected


def test_tricky_escapes_parameters_and_alarms_are_read_right():
    record = to_record(obj("escapes.ics"))
    year = datetime.date.today().year
    assert record.title == "Semi; colons, commas\\ and \nnew lines"
    assert record.data["location"] == 'Café "Chez Nous"'
    assert record.data["organizer"] == {"email": "jane@example.com", "name": "Doe, Jane"}
    assert record.data["attendees"][0]["role"] == "OPT-PARTICIPANT"
    assert record.data["categories"] == ["Work,Important", "Late", "Extra"]
    assert record.data["geo"] == [40.7128, -74.006]
    assert record.data["start"] == f"{year}-11-03T23:00:00-05:00"
    assert record.data["end"] == f"{year}-11-04T01:30:00-05:00"  # from DURATION
    assert record.data["rdate"] == [f"{year}-11-20T23:00:00-05:00", f"{year}-11-21T23:00:00-05:00"]
    assert record.data["alarms"] == [
        {"action": "AUDIO", "trigger": f"{year}-11-03T22:00:00+00:00"},
        {"action": "DISPLAY", "trigger": "-PT1H"},
    ]
    assert record.data["extra"]["X-LABEL"] == ["one", "two"]
    assert record.summary.endswith("written by a careful client, obviously.")


def test_a_server_answering_a_file_path_never_gets_a_local_file_read(tmp_path):
    """icalendar's from_ical() reads a line-break-free string as a file path; a hostile server
    could name one of ours and see it quoted back in the error."""
    secret = tmp_path / "secret.ics"
    secret.write_text(data_text("caldav/floating.ics").replace("Floating breakfast", "TOP SECRET"))
    item = obj("floating.ics")
    item.ics = str(secret)
    with pytest.raises(ItemError) as refused:
        to_record(item)
    assert "TOP SECRET" not in str(refused.value)
    assert "not an iCalendar object" in str(refused.value)


@pytest.mark.parametrize("lean_reader", [True, False])
def test_a_byte_order_mark_and_blank_lines_inside_folds_are_read(lean_reader):
    bom, folds = obj("bom.ics"), obj("blank-line-folds.ics")
    assert bom.ics.startswith("\ufeffBEGIN:VCALENDAR")
    bom._parsed, folds._parsed = read(bom.ics, lean=lean_reader), read(folds.ics, lean=lean_reader)

    assert to_record(bom).title == "Saved by a Windows tool"
    record = to_record(folds)
    assert record.title == "Breakfast with the whole team"
    assert record.data["uid"] == "blank-folds@example.com"
    assert record.occurred_at == datetime.datetime(datetime.date.today().year, 5, 20, 8, 0, tzinfo=UTC)


def test_unreadable_recurrence_properties_are_kept_as_written_with_why():
    record = to_record(obj("recurrence-mistakes.ics"))

    assert record.title == "Choir"
    assert record.data["rrule"] == "FREQ=SOMETIMES"
    assert record.data["rdate"] == record.data["exdate"] == []
    assert record.data["unreadable"] == [
        "RRULE:FREQ=SOMETIMES ('SOMETIMES' is not a frequency (FREQ))",
        "RDATE;VALUE=TIME:120000 (a time of day without a date)",
        "EXDATE:not a date (it is not a date)",
    ]
    # A rule that cannot be read may repeat for ever: never left out as old.
    assert ends_after(obj("recurrence-mistakes.ics"), datetime.datetime(2100, 1, 1, tzinfo=UTC))


def test_an_unreadable_start_names_the_property_and_value_in_words():
    with pytest.raises(ItemError) as bad:
        to_record(obj("bad-start.ics"))
    assert str(bad.value) == (
        "Event 'Dentist' in calendar 'Work' has an unreadable start time (DTSTART:next tuesday); "
        "the hub skipped it and kept any earlier version."
    )


@pytest.mark.parametrize("lean_reader", [True, False])
def test_a_start_written_twice_is_said_and_the_first_one_used(lean_reader):
    twice = obj("two-starts.ics")
    twice._parsed = read(twice.ics, lean=lean_reader)
    year = datetime.date.today().year

    record = to_record(twice)

    assert record.occurred_at == datetime.datetime(year, 1, 9, 9, 0, tzinfo=UTC)
    assert record.data["repeated"] == [
        f"has its start time (DTSTART) twice (DTSTART:{year}0109T090000Z, DTSTART:{year}0110T090000Z); "
        "the hub kept the first"
    ]


@pytest.mark.parametrize("lean_reader", [True, False])
def test_an_object_without_the_calendar_wrapper_is_read(lean_reader):
    bare = obj("no-wrapper.ics")
    assert bare.ics.startswith("BEGIN:VEVENT")
    bare._parsed = read(bare.ics, lean=lean_reader)

    record = to_record(bare)

    assert record.title == "Haircut"
    assert record.occurred_at == datetime.datetime(datetime.date.today().year, 6, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["A\r\n B", "A\n\tB", "A\r\n\r\n B", "A\n\n\n B", "A\r\r\n B", "A\r\n\r B", "A\n\r\n\tB\r\n C", "A\r\nB", "A \r\n"],
)
def test_the_lean_reader_unfolds_lines_as_icalendar_does(text):
    from icalendar.parser.content_line import UFOLD

    assert lean._UNFOLD.sub("", text) == UFOLD.sub("", text)
