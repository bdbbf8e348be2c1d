"""The timeline's record listings (search across everything, a place's records, a person's) page
by keyset on (start_at, id), newest first and undated records last, with signed cursors: every
record once, and as many queries whatever the number of records."""

import datetime
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from timeline.models import Entity, EntityPerson, Person, Place

T0 = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def place(owner):
    return Place.objects.create(user=owner, name="Café Odeon", lat=47.37, lon=8.54)


@pytest.fixture
def ann(owner):
    return Person.objects.create(user=owner, name="Ann", email="ann@example.com")


def records(user, count, *, start=0, text="lunch with ann", place=None, person=None, undated_every=13):
    made = Entity.objects.bulk_create(
        Entity(
            user=user, kind="event", title=f"Record {start + n}", search_text=f"{text} {start + n}", place=place,
            start_at=None if (start + n) % undated_every == 0 else T0 - datetime.timedelta(hours=start + n),
        )
        for n in range(count)
    )  # fmt: skip
    if person is not None:
        EntityPerson.objects.bulk_create(EntityPerson(entity=e, person=person, role="attendees") for e in made)
    return made


def shown(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/timeline/records/(\d+)/"', page)]


def older(page: str) -> str | None:
    found = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', page)
    return html.unescape(found.group(1)) if found else None


def walk(client, url, params) -> list[list[int]]:
    page = client.get(url, params).content.decode()
    pages = [shown(page)]
    while (link := older(page)) is not None:
        page = client.get(url + link).content.decode()
        pages.append(shown(page))
        assert len(pages) < 20
    return pages


def newest_first(queryset) -> list[int]:
    rows = list(queryset.values_list("start_at", "pk"))
    return [pk for _, pk in sorted((r for r in rows if r[0]), reverse=True)] + sorted(
        (pk for at, pk in rows if at is None), reverse=True
    )


def listings(owner, place, ann):
    lunches = Entity.objects.filter(user=owner, search_text__contains="lunch")
    return {
        "search": (reverse("timeline:index"), {"q": "lunch"}, lunches),
        "place": (reverse("timeline:place", args=[place.pk]), {}, Entity.objects.filter(place=place)),
        "person": (reverse("timeline:person", args=[ann.pk]), {}, Entity.objects.filter(entityperson__person=ann)),
    }  # fmt: skip


def test_every_listing_shows_each_record_once_newest_first(owner_client, owner, other_user, place, ann):
    records(owner, 130, place=place, person=ann)
    records(owner, 40, start=200, text="dinner alone")
    records(other_user, 30)
    for name, (url, params, expected) in listings(owner, place, ann).items():
        pages = walk(owner_client, url, params)
        assert len(pages) == 3, name
        flat = [pk for page in pages for pk in page]
        assert sorted(flat) == sorted(set(flat)) == sorted(expected.values_list("pk", flat=True)), name
        # Pages follow each other newest first (the search shows a page's own records oldest first).
        order = newest_first(expected)
        assert [sorted(p, key=order.index) for p in pages] == [order[:50], order[50:100], order[100:]], name


def test_a_bad_cursor_starts_again_at_the_top(owner_client, owner, place, ann):
    records(owner, 60, place=place, person=ann)
    for name, (url, params, _) in listings(owner, place, ann).items():
        top = shown(owner_client.get(url, params).content.decode())
        for cursor in ("nonsense", "eyJkIjoibyJ9:abc", "x" * 3000):
            response = owner_client.get(url, {**params, "cursor": cursor})
            assert response.status_code == 200, name
            assert shown(response.content.decode()) == top, name


def test_the_listings_send_as_many_queries_whatever_the_size(owner_client, owner, other_user, place, ann):
    def counts():
        measured = {}
        for name, (url, params, _) in listings(owner, place, ann).items():
            first = owner_client.get(url, params).content.decode()
            for label, target in (("first", url), ("older", url + older(first))):
                with CaptureQueriesContext(connection) as captured:
                    assert owner_client.get(target, params if label == "first" else {}).status_code == 200
                measured[name, label] = len(captured)
        return measured

    records(owner, 120, place=place, person=ann)
    records(other_user, 50)
    small = counts()
    records(owner, 600, start=120, place=place, person=ann)
    records(other_user, 600, start=50)
    assert counts() == small


@pytest.mark.usefixtures("catalogue")
def test_a_place_of_photos_finds_its_thumbnail_and_counts_its_records_in_as_many_queries(
    owner_client, owner, place, ann
):
    """A place's page looked for its thumbnail one photo at a time (a query for each photo on the
    page without a stored image: 108 queries for a page of 50); the page's photos are now read at
    once, the newest with an image is the thumbnail, and the page says how many records the place
    has ("1,000+" past a thousand) in as many queries whatever their number."""
    from integrations.models import IntegrationType, SyncedItem
    from tests.factories import make_integration
    from timeline.models import EntitySource

    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    url = reverse("timeline:place", args=[place.pk])

    def add(count, start, *, file=False):
        made = Entity.objects.bulk_create(
            Entity(user=owner, kind="photo", title=f"Photo {start + n}", place=place,
                   start_at=T0 + datetime.timedelta(minutes=start + n))
            for n in range(count)
        )  # fmt: skip
        for entity in made:
            data = {"mime_type": "image/jpeg", **({"file": f"photos/{entity.pk}.jpg"} if file else {})}
            item = SyncedItem.objects.create(
                user=owner, integration=photos, kind="photo", external_id=f"p{entity.pk}", content_hash="x",
                source_type="google-photos", fetched_at=T0, data=data,
            )  # fmt: skip
            EntitySource.objects.create(entity=entity, item=item)
        return made

    def measured():
        owner_client.get(url)
        with CaptureQueriesContext(connection) as captured:
            page = owner_client.get(url).content.decode()
        return len(captured), page

    with_file = add(2, 0, file=True)[-1]
    add(3, 10)
    records(owner, 60, start=100, place=place, undated_every=10**6)  # older events: a full first page
    small, page = measured()
    assert f'src="/timeline/records/{with_file.pk}/photo/"' in page
    assert "65 records" in page
    add(40, 20)
    records(owner, 1200, start=200, place=place)
    big, page = measured()
    assert big == small
    assert f'src="/timeline/records/{with_file.pk}/photo/"' in page
    assert "1,000+ records" in page


def test_a_persons_page_says_how_many_records_name_them(owner_client, owner, ann):
    url = reverse("timeline:person", args=[ann.pk])
    records(owner, 3, person=ann)
    assert "3 records, newest first" in owner_client.get(url).content.decode()
    records(owner, 1000, start=3, person=ann)
    assert "1,000+ records, newest first" in owner_client.get(url).content.decode()


def test_search_says_how_many_records_match(owner_client, owner, other_user):
    """Search said "50+ records" on every page of a long result; it says how many match (counted
    up to "1,000+"), on every page."""
    records(owner, 130)
    records(owner, 40, start=200, text="dinner alone")
    records(other_user, 30)
    url = reverse("timeline:index")
    pages = [owner_client.get(url, {"q": "lunch"}).content.decode()]
    pages.append(owner_client.get(url + older(pages[0])).content.decode())
    assert all("130 records matching" in page for page in pages)
    records(owner, 1000, start=300)
    assert "1,000+ records matching" in owner_client.get(url, {"q": "lunch"}).content.decode()


@pytest.mark.parametrize(
    "query",
    ["&", "| !", ":*", "a & b", "!!!", "'", "\\", "a:*", "<->", "((", "foo:* & | !bar", "%", "_", "a'b", "x" * 5000,
     "é" * 300, "&|!:*()<>", "lunch:A", "'lunch'", "lunch & !lunch", "lunch <-> ann"],
)  # fmt: skip
def test_search_with_any_input_answers_a_page(owner_client, owner, query):
    """Operators of PostgreSQL's tsquery syntax, punctuation alone, quotes and very long queries
    are words to look for, never an error."""
    records(owner, 3)
    response = owner_client.get(reverse("timeline:index"), {"q": query})
    assert response.status_code == 200


@pytest.mark.parametrize("query", ["lun", "LUNCH", "lunch an", "lunch, with", "lunch!"])
def test_search_finds_a_word_by_its_beginning_on_every_database(owner_client, owner, query):
    """A word's beginning finds it, as on the items page: 'lun' found 'lunch' on SQLite only (a
    substring there), and nothing on PostgreSQL (whole words only)."""
    made = records(owner, 2, undated_every=10**6)
    records(owner, 2, start=10, text="dinner alone", undated_every=10**6)
    page = owner_client.get(reverse("timeline:index"), {"q": query}).content.decode()
    assert sorted(shown(page)) == sorted(e.pk for e in made)
