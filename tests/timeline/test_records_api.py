"""The records API: scoped to the user, keyset pages, a change cursor that returns deletions,
a record with its sources, links and people, and an OpenAPI document that describes it."""

import datetime

import pytest
from django.utils import timezone

from integrations.models import ApiToken, IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest

pytestmark = pytest.mark.usefixtures("catalogue")
UTC = datetime.UTC
T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def store(integration, external_id, kind, when, **data):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id, title=external_id,
        occurred_at=when, data=data, content_hash=external_id, source_type=integration.type.slug,
        source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def calendar(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Calendar")


@pytest.fixture
def token(owner):
    return ApiToken.issue(owner, "tests")[1]


def get(client, path, token=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1{path}", params, **headers)


def test_records_are_paged_newest_first_with_an_opaque_cursor(client, owner, calendar, token):
    items = [store(calendar, f"e{n}", "event", T0 + datetime.timedelta(hours=n), uid=f"u{n}") for n in range(5)]
    ingest(owner.pk, [i.pk for i in items])
    first = get(client, "/records", token, limit=2).json()
    assert [r["title"] for r in first["records"]] == ["e4", "e3"]
    second = get(client, "/records", token, limit=2, cursor=first["next_cursor"]).json()
    third = get(client, "/records", token, limit=2, cursor=second["next_cursor"]).json()
    assert [r["title"] for r in second["records"] + third["records"]] == ["e2", "e1", "e0"]
    assert third["next_cursor"] is None
    window = get(client, "/records", token, since=T0.isoformat(), until=(T0 + datetime.timedelta(hours=2)).isoformat())
    assert [r["title"] for r in window.json()["records"]] == ["e1", "e0"]
    assert get(client, "/records", token, cursor="not-a-cursor").status_code == 400


def test_the_change_cursor_returns_changes_once_and_deletions(client, owner, calendar, token):
    a = store(calendar, "a", "event", T0, uid="a")
    ingest(owner.pk, [a.pk])
    cursor = get(client, "/records", token).json()["change_cursor"]
    assert get(client, "/records", token, changes_since=cursor).json()["changes"] == []
    b = store(calendar, "b", "event", T0, uid="b")
    ingest(owner.pk, [b.pk])
    a.deleted_at = timezone.now()
    a.save()
    ingest(owner.pk, [a.pk])
    answer = get(client, "/records", token, changes_since=cursor).json()
    assert [(c["record"] or {}).get("title") for c in answer["changes"]] == ["b", None]
    assert answer["changes"][1]["deleted"] is True
    assert answer["has_more"] is False
    assert get(client, "/records", token, changes_since=answer["next_cursor"]).json()["changes"] == []


def test_a_record_shows_its_sources_links_and_people(client, owner, calendar, token):
    other = make_integration(owner, IntegrationType.objects.get(slug="caldav"), name="CalDAV")
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    shared = dict(uid="x", start=T0.isoformat(), end=(T0 + datetime.timedelta(hours=2)).isoformat())
    one = store(calendar, "ev", "event", T0, attendees=[{"name": "Ann", "email": "ann@example.com"}], **shared)
    two = store(other, "ev.ics", "event", T0, **shared)
    photo = store(photos, "p", "photo", T0 + datetime.timedelta(minutes=30), sha256="p", width=1, height=1)
    ingest(owner.pk, [one.pk, two.pk, photo.pk])
    event_id = get(client, "/records", token, kind="event").json()["records"][0]["id"]
    record = get(client, f"/records/{event_id}", token).json()
    assert sorted(s["integration_name"] for s in record["sources_detail"]) == ["CalDAV", "Calendar"]
    assert [(link["reason"], link["record"]["kind"]) for link in record["links"]] == [("taken_during", "photo")]
    assert record["people"] == [{"person": {"id": record["people"][0]["person"]["id"], "name": "Ann",
                                            "email": "ann@example.com"}, "role": "attendees"}]  # fmt: skip
    photo_id = record["links"][0]["record"]["id"]
    assert get(client, f"/records/{photo_id}", token).json()["links"][0]["record"]["id"] == event_id  # both sides
    people = get(client, "/people", token).json()["people"]
    assert [p["email"] for p in people] == ["ann@example.com"]
    assert get(client, "/records", token, person=people[0]["id"]).json()["records"][0]["id"] == event_id


def test_another_users_records_are_404_and_anonymous_visitors_get_401(client, owner, other_user, calendar):
    item = store(calendar, "mine", "event", T0, uid="m")
    ingest(owner.pk, [item.pk])
    client.force_login(owner)
    record_id = get(client, "/records").json()["records"][0]["id"]
    client.force_login(other_user)
    assert get(client, "/records").json()["records"] == []
    answer = get(client, f"/records/{record_id}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    client.logout()
    assert get(client, "/records").status_code == 401
    assert get(client, "/records", "mc_not-a-token").status_code == 401


def test_the_openapi_document_describes_the_records_routes(client):
    document = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/records", "/api/v1/records/{record_id}", "/api/v1/places", "/api/v1/people"):
        assert path in document["paths"], path
    assert client.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"


def _entities(user, count, *, start=0, when=lambda n: T0 - datetime.timedelta(hours=n)):
    from timeline.models import Entity

    return Entity.objects.bulk_create(
        Entity(user=user, kind="event", title=f"r{start + n}", start_at=when(start + n)) for n in range(count)
    )


def test_undated_records_come_after_the_oldest_dated_one_on_every_database(client, owner, other_user, token):
    _entities(owner, 7)
    _entities(owner, 4, start=7, when=lambda n: T0)  # the same time: the id decides
    _entities(owner, 6, start=11, when=lambda n: None)
    _entities(other_user, 5)
    titles, cursor = [], None
    while True:
        answer = get(client, "/records", token, limit=3, **({"cursor": cursor} if cursor else {})).json()
        titles += [r["title"] for r in answer["records"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    from timeline.models import Entity

    dated = Entity.objects.filter(user=owner, start_at__isnull=False).order_by("-start_at", "-pk")
    undated = Entity.objects.filter(user=owner, start_at__isnull=True).order_by("-pk")
    assert titles == [e.title for e in dated] + [e.title for e in undated]


def test_an_edited_cursor_is_refused(client, owner, token):
    _entities(owner, 5)
    cursor = get(client, "/records", token, limit=2).json()["next_cursor"]
    payload, signature = cursor.rsplit(":", 1)
    assert get(client, "/records", token, cursor=payload[:-2] + "xx:" + signature).status_code == 400
    assert get(client, "/records", token, cursor=cursor[:-1]).status_code == 400
    assert get(client, "/records", token, cursor=cursor).status_code == 200


def test_the_records_list_sends_as_many_queries_whatever_the_size(client, owner, other_user, token):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries():
        first = get(client, "/records", token, limit=20).json()
        counts = []
        for params in ({"limit": 20}, {"limit": 20, "cursor": first["next_cursor"]}, {"limit": 20, "kind": "event"}):
            with CaptureQueriesContext(connection) as captured:
                assert get(client, "/records", token, **params).status_code == 200
            counts.append(len(captured))
        return counts

    _entities(owner, 50)
    _entities(other_user, 50)
    small = queries()
    _entities(owner, 500, start=50)
    _entities(other_user, 500, start=50)
    assert queries() == small


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("integration", str(2**64)),
        ("place", str(-(2**64))),
        ("person", "9" * 30),
        # Valid times whose UTC is before year 1 or after 9999: SQLite stores times in UTC.
        ("since", "0001-01-01T00:00:00+00:01"),
        ("until", "9999-12-31T23:59:59-00:01"),
    ],
)
def test_a_filter_out_of_range_is_a_400_naming_it(client, token, param, value):
    response = get(client, "/records", token, **{param: value})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["field"] == param


def test_a_naive_time_near_the_ends_is_read_in_the_servers_zone(client, token, settings):
    settings.TIME_ZONE = "Etc/GMT-14"  # UTC+14 (the sign is POSIX's): its 0001-01-01 00:00 is before year 1 in UTC
    response = get(client, "/records", token, since="0001-01-01T00:00:00")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["field"] == "since"
    assert get(client, "/records", token, since="0001-01-02T00:00:00").status_code == 200


def test_a_record_that_moves_ahead_of_a_listing_walk_is_in_the_changes_after_it(client, owner, calendar, token):
    """A client pages through everything, then keeps the change cursor for later. A record that
    changes during the walk may move to a page already read (an event moved to a later time): the
    walk never returns it, so the change cursor every page gives is the one from the walk's start,
    and the changes after it hold the record."""
    items = [store(calendar, f"e{n}", "event", T0 + datetime.timedelta(hours=n), uid=f"u{n}") for n in range(5)]
    ingest(owner.pk, [i.pk for i in items])
    first = get(client, "/records", token, limit=2).json()
    assert [r["title"] for r in first["records"]] == ["e4", "e3"]

    moved = items[0]  # e0, not read yet, moves to a time on the first page
    moved.data = {**moved.data, "start": (T0 + datetime.timedelta(hours=10)).isoformat()}
    moved.save()
    ingest(owner.pk, [moved.pk])

    seen, answer = [r["title"] for r in first["records"]], first
    while answer["next_cursor"]:
        answer = get(client, "/records", token, limit=2, cursor=answer["next_cursor"]).json()
        seen += [r["title"] for r in answer["records"]]
        assert answer["change_cursor"] == first["change_cursor"]
    assert "e0" not in seen  # what keyset paging does with a record that moved behind the walk
    changes = get(client, "/records", token, changes_since=answer["change_cursor"]).json()["changes"]
    assert [c["record"]["title"] for c in changes] == ["e0"]


def test_a_record_with_many_links_sends_as_many_queries_whatever_their_number(client, owner, token):
    """An event with 800 photos taken during it: each linked record's source count was one query
    more (868 queries for 860 links), the same for 60 as for 860 now, with each count right."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from timeline.models import Entity, EntitySource, Link, Place

    place = Place.objects.create(user=owner, name="Hall")
    event = _entities(owner, 1)[0]
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Photos")

    def photos(count, start):
        made = Entity.objects.bulk_create(
            Entity(user=owner, kind="photo", title=f"p{start + n}", start_at=T0, place=place) for n in range(count)
        )
        Link.objects.bulk_create(Link(user=owner, source=p, target=event, reason="taken_during") for p in made)
        first = made[0]
        item = store(feed, f"p{start}", "photo", T0)
        EntitySource.objects.create(entity=first, item=item, fields={})
        return first

    def queries():
        get(client, f"/records/{event.pk}", token)  # warm: the token's last use is written at most every few minutes
        with CaptureQueriesContext(connection) as captured:
            answer = get(client, f"/records/{event.pk}", token)
        assert answer.status_code == 200
        return len(captured), answer.json()["links"]

    with_source = photos(60, 0)
    small, links = queries()
    assert len(links) == 60
    photos(800, 100)
    big, links = queries()
    assert big == small
    assert len(links) == 860
    counts = {link["record"]["id"]: link["record"]["sources"] for link in links}
    assert counts[with_source.pk] == 1
    assert sum(counts.values()) == 2
    assert all(link["record"]["place"] == {"id": place.pk, "name": "Hall"} for link in links)
