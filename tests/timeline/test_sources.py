"""The timeline over real syncs: the same event from an iCal feed (local HTTP server) and CalDAV
(Radicale) is one entity with two sources, a photo taken during a CalDAV event is linked to it,
and removing a source keeps the entity while another still holds it."""

import datetime
import json
import uuid
import zipfile

import pytest

from integrations.models import SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import connect, sync
from tests.factories import make_integration
from timeline.ingest import drain
from timeline.models import Entity, EntityPerson, Link, LinkReason, PendingItem

pytestmark = [pytest.mark.usefixtures("catalogue"), pytest.mark.peer]
UTC = datetime.UTC
START = datetime.datetime(2026, 6, 12, 9, 0, tzinfo=UTC)


def vevent(uid: str, title: str, start=START, hours=3, extra="") -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + datetime.timedelta(hours=hours)
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{end.strftime(fmt)}\r\nSUMMARY:{title}\r\n{extra}END:VEVENT\r\n"
    )


def vcalendar(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


WIDE = {"window_past_days": 3650, "window_future_days": 3650}


@pytest.fixture
def caldav(radicale, allow_host):
    allow_host(radicale.host)
    return radicale


def connect_caldav(owner, server, calendar):
    config = {"server_url": server.url, "username": server.username, "calendars": [calendar.get_display_name()]}
    return connect(owner, "caldav", secrets={"password": server.password}, config={**config, **WIDE}, name="CalDAV")


def entities(owner, **filters):
    return Entity.objects.filter(user=owner, deleted_at__isnull=True, **filters)


def test_the_same_event_from_a_feed_and_caldav_is_one_entity_until_both_sources_are_gone(owner, feed_server, caldav):
    uid = f"{uuid.uuid4()}@example.com"
    shared = vevent(uid, "Design review", extra="LOCATION:Room 4\r\nATTENDEE;CN=Ann:mailto:ann@example.com\r\n")
    feed_server.serve("/cal.ics", vcalendar(shared, vevent("only-in-feed", "Feed only")))
    calendar = caldav.make_calendar(f"Work {uuid.uuid4().hex[:6]}")
    caldav.put(calendar, "review.ics", vcalendar(shared))
    feed = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE, name="Feed")
    dav = connect_caldav(owner, caldav, calendar)
    assert sync(feed).status == "succeeded"
    assert sync(dav).status == "succeeded"

    assert PendingItem.objects.filter(user=owner).count() == 3  # the sync queued them for the timeline
    assert drain(owner.pk) == 3
    review = entities(owner, kind="event").get(title="Design review")
    assert sorted(s.item.integration.name for s in review.sources.select_related("item__integration")) == [
        "CalDAV",
        "Feed",
    ]
    assert review.start_at == START
    assert review.end_at == START + datetime.timedelta(hours=3)
    assert review.fields["uid"] == uid
    assert review.place.name == "Room 4"
    ann = EntityPerson.objects.get(entity=review, role="attendees").person
    assert ann.email == "ann@example.com"
    assert ann.name == "Ann"
    assert entities(owner, kind="event").count() == 2  # the feed-only event is its own entity

    # The feed drops the event: its record is tombstoned, the entity lives on through CalDAV.
    feed_server.serve("/cal.ics", vcalendar(vevent("only-in-feed", "Feed only")))
    sync(feed)
    drain(owner.pk)
    review.refresh_from_db()
    assert review.deleted_at is None
    assert [s.item.integration.name for s in review.sources.select_related("item__integration")] == ["CalDAV"]
    seq_before = review.seq

    # CalDAV drops it too: no source is left, so the entity is deleted, as a numbered change.
    caldav.delete(calendar, "review.ics")
    sync(dav)
    drain(owner.pk)
    review.refresh_from_db()
    assert review.deleted_at is not None
    assert review.seq > seq_before


def _jpeg(width: int, height: int, payload: bytes) -> bytes:
    import struct

    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + payload


def _takeout(tmp_path, taken: datetime.datetime, geo: dict, name: str = "IMG_1.jpg") -> str:
    path = tmp_path / f"takeout-{uuid.uuid4().hex[:6]}-001.zip"
    sidecar = {
        "title": name,
        "photoTakenTime": {"timestamp": str(int(taken.timestamp()))},
        "geoData": {"latitude": geo["lat"], "longitude": geo["lon"], "altitude": 0},
        "people": [{"name": "Ann"}],
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"Takeout/Google Photos/Trip/{name}", _jpeg(800, 600, uuid.uuid4().bytes))
        archive.writestr(f"Takeout/Google Photos/Trip/{name}.supplemental-metadata.json", json.dumps(sidecar))
    return str(path)


@pytest.fixture
def photos(owner, settings, tmp_path):
    from integrations.models import IntegrationType

    settings.MEDIA_ROOT = tmp_path / "media"
    return make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")


def _import(integration, paths):
    job = queue_sync(integration, kind="backfill", options={"archive_paths": paths}, enqueue=False)
    return run_job(job.pk)


ZURICH = {"lat": 47.3769, "lon": 8.5417}


def test_a_photo_taken_during_a_caldav_event_is_linked_to_it_on_both_sides(owner, caldav, photos, tmp_path):
    calendar = caldav.make_calendar(f"Trip {uuid.uuid4().hex[:6]}")
    geo = "GEO:47.3770;8.5416\r\n"
    caldav.put(calendar, "dinner.ics", vcalendar(vevent("dinner-1", "Dinner in Zurich", extra=geo)))
    dav = connect_caldav(owner, caldav, calendar)
    sync(dav)
    drain(owner.pk)
    # The photo arrives later, as new items do: the link is made as it comes in.
    assert _import(photos, [_takeout(tmp_path, START + datetime.timedelta(hours=1), ZURICH)]).status == "succeeded"
    drain(owner.pk)

    dinner = entities(owner, kind="event").get()
    photo = entities(owner, kind="photo").get()
    reasons = set(Link.objects.filter(source=photo, target=dinner).values_list("reason", flat=True))
    assert reasons == {LinkReason.TAKEN_DURING, LinkReason.SAME_PLACE}
    assert photo.place == dinner.place  # 13 m apart: one place
    assert dinner.place.locality
    assert dinner.place.country == "Switzerland"
    assert list(dinner.links_in.values_list("source", flat=True).distinct()) == [photo.pk]

    # A photo taken the next day is not "during" the dinner.
    _import(photos, [_takeout(tmp_path, START + datetime.timedelta(days=1), ZURICH, name="IMG_2.jpg")])
    drain(owner.pk)
    later = entities(owner, kind="photo").exclude(pk=photo.pk).get()
    assert not Link.objects.filter(source=later, target=dinner, reason=LinkReason.TAKEN_DURING).exists()
    assert later.place == dinner.place  # same place all the same


def test_another_users_records_never_join_or_link_to_mine(owner, other_user, feed_server):
    uid = f"{uuid.uuid4()}@example.com"
    feed_server.serve("/shared.ics", vcalendar(vevent(uid, "Public holiday")))
    mine = connect(owner, "ical-feed", secrets={"url": feed_server.url("/shared.ics")}, config=WIDE)
    theirs = connect(other_user, "ical-feed", secrets={"url": feed_server.url("/shared.ics")}, config=WIDE)
    sync(mine)
    sync(theirs)
    drain(owner.pk)
    drain(other_user.pk)
    own = Entity.objects.get(user=owner)
    other = Entity.objects.get(user=other_user)
    assert own.pk != other.pk
    assert [s.item.user_id for s in own.sources.select_related("item")] == [owner.pk]
    assert SyncedItem.objects.filter(user=owner).count() == 1
