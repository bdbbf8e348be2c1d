"""The iCal feed connector against a real local HTTP server."""

import datetime
import urllib.request

import pytest

from connectors.registry import registry
from integrations.models import JobStatus, Status, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import connect, data_text, live_items, sync

pytestmark = pytest.mark.usefixtures("catalogue")
WIDE = {"window_past_days": 400, "window_future_days": 400}


@pytest.fixture
def awkward_feed(feed_server):
    feed_server.serve("/cal.ics", data_text("ical/awkward.ics"))
    return feed_server


def _by_title(integration):
    return {item.title: item for item in live_items(integration)}


def test_the_ical_type_is_available_and_registered(catalogue):
    from integrations.models import IntegrationType

    itype = IntegrationType.objects.get(slug="ical-feed")
    assert itype.is_available
    assert registry.get(itype.handler).__name__ == "ICalFeedConnector"


def test_full_sync_reads_time_zones_all_day_floating_and_recurrences(owner, awkward_feed):
    integration = connect(owner, "ical-feed", secrets={"url": awkward_feed.url("/cal.ics")}, config=WIDE)
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    items = _by_title(integration)
    year = datetime.date.today().year

    paris = items["Réunion à Paris — café ☕"]
    assert paris.occurred_at == datetime.datetime(year, 1, 15, 8, 30, tzinfo=datetime.UTC)  # 09:30 CET
    assert paris.data["tzid"] == "Europe/Paris"
    assert paris.data["location"] == "Rue de Rivoli, Paris"
    assert "seventy-five octets" in paris.summary  # folded lines were unfolded
    assert paris.data["attendees"] == [{"email": "alice@example.com", "name": "Alice"}]
    assert paris.data["organizer"] == {"email": "bob@example.com", "name": ""}
    assert paris.data["extra"] == {"X-CUSTOM-COLOR": "teal"}  # unmapped, kept

    holiday = items["Labour Day"]
    assert holiday.data["all_day"] is True
    assert holiday.data["start"] == f"{year}-05-01"
    assert holiday.data["categories"] == ["HOLIDAY", "PUBLIC"]

    # A Windows zone name resolved through the feed's own VTIMEZONE: 14:00 CEST is 12:00 UTC.
    assert items["Windows zone name"].occurred_at == datetime.datetime(year, 7, 1, 12, 0, tzinfo=datetime.UTC)
    # Floating time read in the calendar's X-WR-TIMEZONE (Europe/Berlin, CET in March).
    assert items["Floating breakfast"].occurred_at == datetime.datetime(year, 3, 10, 7, 0, tzinfo=datetime.UTC)
    assert items["Floating breakfast"].data["floating"] is True

    standups = sorted(
        (i for i in live_items(integration) if i.data["uid"] == "weekly-standup@example.com"),
        key=lambda i: i.occurred_at,
    )
    # COUNT=10 minus one EXDATE; the moved instance appears once, at its new time.
    assert len(standups) == 9
    assert [s.title for s in standups].count("Standup (moved)") == 1
    moved = next(s for s in standups if s.title == "Standup (moved)")
    assert moved.occurred_at == datetime.datetime(year, 1, 19, 15, 0, tzinfo=datetime.UTC)
    assert all(s.data["recurring"] for s in standups)
    assert standups[0].data["rrule"] == "FREQ=WEEKLY;COUNT=10"

    assert "Event without a UID" in items
    assert job.created == live_items(integration).count() == 14
    assert job.unmapped_fields == ["X-CUSTOM-COLOR"]
    assert integration.status == Status.CONNECTED
    assert integration.last_synced_at is not None


def test_provenance_is_kept_on_every_record(owner, awkward_feed):
    integration = connect(owner, "ical-feed", secrets={"url": awkward_feed.url("/cal.ics")}, config=WIDE, name="Cal")
    job = sync(integration)
    for item in live_items(integration):
        assert item.source_type == "ical-feed"
        assert item.source_name == "Cal"
        assert item.last_job_id == job.pk
        assert item.fetched_at is not None
        assert item.user_id == owner.pk


