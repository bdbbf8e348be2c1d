"""On PostgreSQL (CI): the records listings (GET /api/v1/records, first page and deep by its
cursor, the timeline search, a day or a week, a place's and a person's records) read the entity table through an
index, never a sequential scan. After ANALYZE, with enable_seqscan = off so that the planner's
choice on these small tables is deterministic (a sequential scan still shows up, at a cost of
10^10, where no index can answer)."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.models import ApiToken
from tests.explain import nodes, plans_of
from timeline.models import Entity, EntityPerson, Person, Place

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans of PostgreSQL")
T0 = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)


def fill(user, count, place=None, person=None):
    made = Entity.objects.bulk_create(
        Entity(
            user=user, kind="event" if n % 3 else "photo", title=f"Record {n}", place=place if n % 2 else None,
            search_text=f"record {n} {'lunch' if n % 40 == 0 else 'walk'}",
            start_at=None if n % 53 == 0 else T0 - datetime.timedelta(minutes=n),
            deleted_at=T0 if n % 29 == 0 else None,
        )
        for n in range(count)
    )  # fmt: skip
    if person is not None:
        EntityPerson.objects.bulk_create(EntityPerson(entity=e, person=person, role="to") for e in made[::5])


def entity_plans(client, url, params, **headers):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params, **headers).status_code == 200
    sqls = [q["sql"] for q in captured if 'FROM "timeline_entity"' in q["sql"]]
    assert sqls, url
    return plans_of(sqls, "timeline_entity")


@pytest.mark.django_db
def test_records_listings_read_the_entities_through_an_index(client, owner, other_user):
    place = Place.objects.create(user=owner, name="Park")
    ann = Person.objects.create(user=owner, name="Ann", email="ann@example.com")
    fill(owner, 3000, place, ann)
    fill(other_user, 3000)
    token = ApiToken.issue(owner, "explain")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    page = client.get("/api/v1/records", {"limit": 200}, **auth).json()
    for _ in range(5):
        page = client.get("/api/v1/records", {"limit": 200, "cursor": page["next_cursor"]}, **auth).json()
    client.force_login(owner)
    cases = {
        "records": ("/api/v1/records", {"limit": 50}, auth),
        "records deep": ("/api/v1/records", {"limit": 50, "cursor": page["next_cursor"]}, auth),
        "records of a kind": ("/api/v1/records", {"limit": 50, "kind": "photo"}, auth),
        "search": (reverse("timeline:index"), {"q": "lunch"}, {}),
        "place": (reverse("timeline:place", args=[place.pk]), {}, {}),
        "person": (reverse("timeline:person", args=[ann.pk]), {}, {}),
        "day": (reverse("timeline:index"), {"date": "2025-02-28"}, {}),
        "week of a person": (reverse("timeline:index"), {"date": "2025-02-28", "view": "week", "person": ann.pk}, {}),
    }
    for name, (url, params, headers) in cases.items():
        for sql, plan in entity_plans(client, url, params, **headers):
            scans = [node for node in nodes(plan) if node.get("Relation Name") == "timeline_entity"]
            assert scans, (name, sql)
            for scan in scans:
                assert scan["Node Type"] != "Seq Scan", (name, sql, json.dumps(plan, indent=1))
