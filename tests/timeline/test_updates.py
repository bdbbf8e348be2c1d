"""A record changed at its source after it was taken in: the entity, its place and its links follow."""

import datetime

import pytest

from tests.timeline.test_matching_and_links import T0, integration_of, live, store, take
from timeline.models import Link, LinkReason, Place

pytestmark = pytest.mark.usefixtures("catalogue")
HOUR = datetime.timedelta(hours=1)


def changed(item, when=None, **data):
    item.data = {**item.data, **data}
    if when is not None:
        item.occurred_at = when
    item.save()
    take(item)
    return item


def test_an_event_moved_to_another_day_lets_go_of_the_photos_of_its_old_time(owner):
    calendar, photos = integration_of(owner, "ical-feed", "Calendar"), integration_of(owner, "google-photos", "Photos")
    party = store(calendar, "party", "event", uid="party", start=T0.isoformat(), end=(T0 + 4 * HOUR).isoformat())
    saturday = store(photos, "sat", "photo", taken_at=(T0 + HOUR).isoformat(), width=4, height=3, sha256="sat")
    sunday = store(photos, "sun", "photo", taken_at=(T0 + 25 * HOUR).isoformat(), width=4, height=3, sha256="sun")
    take(party, saturday, sunday)
    event = live(owner, kind="event").get()
    assert list(Link.objects.filter(target=event).values_list("source__sources__item__external_id", flat=True)) == [
        "sat"
    ]

    changed(party, T0 + 24 * HOUR, start=(T0 + 24 * HOUR).isoformat(), end=(T0 + 28 * HOUR).isoformat())
    taken_during = Link.objects.filter(target=event, reason=LinkReason.TAKEN_DURING)
    assert list(taken_during.values_list("source__sources__item__external_id", flat=True)) == ["sun"]


def test_a_photo_whose_capture_time_is_corrected_leaves_the_event_it_was_not_taken_at(owner):
    calendar, photos = integration_of(owner, "ical-feed", "Calendar"), integration_of(owner, "google-photos", "Photos")
    party = store(calendar, "party", "event", uid="party", start=T0.isoformat(), end=(T0 + 4 * HOUR).isoformat())
    photo = store(photos, "p", "photo", taken_at=(T0 + HOUR).isoformat(), width=4, height=3, sha256="p")
    take(party, photo)
    assert Link.objects.count() == 1
    changed(photo, taken_at=(T0 - 48 * HOUR).isoformat())  # the camera's clock was two days ahead
    assert not Link.objects.exists()


def test_an_event_whose_location_changes_moves_to_the_new_place(owner):
    calendar, photos = integration_of(owner, "ical-feed", "Calendar"), integration_of(owner, "google-photos", "Photos")
    vienna, paris = [48.2104, 16.3655], [48.8584, 2.2945]
    dinner = store(
        calendar, "dinner", "event", uid="dinner", start=T0.isoformat(), end=(T0 + 3 * HOUR).isoformat(),
        location="Café Central", geo=vienna,
    )  # fmt: skip
    photo = store(photos, "p", "photo", taken_at=(T0 + HOUR).isoformat(), width=4, height=3, sha256="p",
                  geo={"lat": 48.8585, "lon": 2.2946})  # fmt: skip
    take(dinner, photo)
    event = live(owner, kind="event").get()
    assert event.place.name == "Café Central"
    assert not Link.objects.filter(reason=LinkReason.SAME_PLACE).exists()

    changed(dinner, location="Le Jules Verne", geo=paris)
    event.refresh_from_db()
    assert event.place.name == "Le Jules Verne"
    assert not Place.objects.filter(name="Café Central").exists()  # nothing else was there
    assert event.place == live(owner, kind="photo").get().place
    assert Link.objects.filter(target=event, reason=LinkReason.SAME_PLACE).exists()

    changed(dinner, location="", geo=None)  # the location removed: placed nowhere
    event.refresh_from_db()
    assert event.place is None
    assert not Link.objects.filter(reason=LinkReason.SAME_PLACE).exists()