def test_unchanged_feed_costs_one_conditional_request_and_no_writes(owner, awkward_feed):
    integration = connect(owner, "ical-feed", secrets={"url": awkward_feed.url("/cal.ics")}, config=WIDE)
    sync(integration)
    stamps = dict(SyncedItem.objects.values_list("pk", "updated_at"))

    job = sync(integration)

    assert job.kind == "incremental"
    assert job.status == JobStatus.SUCCEEDED
    assert (job.seen, job.created, job.updated) == (0, 0, 0)
    second_request = awkward_feed.requests_to("/cal.ics")[-1]
    assert second_request.headers.get("If-None-Match")  # the peer saw a conditional GET (answered 304)
    assert dict(SyncedItem.objects.values_list("pk", "updated_at")) == stamps


def test_last_modified_is_used_when_there_is_no_etag(owner, feed_server):
    feed_server.serve_with_last_modified("/lm.ics", data_text("ical/awkward.ics").encode(), 1_700_000_000)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/lm.ics")}, config=WIDE)
    sync(integration)
    job = sync(integration)
    assert job.seen == 0
    assert feed_server.requests_to("/lm.ics")[-1].headers["If-Modified-Since"] == "Tue, 14 Nov 2023 22:13:20 GMT"


def test_changed_and_removed_events_update_and_become_tombstones(owner, feed_server):
    text = data_text("ical/awkward.ics")
    feed_server.serve("/cal.ics", text)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    sync(integration)

    changed = text.replace("SUMMARY:Labour Day", "SUMMARY:May Day").replace(
        "UID:floating@example.com", "UID:floating-renamed@example.com"
    )
    feed_server.serve("/cal.ics", changed)
    job = sync(integration)

    assert job.updated == 1  # the renamed holiday
    assert job.created == 1  # the event under its new UID
    assert job.deleted == 1  # the old UID is gone at the source
    assert job.unchanged == 12
    gone = SyncedItem.objects.get(integration=integration, external_id="floating@example.com")
    assert gone.deleted_at is not None
    assert live_items(integration).filter(title="May Day").exists()


def test_resync_three_times_creates_no_duplicates(owner, feed_server):
    text = data_text("ical/awkward.ics")
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    for round_number in range(3):
        # A new DTSTAMP every download (as Google does) must not count as a change.
        feed_server.serve("/cal.ics", text.replace("20260101T000000Z", f"2026010{round_number + 1}T000000Z"))
        sync(integration, kind="full")
    assert SyncedItem.objects.filter(integration=integration).count() == 14
    ids = list(SyncedItem.objects.filter(integration=integration).values_list("external_id", flat=True))
    assert len(ids) == len(set(ids))


def test_malformed_events_are_recorded_and_the_rest_imported(owner, feed_server):
    feed_server.serve("/bad.ics", data_text("ical/malformed.ics"))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/bad.ics")}, config=WIDE)
    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert set(live_items(integration).values_list("title", flat=True)) == {"Good one", "Good two"}
    assert job.failed == 3
    errors = {e["external_id"]: e["error"] for e in job.item_errors}
    assert "bad-date@example.com" in errors
    assert "no start time" in errors["no-start@example.com"]
    assert any("ends in the middle of an event" in e["error"] for e in job.item_errors)
    assert "could not be read" in job.remediation
    assert integration.status == Status.CONNECTED  # a partial sync is not a broken integration


def test_a_web_page_instead_of_a_calendar_says_what_to_fix(owner, feed_server):
    feed_server.serve("/login", data_text("ical/not-a-calendar.html"), content_type="text/html")
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/login")}, config=WIDE)
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "config"
    assert "did not return an iCalendar file" in job.error_message
    assert "not a web page" in job.remediation
    assert integration.status == Status.ERROR
    assert integration.last_error


def test_a_missing_feed_is_a_config_error_naming_the_address(owner, feed_server):
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/gone.ics?token=s3cr3t")}, config=WIDE)
    job = sync(integration)
    assert job.error_class == "config"
    assert "HTTP 404" in job.error_message
    assert f"http://{feed_server.host}/" in job.error_message
    # Private links carry their token in the path or query: neither is ever echoed.
    assert "gone.ics" not in job.error_message
    assert "s3cr3t" not in job.error_message


def test_test_connection_names_the_calendar(feed_server):
    from integrations.models import IntegrationType
    from integrations.sync.context import context_for_test

    feed_server.serve("/cal.ics", data_text("ical/awkward.ics"))
    itype = IntegrationType.objects.get(slug="ical-feed")
    connector = registry.get(itype.handler)(context_for_test(itype, {}, {"url": feed_server.url("/cal.ics")}))
    assert connector.test_connection() == "Awkward Calendar (7 events)"


