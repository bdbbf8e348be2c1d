"""Links between entities, computed for each entity as it arrives (never by rescanning): photos
taken, songs played and workouts done during an event, things at the same place, and mails
exchanged with an event's attendees around its date. Every query is bounded by an index range."""

from __future__ import annotations

import datetime

from django.db.models import Q

from timeline.models import Entity, EntityPerson, Link, LinkReason

LONGEST_EVENT = datetime.timedelta(days=3)  # longer spans (a holiday) link nothing by time
ZONE_WIDTH = datetime.timedelta(hours=14)  # the furthest any zone is from UTC (UTC+14, Kiribati)
MAIL_BEFORE = datetime.timedelta(days=7)  # mails about an event come up to a week before it...
MAIL_AFTER = datetime.timedelta(days=1)  # ...and the day after
DURING_KINDS = {"photo": LinkReason.TAKEN_DURING, "play": LinkReason.PLAYED_DURING, "workout": LinkReason.DURING}
CONTAINER_KINDS = ("event",)
ATTENDEE_ROLES = ("organizer", "attendees")
CORRESPONDENT_ROLES = ("from", "to", "cc")


_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC)
_LATEST = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def _plus(moment: datetime.datetime, *deltas: datetime.timedelta) -> datetime.datetime:
    """moment + deltas, held at the ends of the calendar: "never" is 9999-12-31 for several
    services, and a week after it does not exist."""
    total = sum(deltas, datetime.timedelta())
    try:
        return moment + total
    except OverflowError:
        return _LATEST if total > datetime.timedelta() else _EARLIEST


def _link(entity_a, entity_b, reason):
    Link.objects.bulk_create(
        [Link(user_id=entity_a.user_id, source_id=entity_a.pk, target_id=entity_b.pk, reason=reason)],
        ignore_conflicts=True,
    )


def _spans(entity) -> bool:
    return bool(entity.start_at and entity.end_at and entity.end_at - entity.start_at <= LONGEST_EVENT)


def _live(user_id):
    return Entity.objects.filter(user_id=user_id, deleted_at__isnull=True)


def link_entity(entity, person_ids: list[int]):
    if entity.kind in CONTAINER_KINDS:
        _link_contents(entity)
        _link_mails_of_event(entity)
    elif entity.kind in DURING_KINDS and entity.start_at:
        _link_containers(entity)
    elif entity.kind == "message" and entity.start_at and person_ids:
        _link_events_of_mail(entity, person_ids)


def unlink_entity(entity):
    """Drop the links link_entity makes for this entity, before it makes them again: they were
    drawn from a time or place the entity no longer has."""
    if entity.kind in CONTAINER_KINDS:
        Link.objects.filter(target=entity).delete()
    else:
        Link.objects.filter(source=entity).delete()


def _person_zone(user_id) -> datetime.tzinfo:
    from django.contrib.auth import get_user_model

    from integrations.timezones import zone_for

    return zone_for(get_user_model().objects.filter(pk=user_id).first())


def _all_day(event, zone: datetime.tzinfo) -> tuple[datetime.datetime, datetime.datetime] | None:
    """[first midnight, last midnight) of an all-day event's dates, where the person lives: the
    event is a date (stored as that date's UTC midnight), and a photo at 00:30 on it is on it
    wherever the person is. None when its date cannot be read."""
    fields = event.fields
    if not isinstance(fields.get("start"), str):
        return None
    try:
        first = datetime.date.fromisoformat(fields["start"][:10])
        end = fields.get("end")
        last = datetime.date.fromisoformat(end[:10]) if isinstance(end, str) and end else first
        # The end date is exclusive (RFC 5545): a one-day event ends the next day.
        last = max(last, first + datetime.timedelta(days=1))
    except (ValueError, OverflowError):  # no date, or a day after 9999-12-31
        return None

    def midnight(day):
        return datetime.datetime.combine(day, datetime.time(), tzinfo=zone)

    return midnight(first), midnight(last)


