"""Places: a place known first only by the name a calendar gave and then with coordinates is one
place; a name several far-apart places carry ("Home") stays apart; and nearby points on both
sides of the 180th meridian are one place."""

import datetime

import pytest

from tests.timeline.test_matching_and_links import T0, integration_of, live, store, take
from timeline.models import Link, LinkReason, Place

pytestmark = pytest.mark.usefixtures("catalogue")
HOUR = datetime.timedelta(hours=1)
CAFE = [48.2104, 16.3655]  # Café Central, Vienna


def event(calendar, uid, when=T0, **data):
    return store(calendar, uid, "event", uid=uid, start=when.isoformat(), end=(when + 3 * HOUR).isoformat(), **data)


def photo(photos, name, when, **data):
    return store(photos, name, "photo", taken_at=when.isoformat(), width=4, height=3, sha256=name, **data)


def test_a_place_known_by_name_becomes_the_place_with_coordinates_of_that_name(owner):
    google, icloud = integration_of(owner, "google-calendar", "Google"), integration_of(owner, "caldav", "iCloud")
    photos = integration_of(owner, "google-photos", "Photos")
    # Google gives the LOCATION only; a photo is taken there during the dinner.
    dinner = event(google, "dinner", location="Café  Central")
    snap = photo(photos, "snap", T0 + HOUR, geo={"lat": 48.21045, "lon": 16.36555})
    take(dinner, snap)
    assert Place.objects.filter(user=owner).count() == 2  # nothing says yet that the name is there

    # iCloud's event at the same café, with GEO: the name is that point.
    lunch = event(icloud, "lunch", T0 + 24 * HOUR, location="café central", geo=CAFE)
    take(lunch)
    assert Place.objects.filter(user=owner).count() == 1
    place = Place.objects.get(user=owner)
    assert (place.lat, place.lon) == (pytest.approx(48.21045), pytest.approx(16.36555))
    assert place.label == "café central"
    assert "Café Central" in place.names
    assert {e.place_id for e in live(owner)} == {place.pk}
    first = live(owner, kind="event").get(sources__item=dinner)
    assert Link.objects.filter(target=first, reason=LinkReason.SAME_PLACE).exists()  # the photo, now the same place
    # The dinner's new place is a change a consumer of "changes since" hears about.
    assert first.seq > live(owner, kind="photo").get().seq

    # Later records with only the name go to that place too.
    take(event(google, "coffee", T0 + 48 * HOUR, location="Café Central"))
    assert Place.objects.filter(user=owner).count() == 1


def test_a_name_only_record_after_the_place_with_coordinates_joins_it(owner):
    calendar = integration_of(owner, "caldav", "iCloud")
    take(event(calendar, "a", location="Café Central", geo=CAFE))
    take(event(calendar, "b", T0 + 24 * HOUR, location="Café Central"))
    assert Place.objects.filter(user=owner).count() == 1
    assert live(owner).exclude(place__lat=None).count() == 2


def test_home_in_two_cities_stays_apart_and_the_name_alone_is_placed_at_neither(owner):
    calendar = integration_of(owner, "caldav", "iCloud")
    vienna, new_york = [48.1951, 16.3483], [40.7306, -73.9866]
    take(
        event(calendar, "v", location="Home", geo=vienna),
        event(calendar, "n", T0 + 24 * HOUR, location="Home", geo=new_york),
        event(calendar, "x", T0 + 48 * HOUR, location="Home"),
    )
    places = {e.sources.get().item.external_id: e.place for e in live(owner)}
    assert len({p.pk for p in places.values()}) == 3
    assert places["x"].lat is None
    assert (places["v"].lat, places["n"].lat) == (48.1951, 40.7306)

    # A third Home with coordinates does not take the name-only one: the name is still ambiguous.
    take(event(calendar, "s", T0 + 72 * HOUR, location="Home", geo=[-33.8688, 151.2093]))
    assert live(owner).get(sources__item__external_id="x").place.lat is None


def test_a_name_that_turns_out_to_be_two_places_gives_back_the_records_that_only_named_it(owner):
    google, icloud = integration_of(owner, "google-calendar", "Google"), integration_of(owner, "caldav", "iCloud")
    photos = integration_of(owner, "google-photos", "Photos")
    take(event(google, "x", location="Home"), photo(photos, "p", T0 + HOUR, geo={"lat": 48.1951, "lon": 16.3483}))
    take(event(icloud, "v", T0 + 24 * HOUR, location="Home", geo=[48.1951, 16.3483]))
    # The first Home with coordinates took the name: nothing else had it then.
    by_id = {e.sources.get().item.external_id: e.place for e in live(owner)}
    assert by_id["x"] == by_id["v"] == by_id["p"]
    x = live(owner).get(sources__item__external_id="x")
    assert Link.objects.filter(target=x, reason=LinkReason.SAME_PLACE).exists()

    # A second Home, in New York: the name alone says neither, and the Vienna one keeps only what
    # had its coordinates.
    take(event(icloud, "n", T0 + 48 * HOUR, location="Home", geo=[40.7306, -73.9866]))
    by_id = {e.sources.get().item.external_id: e.place for e in live(owner)}
    assert by_id["x"].lat is None
    assert by_id["v"] == by_id["p"] != by_id["n"]
    assert Place.objects.filter(user=owner).count() == 3
    assert not Link.objects.filter(reason=LinkReason.SAME_PLACE).exists()  # the photo is not at the name alone
    assert live(owner).get(pk=x.pk).seq > x.seq  # a change "changes since" reports
    take(event(google, "y", T0 + 72 * HOUR, location="home"))
    assert live(owner).get(sources__item__external_id="y").place == by_id["x"]


@pytest.mark.parametrize(
    ("west", "east"),
    [
        ((-16.8, 179.99955), (-16.8, -179.99955)),  # Taveuni, Fiji: 96 m apart across the meridian
        ((65.0, 180.0), (65.0, -179.9985)),  # Chukotka, a point written as 180 and one just east of it
        ((51.8, -179.9995), (51.8, 179.9993)),  # the Aleutians, the other way round
    ],
)
def test_points_a_hundred_metres_apart_across_the_antimeridian_are_one_place(owner, west, east):
    from timeline.places import distance_m

    assert distance_m(*west, *east) < 150
    photos = integration_of(owner, "google-photos", "Photos")
    take(photo(photos, "w", T0, geo=list(west)))
    take(photo(photos, "e", T0 + HOUR, geo=list(east)))
    assert Place.objects.filter(user=owner).count() == 1
    assert live(owner, kind="photo").values("place").distinct().count() == 1


def test_points_far_apart_across_the_antimeridian_stay_two_places(owner):
    photos = integration_of(owner, "google-photos", "Photos")
    take(photo(photos, "w", T0, geo=[-16.8, 179.99]), photo(photos, "e", T0 + HOUR, geo=[-16.8, -179.99]))
    assert Place.objects.filter(user=owner).count() == 2


def test_a_named_record_in_the_same_batch_as_an_unnamed_one_there_still_takes_the_name(owner):
    calendar, photos = integration_of(owner, "google-calendar", "Google"), integration_of(owner, "google-photos", "P")
    take(event(calendar, "dinner", location="Café Central"))
    visits = integration_of(owner, "google-location-history", "Timeline")
    take(
        photo(photos, "snap", T0 + HOUR, geo={"lat": 48.21045, "lon": 16.36555}),  # the place, not yet named
        store(
            visits, "visit", "location_visit", when=T0, place_name="Café Central", geo={"lat": 48.2104, "lon": 16.3655}
        ),
    )
    assert Place.objects.filter(user=owner).count() == 1