def _calendar(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


def _event(uid: str, title: str, start: str, extra: str = "") -> str:
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:{start}\r\nSUMMARY:{title}\r\n{extra}END:VEVENT\r\n"


def _year() -> int:
    return datetime.date.today().year


def test_a_floating_time_without_the_calendars_zone_is_read_in_the_persons(owner, feed_server, settings):
    from integrations.timezones import set_zone

    settings.TIME_ZONE = "Asia/Tokyo"  # the hub's: not the person's, so not used
    set_zone(owner, "Europe/Berlin")
    feed_server.serve("/cal.ics", _calendar(_event("f@x", "Dinner", f"{_year()}0710T203000")))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    sync(integration)

    dinner = _by_title(integration)["Dinner"]
    assert dinner.occurred_at == datetime.datetime(_year(), 7, 10, 18, 30, tzinfo=datetime.UTC)  # 20:30 CEST
    assert (dinner.data["floating"], dinner.data["tzid"]) == (True, "Europe/Berlin")


def test_a_calendar_zone_given_by_its_windows_name_places_floating_times(owner, feed_server):
    """X-WR-TIMEZONE as an Exchange or Outlook export writes it ("W. Europe Standard Time") was not
    taken for a zone: floating times were read in the person's zone (UTC here) instead."""
    calendar = _calendar(_event("w@x", "Standup", f"{_year()}0710T093000")).replace(
        "PRODID:-//tests//EN\r\n", "PRODID:-//tests//EN\r\nX-WR-TIMEZONE:W. Europe Standard Time\r\n"
    )
    feed_server.serve("/cal.ics", calendar)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    sync(integration)

    standup = _by_title(integration)["Standup"]
    assert standup.occurred_at == datetime.datetime(_year(), 7, 10, 7, 30, tzinfo=datetime.UTC)  # 09:30 CEST
    assert (standup.data["floating"], standup.data["tzid"]) == (True, "Europe/Berlin")


def test_an_event_that_breaks_keeps_its_earlier_good_version_and_says_why(owner, feed_server):
    year = _year()
    good_b = _event("b@example.com", "Dentist", f"{year}0410T090000Z", "DURATION:PT1H\r\n")
    feed_server.serve("/cal.ics", _calendar(_event("a@example.com", "Gym", f"{year}0409T070000Z"), good_b))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    assert sync(integration).created == 2

    broken_b = good_b.replace(f"DTSTART:{year}0410T090000Z", "DTSTART:next tuesday")
    feed_server.serve("/cal.ics", _calendar(_event("a@example.com", "Gym", f"{year}0409T070000Z"), broken_b))
    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert (job.failed, job.deleted) == (1, 0)
    dentist = SyncedItem.objects.get(integration=integration, external_id="b@example.com")
    assert dentist.deleted_at is None  # what we could not read is not taken for deleted
    assert dentist.occurred_at == datetime.datetime(year, 4, 10, 9, 0, tzinfo=datetime.UTC)  # the good version
    [error] = job.item_errors
    assert error["external_id"] == "b@example.com"
    assert error["error"] == (
        "Event 'Dentist' (UID b@example.com) has an unreadable start time (DTSTART:next tuesday). "
        "The hub skipped it and kept any earlier version."
    )
    assert integration.status == Status.CONNECTED


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        ("DTEND:soon\r\n", "an unreadable end time (DTEND:soon)"),
        ("DURATION:a while\r\n", "an unreadable duration (DURATION:a while)"),
    ],
)
def test_an_unreadable_end_or_duration_names_the_property(owner, feed_server, broken, said):
    feed_server.serve("/cal.ics", _calendar(_event("c@example.com", "Call", f"{_year()}0411T090000Z", broken)))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    job = sync(integration)
    assert job.status == JobStatus.PARTIAL
    assert job.item_errors[0]["error"] == (
        f"Event 'Call' (UID c@example.com) has {said}. The hub skipped it and kept any earlier version."
    )


