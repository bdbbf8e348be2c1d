"""The timeline pages: a day and a week in the person's time zone, search, a record with its
sources and links on both sides, a place and a person; another user's pages are 404."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity, Place

pytestmark = pytest.mark.usefixtures("catalogue")
ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
ONE_MINUTE = datetime.timedelta(minutes=1)
SUNDAY_1400 = datetime.datetime(2026, 3, 15, 14, 0, tzinfo=ZURICH)  # 13:00 UTC


def store(integration, external_id, kind, when, title="", **data):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id,
        title=title or external_id, occurred_at=when, data=data, content_hash=external_id,
        source_type=integration.type.slug, source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def day_of_records(owner):
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    end = SUNDAY_1400 + datetime.timedelta(hours=2)
    items = [
        store(feed, "talk", "event", SUNDAY_1400, title="Conference talk", start=SUNDAY_1400.isoformat(),
              end=end.isoformat(), tzid="Europe/Zurich", location="Kongresshaus", uid="talk"),
        store(feed, "holiday", "event", None, title="Spring holiday", start="2026-03-15", all_day=True,
              uid="holiday"),
        store(photos, "slide", "photo", SUNDAY_1400 + datetime.timedelta(minutes=20), title="Slide photo",
              sha256="s", width=3, height=2, geo={"lat": 47.3661, "lon": 8.5336}),
    ]  # fmt: skip
    ingest(owner.pk, [i.pk for i in items])
    return items


def _live_in(client, owner, zone: str):
    """The person's time zone setting, as the preferences page stores it (and the session keeps it)."""
    from integrations.timezones import SESSION_KEY, set_zone

    set_zone(owner, zone)
    session = client.session
    session[SESSION_KEY] = zone
    session.save()


def test_the_day_view_shows_times_in_the_persons_zone_and_all_day_records_on_their_date(
    owner_client, owner, day_of_records
):
    _live_in(owner_client, owner, "Europe/Zurich")  # the hub itself runs on UTC
    page = owner_client.get("/timeline/", {"date": "2026-03-15"}).content.decode()
    assert "Conference talk" in page
    assert "14:00\u201316:00" in page  # shown in Zurich time, not the server's UTC
    assert "Sunday 15 March 2026" in page
    assert "Spring holiday" in page
    assert "Slide photo" in page
    _live_in(owner_client, owner, "America/New_York")
    page = owner_client.get("/timeline/", {"date": "2026-03-15"}).content.decode()
    saturday = owner_client.get("/timeline/", {"date": "2026-03-14"}).content.decode()
    assert "Spring holiday" in page  # an all-day date stays on its date in every zone
    assert "Spring holiday" not in saturday
    assert "09:00\u201311:00" in page
    assert "(14:00 Europe/Zurich)" in page  # and the event's own zone, where it differs


def test_the_week_view_filter_and_search(owner_client, day_of_records):
    week = owner_client.get("/timeline/", {"date": "2026-03-11", "view": "week"}).content.decode()
    assert "Conference talk" in week
    photos_only = owner_client.get("/timeline/", {"date": "2026-03-15", "kind": "photo"}).content.decode()
    assert "Slide photo" in photos_only
    assert "Conference talk" not in photos_only
    found = owner_client.get("/timeline/", {"q": "kongresshaus"}).content.decode()
    assert "Conference talk" in found
    assert "Slide photo" not in found
    assert "Nothing matches" in owner_client.get("/timeline/", {"q": "zeppelin"}).content.decode()


def test_record_place_and_person_pages_and_the_link_on_both_sides(owner_client, day_of_records, owner):
    talk = Entity.objects.get(user=owner, title="Conference talk")
    photo = Entity.objects.get(user=owner, title="Slide photo")
    talk_page = owner_client.get(f"/timeline/records/{talk.pk}/").content.decode()
    assert "Slide photo" in talk_page
    assert "taken during" in talk_page
    assert "Feed" in talk_page  # its source, with provenance
    assert "Conference talk" in owner_client.get(f"/timeline/records/{photo.pk}/").content.decode()
    place = Place.objects.get(user=owner, pk=photo.place_id)
    place_page = owner_client.get(f"/timeline/places/{place.pk}/").content.decode()
    assert "Slide photo" in place_page
    assert "Switzerland" in place_page


def test_another_users_timeline_pages_are_404(client, other_user, day_of_records, owner):
    talk = Entity.objects.get(user=owner, title="Conference talk")
    client.force_login(other_user)
    assert client.get(f"/timeline/records/{talk.pk}/").status_code == 404
    assert client.get(f"/timeline/places/{talk.place_id}/").status_code == 404
    assert client.get(f"/timeline/records/{talk.pk}/photo/").status_code == 404
    assert "Conference talk" not in client.get("/timeline/", {"date": "2026-03-15"}).content.decode()
    client.logout()
    assert client.get("/timeline/").status_code == 302


def test_the_timeline_pages_answer_head_as_get_without_the_body(owner_client, day_of_records, owner):
    """A link checker or an uptime monitor asks with HEAD: the same status and headers as GET."""
    talk = Entity.objects.get(user=owner, title="Conference talk")
    for url in (
        "/timeline/",
        f"/timeline/records/{talk.pk}/",
        f"/timeline/places/{talk.place_id}/",
        "/timeline/export/",
    ):
        got, head = owner_client.get(url), owner_client.head(url)
        assert head.status_code == got.status_code == 200, url
        assert head["Content-Type"] == got["Content-Type"], url
        assert head.content == b"", url
    assert owner_client.post("/timeline/").status_code == 405


