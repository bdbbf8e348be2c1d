"""Records at the edges of time: "9999-12-31" is how several services write "never" (a task
without a due date, an event that never ends), and year 1 what a zeroed clock gives. Such a record
is taken in whole (numbered, matched, linked), and the timeline's pages around it answer."""

import datetime

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity, Link

pytestmark = pytest.mark.usefixtures("catalogue")
UTC = datetime.UTC
LAST = datetime.datetime(9999, 12, 31, 22, 0, tzinfo=UTC)
FIRST = datetime.datetime(1, 1, 1, 1, 0, tzinfo=UTC)


def store(integration, external_id, kind, when, **data):
    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id,
        title=external_id, occurred_at=when, data=data, content_hash=external_id,
        source_type=integration.type.slug, source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


@pytest.mark.parametrize("when", [LAST, FIRST], ids=["year 9999", "year 1"])
def test_records_at_the_edges_of_time_are_taken_in_whole_and_linked(owner, when):
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    mail = make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Mail")
    end = when + datetime.timedelta(hours=1) if when.year == 1 else when + datetime.timedelta(minutes=59)
    ann = {"name": "Ann", "email": "ann@example.com"}
    items = [
        store(feed, "never", "event", when, start=when.isoformat(), end=end.isoformat(), uid="never",
              attendees=[ann]),
        store(photos, "shot", "photo", when + datetime.timedelta(minutes=10), sha256="s", width=3, height=2),
        store(mail, "note", "message", when, **{"from": ann}),
    ]  # fmt: skip
    changed = ingest(owner.pk, [i.pk for i in items])

    entities = Entity.objects.filter(user=owner, deleted_at__isnull=True)
    assert entities.count() == 3
    assert set(changed) == set(entities.values_list("pk", flat=True))  # every one numbered
    event = entities.get(kind="event")
    assert Link.objects.filter(source=entities.get(kind="photo"), target=event).exists()
    assert Link.objects.filter(source=entities.get(kind="message"), target=event).exists()


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "9999-12-28", "0001-01-02"])
@pytest.mark.parametrize("view", ["day", "week"])
def test_the_timeline_pages_at_the_edges_of_the_calendar_answer(owner_client, date, view):
    response = owner_client.get("/timeline/", {"date": date, "view": view})
    assert response.status_code == 200


def test_a_never_record_shows_where_the_person_lives_ahead_of_utc(owner, owner_client):
    from integrations.timezones import SESSION_KEY, set_zone

    set_zone(owner, "Pacific/Kiritimati")  # UTC+14: 9999-12-31 22:00 UTC is a day that does not exist there
    session = owner_client.session
    session[SESSION_KEY] = "Pacific/Kiritimati"
    session.save()
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    item = store(feed, "never-ends", "event", LAST, start=LAST.isoformat(), uid="never-ends")
    ingest(owner.pk, [item.pk])
    entity = Entity.objects.get(user=owner)

    assert owner_client.get(f"/timeline/records/{entity.pk}/").status_code == 200
    found = owner_client.get("/timeline/", {"q": "never-ends"})
    assert found.status_code == 200
    assert b"never-ends" in found.content
    assert owner_client.get(f"/api/v1/records/{entity.pk}").status_code == 200


def test_a_synced_never_time_is_stored_where_every_zone_can_show_it(owner, owner_client):
    from connectors.base import Record
    from connectors.kinds import SHOWN_LAST
    from integrations.models import SyncJob
    from integrations.sync.upsert import store_batch
    from integrations.timezones import SESSION_KEY, set_zone
    from tests.integrations.scripted import make_scripted_type

    integration = make_integration(owner, make_scripted_type())
    job = SyncJob.objects.create(integration=integration, status="running", worker="w1")
    beyond = datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    records = [
        Record(external_id="due-never", kind="task", title="Someday", occurred_at=beyond, data={"due": "9999-12-31"}),
        Record(external_id="zeroed", kind="note", title="Zeroed clock", occurred_at=FIRST),
    ]
    store_batch(job, "w1", integration, records)
    stored = {i.external_id: i for i in SyncedItem.objects.filter(integration=integration)}
    assert stored["due-never"].occurred_at == SHOWN_LAST
    assert stored["due-never"].data == {"due": "9999-12-31"}  # what the source said is kept
    assert stored["zeroed"].occurred_at.date() == datetime.date(1, 1, 2)

    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        set_zone(owner, zone)
        session = owner_client.session
        session[SESSION_KEY] = zone
        session.save()
        page = owner_client.get("/integrations/items/")
        assert page.status_code == 200
        assert b"Someday" in page.content