def test_a_broken_recurring_series_keeps_its_occurrences(owner, feed_server):
    series = _event("yoga@example.com", "Yoga", f"{_year()}0105T180000Z", "RRULE:FREQ=WEEKLY;COUNT=4\r\n")
    feed_server.serve("/cal.ics", _calendar(series))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    assert sync(integration).created == 4

    feed_server.serve("/cal.ics", _calendar(series.replace("FREQ=WEEKLY;COUNT=4", "FREQ=SOMETIMES")))
    job = sync(integration)

    # The rule is set aside in words; the first date is read again and the others are kept.
    assert (job.status, job.failed, job.deleted) == (JobStatus.PARTIAL, 0, 0)
    assert live_items(integration).filter(title="Yoga").count() == 4
    assert (
        f"Event 'Yoga' (UID yoga@example.com) repeats by a rule the hub cannot read (RRULE:FREQ=SOMETIMES: "
        f"'SOMETIMES' is not a frequency (FREQ)); the hub skipped the rule, imported only the first date, "
        f"{_year()}-01-05T18:00:00+00:00, and kept the occurrences it already had."
    ) in job.remediation


def test_a_feed_cut_short_deletes_nothing(owner, feed_server):
    year = _year()
    events = [_event(f"e{n}@example.com", f"Event {n}", f"{year}0601T{10 + n}0000Z") for n in range(3)]
    feed_server.serve("/cal.ics", _calendar(*events))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    assert sync(integration).created == 3

    cut = _calendar(*events)
    feed_server.serve("/cal.ics", cut[: cut.index("SUMMARY:Event 1")])  # the download stopped in event 1
    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert job.deleted == 0
    assert live_items(integration).count() == 3  # events 1 and 2 were not in the file, yet they are kept
    assert "ends in the middle of an event" in job.item_errors[0]["error"]


def test_recurring_occurrences_are_stored_in_batches_of_the_batch_size(owner, feed_server, settings):
    settings.SYNC_BATCH_SIZE = 4
    year = _year()
    feed_server.serve(
        "/cal.ics",
        _calendar(
            _event("one-off@example.com", "One-off", f"{year}0301T090000Z"),
            _event("daily@example.com", "Daily", f"{year}0302T090000Z", "RRULE:FREQ=DAILY;COUNT=10\r\n"),
        ),
    )
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    job = queue_sync(integration, enqueue=False)
    progress = []
    finished = run_job(job.pk, on_progress=lambda j: progress.append((j.progress_done, j.progress_total)))

    assert finished.status == JobStatus.SUCCEEDED
    assert finished.created == 11
    done = [d for d, _ in progress]
    assert done[:3] == [4, 8, 11]  # each checkpoint holds at most SYNC_BATCH_SIZE records
    assert all(total >= d for d, total in progress)  # the progress bar never passes 100%


def test_a_feed_that_answers_403_asks_to_check_the_address_not_to_reauthenticate(owner, feed_server):
    from tests.peers.feeds import Reply

    feed_server.sequence("/private/abc123/basic.ics", [Reply(403, b"Forbidden")])
    url = feed_server.url("/private/abc123/basic.ics")
    integration = connect(owner, "ical-feed", secrets={"url": url}, config=WIDE)

    job = sync(integration)

    assert job.status == JobStatus.FAILED
    assert job.error_class == "config"
    assert job.error_message == f"The server at http://{feed_server.host}/… refused access to this feed (HTTP 403)."
    assert job.remediation.startswith("Check the address is public or still valid")
    assert "abc123" not in job.error_message + job.remediation  # the private link's token is never echoed
    assert integration.status == Status.ERROR  # not needs_reauth: there is no login to redo
    assert "Re-authenticate" not in integration.status_detail


def test_a_byte_order_mark_before_the_calendar_is_accepted(owner, feed_server):
    body = data_text("ical/bom.ics")
    assert body.startswith("\ufeffBEGIN:VCALENDAR")  # the sample really carries the mark
    feed_server.serve("/bom.ics", body)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/bom.ics")}, config=WIDE)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert set(live_items(integration).values_list("title", flat=True)) == {"Home match", "Away day"}
    assert live_items(integration).first().data["calendar"] == "Club fixtures"  # header read past the mark


def test_blank_lines_inside_folded_lines_are_unfolded_as_icalendar_does(owner, feed_server):
    feed_server.serve("/folds.ics", data_text("ical/blank-line-folds.ics"))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/folds.ics")}, config=WIDE)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.item_errors
    items = _by_title(integration)
    breakfast = items["Breakfast with the whole team"]
    assert breakfast.external_id == "blank-folds@example.com"
    assert breakfast.occurred_at == datetime.datetime(_year(), 5, 20, 8, 0, tzinfo=datetime.UTC)
    assert breakfast.summary == "A long description that the publisher folded with blank lines between the parts."
    assert "Plain event after a blank line" in items