def test_the_source_filter_offers_only_integrations_that_bring_records_in(owner_client, owner, day_of_records):
    make_integration(owner, IntegrationType.objects.get(slug="webhook"), name="Team webhook")
    page = owner_client.get("/timeline/").content.decode()
    source_filter = page.split('name="source"', 1)[1].split("</select>", 1)[0]
    assert ">Feed</option>" in source_filter
    assert ">Photos</option>" in source_filter
    assert "Team webhook" not in source_filter  # an output: filtering by it would always show nothing


def test_an_empty_week_says_so_in_words_and_leads_to_the_gallery(owner_client):
    page = owner_client.get("/timeline/?view=week&date=2026-03-09").content.decode()
    assert "Nothing this week" in page
    assert "Nothing on this week" not in page
    assert "Go to another week" in page
    assert '<a href="/integrations/gallery/">connect a service</a>' in page


def test_a_record_with_800_linked_photos_and_3000_people_shows_the_first_and_says_how_many(owner_client, owner):
    """The record page listed every linked record and every person at once: an event with 800
    photos taken during it was a page of 860 links. It shows the first 100 of each, soonest
    first, and says how many there are, in as many queries whatever their number."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from timeline.models import EntityPerson, Link, Person

    at = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)
    event = Entity.objects.create(user=owner, kind="event", title="Wedding", start_at=at)

    def add(count, start):
        photos = Entity.objects.bulk_create(
            Entity(user=owner, kind="photo", title=f"Photo {start + n:04}", start_at=at + ONE_MINUTE * (start + n))
            for n in range(count)
        )
        Link.objects.bulk_create(Link(user=owner, source=p, target=event, reason="taken_during") for p in photos)
        people = Person.objects.bulk_create(
            Person(user=owner, name=f"Guest {start + n:04}", email=f"g{start + n}@example.com") for n in range(count)
        )
        EntityPerson.objects.bulk_create(EntityPerson(entity=event, person=p, role="attendees") for p in people)

    def measured():
        url = f"/timeline/records/{event.pk}/"
        owner_client.get(url)
        with CaptureQueriesContext(connection) as captured:
            page = owner_client.get(url).content.decode()
        return len(captured), page

    add(40, 0)
    small, page = measured()
    assert len(re.findall(r">Photo \d{4}<", page)) == 40
    assert len(re.findall(r">Guest \d{4}<", page)) == 40
    add(3000, 40)
    big, page = measured()
    assert big == small
    shown = re.findall(r">Photo (\d{4})<", page)
    assert shown == [f"{n:04}" for n in range(100)]  # the soonest, in order
    assert len(re.findall(r">Guest \d{4}<", page)) == 100
    assert "100 of 3,040 linked records" in page
    assert "100 of 3,040 people" in page


def _later(page: str) -> str | None:
    import html
    import re

    found = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', page)
    return html.unescape(found.group(1)) if found else None


def test_a_day_of_800_photos_pages_in_time_order_and_says_how_many(owner_client, owner):
    """A day with 800 photos was one page of 800 records (and a week of them, thousands); the day
    shows them 200 at a time, earliest first, with 'Later' to the next ones: every record of the
    day once, none of the neighbouring days, photos taken in the same second in a stable order,
    and the page says how many the day holds, in as many queries whatever their number."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _live_in(owner_client, owner, "Europe/Zurich")
    day = datetime.datetime(2026, 3, 15, 0, 0, tzinfo=ZURICH)

    def photos(count, start, at):
        return Entity.objects.bulk_create(
            Entity(user=owner, kind="photo", title=f"Photo {start + n:04}", start_at=at(n)) for n in range(count)
        )

    # The neighbouring days are full too, and an all-day record sits on each of the three days.
    photos(300, 5000, lambda n: day - ONE_MINUTE * (n + 1))
    photos(300, 6000, lambda n: day + datetime.timedelta(days=1) + ONE_MINUTE * n)
    for date in ("2026-03-14", "2026-03-15", "2026-03-16"):
        Entity.objects.create(
            user=owner, kind="event", title=f"Holiday {date}", fields={"all_day": True, "start": date},
            start_at=datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.UTC),
        )  # fmt: skip

    def walk():
        url = "/timeline/"
        page = owner_client.get(url, {"date": "2026-03-15"}).content.decode()
        pages = [page]
        while (link := _later(page)) is not None:
            page = owner_client.get(url + link).content.decode()
            pages.append(page)
            assert len(pages) < 10
        return pages

    def queries():
        owner_client.get("/timeline/", {"date": "2026-03-15"})
        with CaptureQueriesContext(connection) as captured:
            owner_client.get("/timeline/", {"date": "2026-03-15"})
        return len(captured)

    photos(20, 0, lambda n: day + datetime.timedelta(hours=12))
    small = queries()
    # 780 more, three in each second: ties on the time.
    photos(780, 20, lambda n: day + datetime.timedelta(hours=6) + datetime.timedelta(seconds=n // 3))
    assert queries() == small

    pages = walk()
    assert len(pages) == 5
    titles = [re.findall(r">((?:Photo|Holiday) [\d-]+)<", page) for page in pages]
    assert [len(t) for t in titles] == [200, 200, 200, 200, 1]
    flat = [title for page in titles for title in page]
    assert sorted(flat) == sorted({f"Photo {n:04}" for n in range(800)} | {"Holiday 2026-03-15"})
    assert all("801 records" in page for page in pages)
    shown = [int(pk) for page in pages for pk in re.findall(r'href="/timeline/records/(\d+)/"', page)]
    on_the_day = Entity.objects.filter(title__in=flat).order_by("start_at", "pk")
    assert shown == list(on_the_day.values_list("pk", flat=True))  # earliest first, ties by id