def test_deleting_an_integration_with_its_data_leaves_no_place_person_or_content_of_it(
    owner, django_capture_on_commit_callbacks
):
    from integrations import lifecycle
    from timeline.models import Entity, Person

    clinic, home = [48.2082, 16.3738], [48.1951, 16.3483]
    feed, dav = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "caldav", "CalDAV")
    doctor, ann = {"name": "Dr Who", "email": "who@clinic.example"}, {"name": "Ann", "email": "ann@example.com"}
    take(
        store(feed, "f1", "event", title="Oncology", uid="f1", start=T0.isoformat(), location="Clinic", geo=clinic,
              attendees=[doctor]),
        store(feed, "f2", "event", uid="f2", start=T0.isoformat(), location="Home", geo=home, attendees=[ann]),
        store(dav, "d1", "event", uid="d1", start=T0.isoformat(), location="Home", geo=home, attendees=[ann]),
    )  # fmt: skip
    oncology = live(owner, kind="event").get(title="Oncology")
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete(feed, delete_data=True)

    # What the other integration still names stays; the clinic and the doctor went with the feed.
    assert list(Place.objects.filter(user=owner).values_list("name", flat=True)) == ["Home"]
    assert list(Person.objects.filter(user=owner).values_list("email", flat=True)) == ["ann@example.com"]
    gone = Entity.objects.get(pk=oncology.pk)
    assert gone.deleted_at is not None
    # The tombstone says only that a record was deleted (for "changes since"), not what it was.
    assert (gone.title, gone.summary, gone.fields, gone.search_text, gone.place_id) == ("", "", {}, "", None)
    assert not gone.people.exists()


def test_a_record_back_at_its_source_brings_its_emptied_tombstone_back_whole(owner):
    from django.utils import timezone

    feed = integration_of(owner, "ical-feed", "Feed")
    dinner = store(feed, "d", "event", title="Dinner", uid="d", start=T0.isoformat(), location="Home",
                   geo=[48.1951, 16.3483], attendees=[{"name": "Ann", "email": "ann@example.com"}])  # fmt: skip
    take(dinner)
    dinner.deleted_at = timezone.now()
    dinner.save()
    take(dinner)
    assert not live(owner).exists()
    dinner.deleted_at = None  # restored from the calendar app's trash
    dinner.save()
    take(dinner)
    event = live(owner, kind="event").get()
    assert (event.title, event.start_at, event.place.name) == ("Dinner", T0, "Home")
    assert [p.email for p in event.people.all()] == ["ann@example.com"]


def test_when_the_source_that_gave_the_time_leaves_the_entity_takes_the_others_time_and_links(
    owner, django_capture_on_commit_callbacks
):
    from integrations import lifecycle

    feed, dav = integration_of(owner, "ical-feed", "Feed"), integration_of(owner, "caldav", "CalDAV")
    photos = integration_of(owner, "google-photos", "Photos")
    saturday, sunday = T0, T0 + 24 * HOUR
    # The feed (first, so its values win) still has the party on Saturday; CalDAV has it moved to Sunday.
    take(store(feed, "f", "event", uid="party", start=saturday.isoformat(), end=(saturday + 4 * HOUR).isoformat()))
    take(store(dav, "d", "event", uid="party", start=sunday.isoformat(), end=(sunday + 4 * HOUR).isoformat()))
    take(
        store(photos, "sat", "photo", taken_at=(saturday + HOUR).isoformat(), width=4, height=3, sha256="sat"),
        store(photos, "sun", "photo", taken_at=(sunday + HOUR).isoformat(), width=4, height=3, sha256="sun"),
    )
    party = live(owner, kind="event").get()
    assert party.start_at == saturday

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete(feed, delete_data=True)
    party.refresh_from_db()
    assert party.start_at == sunday
    taken_during = Link.objects.filter(target=party, reason=LinkReason.TAKEN_DURING)
    assert list(taken_during.values_list("source__sources__item__external_id", flat=True)) == ["sun"]
