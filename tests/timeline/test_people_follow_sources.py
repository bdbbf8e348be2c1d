"""The people on an entity follow what its sources say now: an attendee dropped from the
invitation leaves the event (and the mails linked through them go), a person only the departed
source named leaves with it, and nobody named by another source is touched."""

import pytest

from integrations.models import SyncedItem
from tests.connectors.helpers import connect, sync
from tests.timeline.test_sources import START, WIDE, vcalendar, vevent
from timeline.ingest import drain
from timeline.models import Entity, EntityPerson, Link, LinkReason, Person

pytestmark = pytest.mark.usefixtures("catalogue")
ANN = "ATTENDEE;CN=Ann:mailto:ann@example.com\r\n"
BOB = "ATTENDEE;CN=Bob:mailto:bob@example.com\r\n"


def named(entity) -> list[tuple[str, str]]:
    rows = EntityPerson.objects.filter(entity=entity).select_related("person")
    return sorted((row.person.email, row.role) for row in rows)


def feed(owner, feed_server, path, name):
    return connect(owner, "ical-feed", secrets={"url": feed_server.url(path)}, config=WIDE, name=name)


def test_an_attendee_dropped_at_the_source_leaves_the_event_and_its_mail_link(owner, feed_server):
    from django.utils import timezone

    from timeline.ingest import ingest

    feed_server.serve("/a.ics", vcalendar(vevent("review-1", "Review", extra=ANN + BOB)))
    calendar = feed(owner, feed_server, "/a.ics", "Work")
    sync(calendar)
    drain(owner.pk)
    review = Entity.objects.get(user=owner, kind="event")
    assert named(review) == [("ann@example.com", "attendees"), ("bob@example.com", "attendees")]
    # A mail from Bob the day before is linked to the event through him.
    mail = SyncedItem.objects.create(
        user=owner, integration=None, kind="message", external_id="mail-1", title="Agenda",
        occurred_at=START.replace(day=START.day - 1), content_hash="m1", source_type="imap",
        fetched_at=timezone.now(), data={"from": {"email": "bob@example.com", "name": "Bob"}, "subject": "Agenda"},
    )  # fmt: skip
    ingest(owner.pk, [mail.pk])
    mail_entity = Entity.objects.get(user=owner, kind="message")
    assert Link.objects.filter(source=mail_entity, target=review, reason=LinkReason.ATTENDEE).exists()

    feed_server.serve("/a.ics", vcalendar(vevent("review-1", "Review", extra=ANN + "SEQUENCE:1\r\n")))
    sync(calendar)
    drain(owner.pk)
    review.refresh_from_db()
    assert named(review) == [("ann@example.com", "attendees")]
    assert not Link.objects.filter(source=mail_entity, target=review).exists()
    assert Person.objects.filter(user=owner, email="bob@example.com").exists()  # the mail still names him


def test_people_named_by_another_source_stay_and_those_only_the_departed_source_named_go(owner, feed_server):
    feed_server.serve("/a.ics", vcalendar(vevent("offsite-1", "Offsite", extra=ANN + BOB)))
    feed_server.serve("/b.ics", vcalendar(vevent("offsite-1", "Offsite", extra=ANN)))
    first, second = feed(owner, feed_server, "/a.ics", "A"), feed(owner, feed_server, "/b.ics", "B")
    sync(first)
    sync(second)
    drain(owner.pk)
    offsite = Entity.objects.get(user=owner, kind="event")
    assert offsite.sources.count() == 2
    assert named(offsite) == [("ann@example.com", "attendees"), ("bob@example.com", "attendees")]

    # Only B is updated (and still names Ann alone): A still names Bob, so he stays.
    feed_server.serve("/b.ics", vcalendar(vevent("offsite-1", "Offsite", extra=ANN + "SEQUENCE:1\r\n")))
    sync(second)
    drain(owner.pk)
    assert named(offsite) == [("ann@example.com", "attendees"), ("bob@example.com", "attendees")]

    # A drops the event: Bob, whom only A named, leaves it, and nothing else names him.
    feed_server.serve("/a.ics", vcalendar())
    sync(first)
    drain(owner.pk)
    offsite.refresh_from_db()
    assert offsite.deleted_at is None
    assert named(offsite) == [("ann@example.com", "attendees")]
    assert not Person.objects.filter(user=owner, email="bob@example.com").exists()


def test_a_person_who_changes_role_keeps_only_the_new_one(owner, feed_server):
    organizer_ann = "ORGANIZER;CN=Ann:mailto:ann@example.com\r\n"
    feed_server.serve("/a.ics", vcalendar(vevent("sync-1", "Sync", extra=ANN)))
    calendar = feed(owner, feed_server, "/a.ics", "Work")
    sync(calendar)
    drain(owner.pk)
    feed_server.serve("/a.ics", vcalendar(vevent("sync-1", "Sync", extra=organizer_ann + "SEQUENCE:1\r\n")))
    sync(calendar)
    drain(owner.pk)
    assert named(Entity.objects.get(user=owner, kind="event")) == [("ann@example.com", "organizer")]
