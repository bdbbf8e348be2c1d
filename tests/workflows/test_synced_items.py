"""Synced-items source steps with the real RSS and iCal feed connectors against the local HTTP
peer: "new since the last run", "tomorrow" in the hub's time zone, filters, and sync failures."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from tests.connectors.helpers import connect
from tests.peers.feeds import Reply
from tests.workflows.helpers import add_source, make_workflow
from workflows.models import Card, ExecutionStatus
from workflows.runner import refresh_card, run_workflow
from workflows.steps import synced_items

pytestmark = pytest.mark.usefixtures("catalogue")


def rss(*entries) -> str:
    items = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>https://blog.example.com/{guid}</link>"
        f"<description>&lt;p&gt;{title} &lt;b&gt;in depth&lt;/b&gt;&lt;/p&gt;</description>"
        f"<pubDate>Mon, 0{day} Nov 2026 09:00:00 +0000</pubDate></item>"
        for guid, title, day in entries
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>{items}</channel></rss>'


def ics(*events) -> str:
    """events: (uid, summary, start, end) with aware datetimes, or a date for all-day events."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for uid, summary, start, end in events:
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"SUMMARY:{summary}", "DTSTAMP:20260101T000000Z"]
        if isinstance(start, datetime.datetime):
            utc = datetime.UTC
            lines += [f"DTSTART:{start.astimezone(utc):%Y%m%dT%H%M%SZ}", f"DTEND:{end.astimezone(utc):%Y%m%dT%H%M%SZ}"]
        else:
            lines += [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"]
        lines += ["LOCATION:Room 4", "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


@pytest.fixture
def blog(owner, feed_server):
    feed_server.serve("/blog.rss", rss(("a", "First", 2), ("b", "Second", 3)), content_type="application/rss+xml")
    return connect(owner, "rss", config={"url": feed_server.url("/blog.rss")}, name="Blog")


def test_new_since_last_run_only_brings_what_the_previous_run_did_not(owner, blog, feed_server):
    workflow = make_workflow(owner)
    source = add_source(workflow, blog, {"window": "new"}, tags=["news"])

    first = run_workflow(workflow)

    (card,) = Card.objects.filter(execution=first)
    assert first.status == ExecutionStatus.SUCCESS
    assert card.title == "New from Blog"
    assert [e["title"] for e in card.data["entries"]] == ["Second", "First"]  # newest first
    assert card.data["entries"][0]["summary"] == "Second in depth"  # feed HTML reduced to words
    assert "- [Second](https://blog.example.com/b) — Second in depth" in card.content
    assert card.tags == ["news"]

    second = run_workflow(workflow)
    assert second.cards_made == 0  # nothing new: no card, nothing to send

    feed_server.serve(
        "/blog.rss", rss(("a", "First", 2), ("b", "Second", 3), ("c", "Third", 4)), content_type="application/rss+xml"
    )
    third = run_workflow(workflow)
    (card,) = Card.objects.filter(execution=third)
    assert [e["title"] for e in card.data["entries"]] == ["Third"]
    source.refresh_from_db()
    assert source.state["seen_until"]

    refresh_card(card)  # the same window again: still just "Third"
    card.refresh_from_db()
    assert [e["title"] for e in card.data["entries"]] == ["Third"]


def test_tomorrow_is_the_next_local_calendar_day(owner, feed_server, settings):
    settings.TIME_ZONE = "America/New_York"
    tz = zoneinfo.ZoneInfo("America/New_York")
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    after = tomorrow + datetime.timedelta(days=1)

    def at(day, hour, minute=0):
        return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=tz)

    feed_server.serve(
        "/cal.ics",
        ics(
            ("today", "Today standup", at(today, 15), at(today, 15, 30)),
            ("early", "Early flight", at(tomorrow, 0, 30), at(tomorrow, 2)),
            ("late", "Late call", at(tomorrow, 23, 30), at(tomorrow, 23, 55)),  # the day after, in UTC
            ("allday", "Holiday", tomorrow, tomorrow + datetime.timedelta(days=1)),
            ("after", "Day after", at(after, 9), at(after, 10)),
        ),
    )
    calendar = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, name="Family")
    workflow = make_workflow(owner)
    add_source(workflow, calendar, {"window": "tomorrow", "kind": "event"})

    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.SUCCESS, execution.errors
    (card,) = Card.objects.filter(execution=execution)
    assert card.title == "Family: tomorrow"
    assert [e["title"] for e in card.data["entries"]] == ["Holiday", "Early flight", "Late call"]  # all-day first
    assert f"- **{tomorrow:%a %d %b} 00:30\u201302:00** Early flight · Room 4" in card.content
    assert f"- **{tomorrow:%a %d %b}, all day** Holiday" in card.content
    assert card.request["window"]["start"] == at(tomorrow, 0).isoformat()


def test_text_filter_and_limit_say_how_many_more_there_were(owner, feed_server):
    entries = [(f"g{i}", f"Python tip {i}" if i % 2 else f"Rust note {i}", (i % 9) + 1) for i in range(7)]
    feed_server.serve("/blog.rss", rss(*entries), content_type="application/rss+xml")
    blog = connect(owner, "rss", config={"url": feed_server.url("/blog.rss")}, name="Blog")
    workflow = make_workflow(owner)
    add_source(workflow, blog, {"text_filter": "python", "limit": 2}, title="Python corner")

    execution = run_workflow(workflow)

    (card,) = Card.objects.filter(execution=execution)
    assert card.title == "Python corner"
    assert card.data["count"] == 2
    assert card.data["more"] == 1
    assert all("Python" in e["title"] for e in card.data["entries"])
    assert card.content.rstrip().endswith("- … and 1 more")


def test_one_card_per_item(owner, blog):
    workflow = make_workflow(owner)
    add_source(workflow, blog, one_card_per_item=True)

    execution = run_workflow(workflow)

    cards = Card.objects.filter(execution=execution).order_by("pk")
    assert [c.title for c in cards] == ["Second", "First"]
    assert cards[0].data["url"] == "https://blog.example.com/b"
    assert "Second in depth" in cards[0].content


def test_a_feed_that_is_gone_fails_its_source_with_the_fix(owner, blog, feed_server, fast_backoff):
    feed_server.sequence("/blog.rss", [Reply(404, b"nope")])
    workflow = make_workflow(owner)
    add_source(workflow, blog)

    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.FAILURE
    (error,) = execution.errors
    assert error["label"] == "Blog (RSS / Atom feed)"
    assert "HTTP 404" in error["message"]
    assert error["remediation"]


def test_the_step_schema_is_one_schema_in_the_shared_language():
    from integrations import schema

    assert schema.definition_errors(synced_items.SCHEMA) == []
    assert schema.clean(synced_items.SCHEMA, {}).values["window"] == "new"
    assert schema.clean(synced_items.SCHEMA, {"window": "yesterday"}).errors == {
        "window": "Which items: choose one of new, today, tomorrow, next_hours, past_hours."
    }