def _cut_feed(count: int, cut_after: int) -> tuple[str, str]:
    """(the whole feed, the same feed cut cleanly after event `cut_after`: no END:VCALENDAR)."""
    year = _year()
    events = [_event(f"e{n}@example.com", f"Event {n}", f"{year}0701T{n:02d}0000Z") for n in range(count)]
    whole = _calendar(*events)
    return whole, whole[: whole.index(events[cut_after])]


def test_a_feed_cut_between_two_events_without_content_length_deletes_nothing(owner, feed_server):
    whole, cut = _cut_feed(20, 10)
    feed_server.serve("/cal.ics", whole)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    assert sync(integration).created == 20

    # Ten complete events, then the server closed the connection cleanly: no Content-Length told
    # the client that more was due, and no event is half-written.
    feed_server.serve("/cal.ics", cut, content_length=False)
    job = sync(integration)

    with urllib.request.urlopen(feed_server.url("/cal.ics")) as answer:
        assert answer.headers.get("Content-Length") is None  # the peer really sent no length
    assert job.status == JobStatus.PARTIAL
    assert (job.deleted, job.failed, job.unchanged) == (0, 0, 10)
    assert live_items(integration).count() == 20  # the ten after the cut are kept
    assert "without its closing line (END:VCALENDAR)" in job.remediation
    assert "deleted nothing" in job.remediation
    assert integration.status == Status.CONNECTED

    # The same cut body again is not "unchanged": it is read, and reported, again.
    again = sync(integration)
    assert again.status == JobStatus.PARTIAL
    assert again.seen == 10
    assert "END:VCALENDAR" in again.remediation

    # Once the whole feed is back, events really removed at the source are deleted again.
    feed_server.serve("/cal.ics", whole.replace(_event("e3@example.com", "Event 3", f"{_year()}0701T030000Z"), ""))
    healed = sync(integration)
    assert (healed.status, healed.deleted) == (JobStatus.SUCCEEDED, 1)
    assert live_items(integration).count() == 19


def test_events_without_the_calendar_wrapper_are_imported_with_a_notice(owner, feed_server):
    feed_server.serve("/bare.ics", data_text("ical/no-wrapper.ics"))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/bare.ics")}, config=WIDE)

    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert job.failed == 0
    assert set(live_items(integration).values_list("title", flat=True)) == {"Haircut", "Dentist"}
    assert "without the calendar around them (no BEGIN:VCALENDAR line)" in job.remediation
    assert "imported the 2 events" in job.remediation

    # Such a file cannot show it is complete: an event missing next time is not taken for deleted.
    feed_server.serve("/bare.ics", data_text("ical/no-wrapper.ics").split("BEGIN:VEVENT\r\nUID:bare-2")[0])
    assert sync(integration).deleted == 0
    assert live_items(integration).count() == 2


def test_test_connection_counts_the_events_of_a_file_without_wrapper(feed_server):
    from integrations.models import IntegrationType
    from integrations.sync.context import context_for_test

    feed_server.serve("/bare.ics", data_text("ical/no-wrapper.ics"))
    itype = IntegrationType.objects.get(slug="ical-feed")
    connector = registry.get(itype.handler)(context_for_test(itype, {}, {"url": feed_server.url("/bare.ics")}))
    assert connector.test_connection() == "127.0.0.1 (2 events)"


