"""An event called off at its source: Google and Outlook drop it themselves, an iCal feed or a
CalDAV server keeps it with STATUS:CANCELLED. The record keeps it (the items page shows where it
came from and its status); the timeline does not show it, nor link photos to it."""

import datetime

import pytest

from integrations.models import SyncedItem
from tests.connectors.helpers import connect, sync
from tests.timeline import test_sources
from tests.timeline.test_sources import START, WIDE, ZURICH, _import, _takeout, vcalendar, vevent
from timeline.ingest import drain
from timeline.models import Entity, Link, LinkReason

pytestmark = pytest.mark.usefixtures("catalogue")
photos = test_sources.photos  # the photos integration fixture, shared
CANCELLED = "STATUS:CANCELLED\r\n"


def live_events(owner):
    return Entity.objects.filter(user=owner, kind="event", deleted_at__isnull=True)


def test_an_event_cancelled_in_its_feed_leaves_the_timeline_and_its_photo_and_comes_back_if_restored(
    owner, feed_server, photos, tmp_path
):
    feed_server.serve("/cal.ics", vcalendar(vevent("dinner-1", "Dinner"), vevent("lunch-1", "Lunch", hours=1)))
    feed = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE, name="Feed")
    assert sync(feed).status == "succeeded"
    _import(photos, [_takeout(tmp_path, START + datetime.timedelta(hours=2), ZURICH)])
    drain(owner.pk)
    dinner = live_events(owner).get(title="Dinner")
    photo = Entity.objects.get(user=owner, kind="photo")
    assert Link.objects.filter(source=photo, target=dinner, reason=LinkReason.TAKEN_DURING).exists()

    feed_server.serve(
        "/cal.ics", vcalendar(vevent("dinner-1", "Dinner", extra=CANCELLED), vevent("lunch-1", "Lunch", hours=1))
    )
    assert sync(feed).status == "succeeded"
    drain(owner.pk)
    assert list(live_events(owner).values_list("title", flat=True)) == ["Lunch"]
    assert not Link.objects.filter(source=photo, target=dinner).exists()
    record = SyncedItem.objects.get(integration=feed, external_id="dinner-1")
    assert record.deleted_at is None  # the record keeps it, with its status
    assert record.data["status"] == "CANCELLED"

    feed_server.serve("/cal.ics", vcalendar(vevent("dinner-1", "Dinner"), vevent("lunch-1", "Lunch", hours=1)))
    sync(feed)
    drain(owner.pk)
    dinner = live_events(owner).get(title="Dinner")
    assert Link.objects.filter(source=photo, target=dinner, reason=LinkReason.TAKEN_DURING).exists()


def test_a_cancelled_occurrence_of_a_weekly_series_is_not_on_the_timeline(owner, feed_server):
    fmt = "%Y%m%dT%H%M%SZ"
    second = START + datetime.timedelta(weeks=1)
    series = vevent("weekly-1", "Standup", hours=1, extra="RRULE:FREQ=WEEKLY;COUNT=3\r\n")
    called_off = vevent(
        "weekly-1", "Standup", start=second, hours=1, extra=f"RECURRENCE-ID:{second.strftime(fmt)}\r\n{CANCELLED}"
    )
    feed_server.serve("/cal.ics", vcalendar(series, called_off))
    feed = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE, name="Feed")
    assert sync(feed).status == "succeeded"
    drain(owner.pk)
    assert sorted(live_events(owner).values_list("start_at", flat=True)) == [START, START + datetime.timedelta(weeks=2)]


def test_a_new_event_that_arrives_cancelled_never_reaches_the_timeline(owner, feed_server):
    feed_server.serve("/cal.ics", vcalendar(vevent("off-1", "Called off", extra=CANCELLED)))
    feed = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE, name="Feed")
    assert sync(feed).status == "succeeded"
    drain(owner.pk)
    assert SyncedItem.objects.filter(integration=feed).count() == 1
    assert not Entity.objects.filter(user=owner, kind="event").exists()
