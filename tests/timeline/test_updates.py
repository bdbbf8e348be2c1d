"""A record changed at its source after it was taken in: the entity, its place and its links follow."""

import datetime

import pytest

from tests.timeline.test_matching_and_links import T0, integration_of, live, store, take
from timeline.models import Link, LinkReason

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
    assert event.place == live(owner, kind="photo").get().place
    assert Link.objects.filter(target=event, reason=LinkReason.SAME_PLACE).exists()

    changed(dinner, location="", geo=None)  # the location removed: placed nowhere
    event.refresh_from_db()
    assert event.place is None
    assert not Link.objects.filter(reason=LinkReason.SAME_PLACE).exists()