def _window(event, zone=None) -> tuple[datetime.datetime, datetime.datetime, bool]:
    """(from, to, whether `to` is inside) of what happened during the event."""
    if (event.fields or {}).get("all_day"):
        days = _all_day(event, zone or _person_zone(event.user_id))
        if days:
            return (*days, False)
    return event.start_at, event.end_at, True


def _link_contents(event):
    if not _spans(event):
        return
    start, end, end_inside = _window(event)
    inside = _live(event.user_id).filter(
        kind__in=list(DURING_KINDS), start_at__gte=start, **{"start_at__lte" if end_inside else "start_at__lt": end}
    )
    for item in inside.only("pk", "kind", "user_id", "place_id"):
        _link(item, event, DURING_KINDS[item.kind])
        if event.place_id and item.place_id == event.place_id:
            _link(item, event, LinkReason.SAME_PLACE)


def _link_containers(item):
    # An all-day event is stored at its dates' UTC midnights: looked up a zone's width around them.
    slack = ZONE_WIDTH  # then each is checked by _window
    candidates = _live(item.user_id).filter(
        kind__in=CONTAINER_KINDS,
        start_at__gte=_plus(item.start_at, -LONGEST_EVENT, -slack),
        start_at__lte=_plus(item.start_at, slack),
        end_at__gte=_plus(item.start_at, -slack),
    )
    zone = None
    for event in candidates.only("pk", "user_id", "start_at", "end_at", "place_id", "fields"):
        if not _spans(event):
            continue
        if (event.fields or {}).get("all_day") and zone is None:
            zone = _person_zone(item.user_id)
        start, end, end_inside = _window(event, zone)
        if not (start <= item.start_at and (item.start_at <= end if end_inside else item.start_at < end)):
            continue
        _link(item, event, DURING_KINDS[item.kind])
        if event.place_id and item.place_id == event.place_id:
            _link(item, event, LinkReason.SAME_PLACE)


def _link_mails_of_event(event):
    attendees = EntityPerson.objects.filter(entity=event, role__in=ATTENDEE_ROLES).values_list("person_id", flat=True)
    if not attendees or not event.start_at:
        return
    end = event.end_at or event.start_at
    mails = (
        EntityPerson.objects.filter(
            person_id__in=list(attendees),
            role__in=CORRESPONDENT_ROLES,
            entity__kind="message",
            entity__deleted_at__isnull=True,
            entity__start_at__gte=_plus(event.start_at, -MAIL_BEFORE),
            entity__start_at__lte=_plus(end, MAIL_AFTER),
        )
        .values_list("entity_id", flat=True)
        .distinct()
    )
    for mail in Entity.objects.filter(pk__in=list(mails)):
        _link(mail, event, LinkReason.ATTENDEE)


def _link_events_of_mail(mail, person_ids: list[int]):
    events = (
        EntityPerson.objects.filter(
            person_id__in=person_ids,
            role__in=ATTENDEE_ROLES,
            entity__kind="event",
            entity__deleted_at__isnull=True,
            entity__start_at__gte=_plus(mail.start_at, -MAIL_AFTER, -LONGEST_EVENT),
            entity__start_at__lte=_plus(mail.start_at, MAIL_BEFORE),
        )
        .values_list("entity_id", flat=True)
        .distinct()
    )
    for event in Entity.objects.filter(pk__in=list(events)):
        end = event.end_at or event.start_at
        if _plus(event.start_at, -MAIL_BEFORE) <= mail.start_at <= _plus(end, MAIL_AFTER):
            _link(mail, event, LinkReason.ATTENDEE)


def same_place(place, moved: list[int]):
    """After records moved to `place` (a place known by name took its coordinates): what was
    during an event there and is there too is now also at the same place."""
    for start in range(0, len(moved), 500):
        chunk = moved[start : start + 500]
        during = Link.objects.filter(
            reason__in=set(DURING_KINDS.values()), source__place=place, target__place=place
        ).filter(Q(source_id__in=chunk) | Q(target_id__in=chunk))
        found = during.values_list("user_id", "source_id", "target_id")
        Link.objects.bulk_create(
            [Link(user_id=u, source_id=s, target_id=t, reason=LinkReason.SAME_PLACE) for u, s, t in found],
            ignore_conflicts=True,
        )