def test_recurrence_mistakes_are_named_in_words_with_what_the_hub_did(owner, feed_server):
    feed_server.serve("/odd.ics", data_text("ical/recurrence-mistakes.ics"))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/odd.ics")}, config=WIDE)

    job = sync(integration)

    year = _year()
    assert job.status == JobStatus.PARTIAL
    assert job.failed == 0  # every event was imported, each with what could be read
    titles = list(live_items(integration).values_list("title", flat=True))
    counts = {title: titles.count(title) for title in set(titles)}
    assert counts == {
        "Piano lesson": 3, "Choir": 3, "Book club": 1, "Lunar new year dinner": 1, "Rent": 3, "Sprint": 1, "Dentist": 1,
        "Stretching": 1, "Gym": 1, "Heartbeat": 1, "Hourly check": 30, "Workshop": 1, "Team dinner": 1,
    }  # fmt: skip
    dinner = live_items(integration).get(title="Team dinner")  # values icalendar cannot parse are not fatal
    assert (dinner.data["sequence"], dinner.data["unreadable"]) == (0, ["SEQUENCE:abc", "GEO:the usual place"])
    dentist = live_items(integration).get(title="Dentist")
    assert dentist.occurred_at == datetime.datetime(year, 1, 9, 9, 0, tzinfo=datetime.UTC)  # the first start
    said = job.remediation
    for sentence in [
        "Event 'Piano lesson' (UID rdate-time@example.com) has an extra date the hub cannot read "
        "(RDATE;VALUE=TIME:120000: a time of day without a date); the hub left that date out.",
        "Event 'Choir' (UID exdate-bad@example.com) has an excluded date the hub cannot read "
        "(EXDATE:not a date: it is not a date); the hub ignored the exclusion, so that date may still appear.",
        "Event 'Book club' (UID fortnightly@example.com) repeats by a rule the hub cannot read "
        "(RRULE:FREQ=FORTNIGHTLY;COUNT=5: 'FORTNIGHTLY' is not a frequency (FREQ)); the hub skipped the rule, "
        f"imported only the first date, {year}-01-07T19:00:00+00:00, and kept the occurrences it already had.",
        "Event 'Lunar new year dinner' (UID lunar@example.com) repeats by a rule the hub cannot read "
        "(RRULE:RSCALE=CHINESE;FREQ=YEARLY: it counts in the Chinese calendar (RSCALE=CHINESE), which the hub "
        f"cannot expand); the hub skipped the rule, imported only the first date, {year}-02-17,",
        "Event 'Sprint' (UID until-words@example.com) repeats by a rule the hub cannot read "
        "(RRULE:FREQ=DAILY;UNTIL=tomorrow: its end (UNTIL=tomorrow) is not a date);",
        "Event 'Dentist' (UID two-starts@example.com) has its start time (DTSTART) twice "
        f"(DTSTART:{year}0109T090000Z, DTSTART:{year}0110T090000Z); the hub kept the first.",
        # INTERVAL=0 would make the expansion loop for ever: refused before it starts.
        "Event 'Stretching' (UID interval-zero@example.com) repeats by a rule the hub cannot read "
        "(RRULE:FREQ=DAILY;INTERVAL=0: it repeats every 0 periods (INTERVAL=0), and an interval must be 1 or more);",
        # A rule icalendar reads but the expansion refuses: set aside all the same, in words.
        "Event 'Gym' (UID hour-25@example.com) repeats by a rule the hub cannot expand (RRULE:FREQ=DAILY;BYHOUR=25); "
        f"the hub skipped the rule, imported only the first date, {year}-01-12T06:00:00+00:00,",
        # Every minute for two years is a million occurrences: refused before expanding.
        "Event 'Heartbeat' (UID every-minute@example.com) repeats by a rule the hub will not expand "
        "(RRULE:FREQ=MINUTELY: it would make about 1,152,000 occurrences in the sync window, more than the "
        "50,000 the hub reads for one event);",
        "Event 'Workshop' (UID backwards@example.com) has an extra date the hub cannot read "
        f"(RDATE;VALUE=PERIOD:{year}0116T100000Z/{year}0116T090000Z: a period that ends before it starts); "
        "the hub left that date out.",
    ]:
        assert sentence in said
    assert "Rent" not in said  # RSCALE=GREGORIAN is the ordinary calendar: nothing to say
    for internal in ("not supported between", "datetime", "vDDDLists", "UNTIL parameter is missing", "broken property"):
        assert internal not in said
    # The page and the API show the whole list on the job; the integration's one-line status holds
    # what fits (500 characters, which PostgreSQL enforces), cut with an ellipsis.
    integration.refresh_from_db()
    assert len(said) > 500
    assert len(integration.status_detail) == 500
    assert integration.status_detail.endswith("…")


