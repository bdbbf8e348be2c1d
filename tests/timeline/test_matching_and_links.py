"""Matching, places, people and links on stored records (no network: the records are stored as a
sync would store them, then taken into the timeline)."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from connectors.kinds import coerce
from integrations import lifecycle
from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity, Link, LinkReason, Person, Place

pytestmark = pytest.mark.usefixtures("catalogue")
UTC = datetime.UTC
T0 = datetime.datetime(2026, 3, 14, 18, 0, tzinfo=UTC)


def integration_of(user, slug, name):
    return make_integration(user, IntegrationType.objects.get(slug=slug), name=name)


def store(integration, external_id, kind, *, title="", when=T0, **data):
    return SyncedItem.objects.create(
        user=integration.user,
        integration=integration,
        kind=kind,
        external_id=external_id,
        title=title or external_id,
        occurred_at=when,
        data=data,
        content_hash=external_id,
        source_type=integration.type.slug,
        source_name=integration.name,
        fetched_at=timezone.now(),
    )


def take(*items):
    return ingest(items[0].user_id, [i.pk for i in items])


def live(user, **filters):
    return Entity.objects.filter(user=user, deleted_at__isnull=True, **filters)


def test_the_same_mail_from_gmail_and_imap_is_one_entity_linked_to_the_event_with_its_attendee(owner):
    gmail, imap = integration_of(owner, "gmail", "Gmail"), integration_of(owner, "imap", "Mailbox")
    calendar = integration_of(owner, "ical-feed", "Calendar")
    event = store(
        calendar,
        "party",
        "event",
        title="Pi day party",
        start=T0.isoformat(),
        end=(T0 + datetime.timedelta(hours=4)).isoformat(),
        uid="party@example.com",
        attendees=[{"name": "Ann", "email": "Ann@Example.com"}, {"name": "Me", "email": owner.email}],
    )
    take(event)
    mid = "<CAF123@mail.example.com>"
    two_days_before = T0 - datetime.timedelta(days=2)
    in_gmail = store(
        gmail, "msg:1", "message", when=two_days_before, message_id=mid, **{"from": "Ann <ann@example.com>"}
    )
    in_imap = store(
        imap,
        "INBOX:7:1",
        "message",
        when=two_days_before,
        message_id=mid.upper(),
        to=[{"name": "", "email": owner.email}],
        **{"from": {"name": "Ann", "email": "ann@example.com"}},
    )
    take(in_gmail, in_imap)

    mail = live(owner, kind="message").get()
    assert mail.sources.count() == 2
    party = live(owner, kind="event").get()
    assert Link.objects.filter(source=mail, target=party, reason=LinkReason.ATTENDEE).exists()
    assert list(Person.objects.filter(user=owner).values_list("email", flat=True)) == ["ann@example.com"]

    # A mail with Ann a month later is about something else.
    later = store(gmail, "msg:2", "message", when=T0 + datetime.timedelta(days=30), message_id="<other@x>")
    later.data["from"] = "ann@example.com"
    later.save()
    take(later)
    assert not Link.objects.filter(source__fields__message_id="other@x").exists()
    assert Link.objects.filter(target=party).count() == 1


def test_plays_from_the_api_and_the_export_are_one_but_two_plays_in_one_source_stay_two(owner):
    api, export = integration_of(owner, "spotify", "API"), integration_of(owner, "spotify", "Export")
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    base = {"track_name": "Never Gonna Give You Up", "artists": ["Rick Astley"], "uri": uri, "duration_ms": 213000}
    played = T0.isoformat()
    a = store(api, "play-api", "play", played_at=played, **base)
    b = store(
        export, "play-export", "play", played_at=(T0 + datetime.timedelta(seconds=4)).isoformat(), ms_played=213000,
        track_name=base["track_name"], artists=base["artists"], track_id="4uLU6hMCjMI75M1A2tKUQC",
    )  # fmt: skip
    c = store(api, "play-api-2", "play", played_at=(T0 + datetime.timedelta(seconds=5)).isoformat(), **base)
    take(a, b, c)
    plays = live(owner, kind="play")
    assert plays.count() == 2
    merged = plays.get(sources__item=a)
    assert merged.sources.count() == 2
    assert merged.fields["artist"] == "Rick Astley"
    assert merged.start_at == T0 - datetime.timedelta(milliseconds=213000)


def test_photos_close_together_share_a_place_and_far_ones_do_not(owner):
    photos = integration_of(owner, "google-photos", "Photos")
    near_a = store(photos, "a", "photo", geo={"lat": 48.8584, "lon": 2.2945}, width=10, height=10, sha256="a")
    near_b = store(photos, "b", "photo", geo={"lat": 48.8590, "lon": 2.2950}, width=10, height=10, sha256="b")
    far = store(photos, "c", "photo", geo={"lat": 48.8738, "lon": 2.2950}, width=10, height=10, sha256="c")
    nowhere = store(photos, "d", "photo", geo={"lat": 0, "lon": 0}, width=10, height=10, sha256="d")
    take(near_a, near_b, far, nowhere)
    place = {e.sources.get().item.external_id: e.place for e in live(owner, kind="photo")}
    assert place["a"] == place["b"] != place["c"]
    assert place["d"] is None  # (0, 0) is what cameras write when they know nothing
    assert place["a"].country == "France"
    assert Place.objects.filter(user=owner).count() == 2


def test_same_second_and_size_in_one_source_are_two_photos_but_across_sources_one(owner):
    one, two = integration_of(owner, "google-photos", "Picker"), integration_of(owner, "google-photos", "Takeout")
    burst_1 = store(one, "b1", "photo", width=4000, height=3000, sha256="1", taken_at=T0.isoformat())
    burst_2 = store(one, "b2", "photo", width=4000, height=3000, sha256="2", taken_at=T0.isoformat())
    take(burst_1, burst_2)
    assert live(owner, kind="photo").count() == 2
    reencoded = store(two, "t1", "photo", width=4000, height=3000, sha256="3", taken_at=T0.isoformat())
    take(reencoded)
    assert live(owner, kind="photo").count() == 2  # joined one of them, as a second source
    assert sum(e.sources.count() for e in live(owner, kind="photo")) == 3


def test_deleting_an_integration_with_its_data_keeps_entities_another_source_holds(
    owner, django_capture_on_commit_callbacks
):
    feed, dav = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "caldav", "CalDAV")
    shared = {"uid": "x@example.com", "start": T0.isoformat()}
    take(store(feed, "f1", "event", **shared), store(dav, "d1", "event", **shared))
    take(store(feed, "f2", "event", uid="only-feed", start=T0.isoformat()))
    event = live(owner, kind="event").get(fields__uid="x@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete(feed, delete_data=True)
    event.refresh_from_db()
    assert event.deleted_at is None
    assert event.sources.count() == 1
    assert live(owner, kind="event").count() == 1  # the feed-only one went with its source


def test_changes_are_numbered_per_user_and_in_order(owner, other_user):
    mine, theirs = integration_of(owner, "ical-feed", "A"), integration_of(other_user, "ical-feed", "B")
    take(store(mine, "1", "event", uid="1"), store(mine, "2", "event", uid="2"))
    take(store(theirs, "1", "event", uid="1"))
    take(store(mine, "3", "event", uid="3"))
    assert list(Entity.objects.filter(user=owner).order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]
    assert list(Entity.objects.filter(user=other_user).values_list("seq", flat=True)) == [1]


def test_build_timeline_takes_in_records_stored_before_and_is_safe_to_run_again(owner):
    feed = integration_of(owner, "ical-feed", "Feed")
    for n in range(3):
        store(feed, f"old-{n}", "event", uid=f"old-{n}")
    out = io.StringIO()
    call_command("build_timeline", user=owner.email, stdout=out)
    assert "3 records in the timeline" in out.getvalue()
    call_command("build_timeline", stdout=io.StringIO())
    assert live(owner, kind="event").count() == 3


def test_typed_fields_are_coerced_to_their_json_form():
    fields = coerce(
        "transaction",
        {"amount": 12.1, "date": "2026-01-02T10:00:00", "currency": "EUR", "memo": {"nested": 1}, "status": None},
    )
    assert fields == {"amount": "12.1", "date": "2026-01-02", "currency": "EUR"}
    assert coerce("photo", {"geo": [91, 0]}) == {}
    assert coerce("event", {"attendees": "Ann <ANN@x.org>, bob@y.org"})["attendees"] == [
        {"name": "Ann", "email": "ann@x.org"},
        {"name": "", "email": "bob@y.org"},
    ]


def test_a_burst_from_two_services_joins_each_photo_to_its_own_copy_never_to_its_neighbour(owner):
    """A burst: many photos in one second, one size. The Takeout holds other bytes than the Apple
    export (Google rewrites them), so the capture time and size join them, and the file name tells
    the photos of the burst apart."""
    apple = integration_of(owner, "apple-photos", "Apple Photos")
    google = integration_of(owner, "google-photos", "Takeout")
    burst = [f"IMG_{n:04d}" for n in range(1, 4)]
    taken = T0.isoformat()
    first = store(apple, "a1", "photo", width=4032, height=3024, sha256="a1", start=taken, filename=f"{burst[0]}.HEIC")
    take(first)
    # Only the second and third of the burst reached Google, the second before the third.
    size = {"width": 4032, "height": 3024}
    copies = [
        store(google, f"g{n}", "photo", sha256=f"g{n}", taken_at=taken, filename=f"{name}.HEIC", **size)
        for n, name in ((2, burst[1]), (3, burst[2]))
    ]
    take(*copies)
    assert live(owner, kind="photo").count() == 3  # IMG_0002 and IMG_0003 are not IMG_0001
    rest = [
        store(apple, f"a{n}", "photo", sha256=f"a{n}", start=taken, filename=f"{name}.heic", **size)
        for n, name in ((3, burst[2]), (2, burst[1]))
    ]
    take(*rest)
    photos = live(owner, kind="photo")
    assert photos.count() == 3
    for entity in photos:
        names = {s.item.data["filename"].casefold() for s in entity.sources.select_related("item")}
        assert len(names) == 1, names
        assert entity.sources.count() == (1 if names == {"img_0001.heic"} else 2)


def test_a_photo_whose_services_report_its_size_turned_is_one_entity(owner):
    """One service gives the stored pixels (4032x3024), another the size as shown (3024x4032)."""
    apple = integration_of(owner, "apple-photos", "Apple Photos")
    google = integration_of(owner, "google-photos", "Picker")
    a = store(apple, "a", "photo", width=4032, height=3024, sha256="a", start=T0.isoformat(), filename="IMG_1.JPG")
    g = store(google, "g", "photo", width=3024, height=4032, sha256="g", taken_at=T0.isoformat(), filename="IMG_1.JPG")
    take(a, g)
    assert live(owner, kind="photo").get().sources.count() == 2


@pytest.mark.parametrize("event_first", [True, False])
def test_a_photo_is_taken_during_an_all_day_event_of_its_date_where_the_person_lives(owner, event_first):
    """An all-day event is a date, not 24 hours of UTC: in Berlin (UTC+1 in March) a photo at 00:30
    on the 14th is on that day (23:30 UTC on the 13th), and one at 00:30 on the 15th is not."""
    from integrations.timezones import set_zone

    set_zone(owner, "Europe/Berlin")
    calendar = integration_of(owner, "ical-feed", "Calendar")
    photos = integration_of(owner, "apple-photos", "Apple Photos")
    day = store(calendar, "fair", "event", title="Book fair", start="2026-03-14", end="2026-03-15", all_day=True)
    taken = {
        "just after midnight": "2026-03-14T00:30:00+01:00",
        "late evening": "2026-03-14T23:30:00+01:00",
        "the next day": "2026-03-15T00:30:00+01:00",
        "the day before": "2026-03-13T23:30:00+01:00",
    }
    shots = [store(photos, n, "photo", sha256=n, start=when, filename=f"{n}.jpg") for n, when in taken.items()]
    take(*([day, *shots] if event_first else [*shots, day]))

    fair = live(owner, kind="event").get()
    during = {link.source.sources.get().item.external_id for link in Link.objects.filter(target=fair)}
    assert during == {"just after midnight", "late evening"}


def test_a_copy_number_an_exporter_added_to_a_name_still_joins_but_a_phones_burst_number_does_not(owner):
    """osxphotos names a second "IMG_0002.HEIC" in one folder "IMG_0002 (1).HEIC", Windows
    "IMG_0002(1).HEIC": the same photo. Some phones name the shots of a burst "IMG…~2.jpg": others."""
    apple = integration_of(owner, "apple-photos", "Apple Photos")
    google = integration_of(owner, "google-photos", "Takeout")
    size = {"width": 4000, "height": 3000, "taken_at": T0.isoformat()}
    take(
        store(apple, "a", "photo", sha256="a", filename="IMG_0002 (1).HEIC", **size),
        store(apple, "h", "photo", sha256="h", filename="IMG20240221145914~2.jpg", **size),
    )
    take(
        store(google, "g", "photo", sha256="g", filename="IMG_0002.HEIC", **size),
        store(google, "w", "photo", sha256="w", filename="IMG20240221145914.jpg", **size),
    )
    joined = {e.sources.count() for e in live(owner, kind="photo")}
    assert live(owner, kind="photo").count() == 3
    assert joined == {1, 2}
    assert live(owner, kind="photo", sources__item__external_id="a").get().sources.count() == 2


def test_choosing_another_zone_relinks_all_day_events_to_the_dates_where_the_person_now_lives(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    from django_q import tasks as q_tasks

    from integrations.timezones import set_zone
    from timeline.tasks import relink_all_day

    set_zone(owner, "Europe/Berlin")
    calendar = integration_of(owner, "ical-feed", "Calendar")
    photos = integration_of(owner, "apple-photos", "Apple Photos")
    day = store(calendar, "fair", "event", title="Book fair", start="2026-03-14", end="2026-03-15", all_day=True)
    shot = store(photos, "late", "photo", sha256="late", start="2026-03-14T23:30:00+01:00", filename="late.jpg")
    take(day, shot)
    fair, photo = live(owner, kind="event").get(), live(owner, kind="photo").get()
    assert Link.objects.filter(source=photo, target=fair).exists()  # 23:30 on the 14th in Berlin

    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    with django_capture_on_commit_callbacks(execute=True):
        set_zone(owner, "Asia/Tokyo")  # the same moment is 07:30 on the 15th there
    assert queued == [("timeline.tasks.relink_all_day", (owner.pk,))]
    assert relink_all_day(owner.pk) == 1
    assert not Link.objects.filter(source=photo, target=fair).exists()

    with django_capture_on_commit_callbacks(execute=True):
        set_zone(owner, "Asia/Tokyo")  # the same zone again: nothing to redo
    assert len(queued) == 1