def test_a_zone_name_without_its_definition_is_read_where_known_and_said_where_not(owner, feed_server):
    """An event's TZID that the feed does not define and icalendar does not know was read silently
    as a floating time (the person's zone here, UTC): an Outlook copy of a Windows zone two
    hours wrong in summer, with nothing said. Names that still mean one zone are read in it; the
    rest are kept, read in the calendar's (else the person's) zone, and the job says so."""
    year = _year()
    feed = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n"
        "BEGIN:VEVENT\r\nUID:copy@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Outlook copy\r\n"
        f"DTSTART;TZID=Eastern Standard Time 1:{year}0710T140000\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:exchange-utc@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Teams call\r\n"
        f'DTSTART;TZID="tzone://Microsoft/Utc":{year}0711T090000\r\n'
        f'DTEND;TZID="tzone://Microsoft/Utc":{year}0711T093000\r\nEND:VEVENT\r\n'
        "BEGIN:VEVENT\r\nUID:series@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Outlook series\r\n"
        f"DTSTART;TZID=Eastern Standard Time 1:{year}0720T140000\r\n"
        f"DTEND;TZID=Eastern Standard Time 1:{year}0720T150000\r\nRRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:display@example.com\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Display name\r\n"
        f'DTSTART;TZID="(UTC+01:00) Amsterdam, Berlin, Rome":{year}0712T140000\r\nEND:VEVENT\r\n'
        "END:VCALENDAR\r\n"
    )
    feed_server.serve("/zones.ics", feed)
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/zones.ics")}, config=WIDE)

    job = sync(integration)

    items = _by_title(integration)
    assert job.failed == 0
    assert items["Outlook copy"].occurred_at == datetime.datetime(year, 7, 10, 18, 0, tzinfo=datetime.UTC)
    assert items["Teams call"].occurred_at == datetime.datetime(year, 7, 11, 9, 0, tzinfo=datetime.UTC)
    assert items["Teams call"].data["end"] == f"{year}-07-11T09:30:00+00:00"
    assert items["Display name"].occurred_at == datetime.datetime(year, 7, 12, 14, 0, tzinfo=datetime.UTC)
    series = sorted(i.occurred_at for i in live_items(integration) if i.title == "Outlook series")
    assert series == [datetime.datetime(year, 7, day, 18, 0, tzinfo=datetime.UTC) for day in (20, 21)]
    assert (
        "Event 'Display name' (UID display@example.com) uses the time zone '(UTC+01:00) Amsterdam, Berlin, Rome', "
        "which the feed does not define (no VTIMEZONE) and the hub does not know; the hub read its times in the "
        "calendar's own time zone, else yours, so they may be off by some hours."
    ) in job.remediation
    assert "Outlook copy" not in job.remediation
    assert "Teams call" not in job.remediation
    assert "Outlook series" not in job.remediation


def test_characters_split_by_a_fold_and_windows_encoded_feeds_keep_their_letters(owner, feed_server):
    """Many publishers fold lines at 75 bytes in the middle of a character's UTF-8 bytes (RFC 5545
    3.1 asks readers to restore them), and old Windows tools write feeds in Windows-1252: each
    such character became U+FFFD. Folds are undone on the bytes, and bytes that are not UTF-8
    are read as Windows-1252."""
    year = _year()
    summary = ("Réunion " * 9 + "café ☕ 🎉 fin").encode()
    cut = summary.index("é".encode(), 60) + 1  # inside the two bytes of an é
    emoji = summary.index("🎉".encode()) + 2  # inside the four bytes of the emoji
    folded = summary[:cut] + b"\r\n " + summary[cut:emoji] + b"\r\n\t" + summary[emoji:]
    event = (
        b"BEGIN:VEVENT\r\nUID:split@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        + f"DTSTART:{year}0310T100000Z\r\n".encode()
        + b"SUMMARY:"
        + folded
        + b"\r\nEND:VEVENT\r\n"
    )
    windows = (
        b"BEGIN:VEVENT\r\nUID:windows@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
        + f"DTSTART:{year}0311T100000Z\r\n".encode()
        + "SUMMARY:Café crème \u2013 5 €\r\nLOCATION:Salle des fêtes\r\nEND:VEVENT\r\n".encode("cp1252")
    )
    feed_server.serve(
        "/split.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n" + event + windows + b"END:VCALENDAR\r\n"
    )
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/split.ics")}, config=WIDE)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, (job.error_message, job.item_errors)
    titles = {item.data["uid"]: item for item in live_items(integration)}
    assert titles["split@example.com"].title == summary.decode()
    assert titles["windows@example.com"].title == "Café crème \u2013 5 €"
    assert titles["windows@example.com"].data["location"] == "Salle des fêtes"
