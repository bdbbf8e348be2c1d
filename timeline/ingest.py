"""Taking stored records into the timeline: match each to its entity (or make one), place it,
name its people, link it, and give every changed entity the user's next change number.

Ingestion for one user is serialized by a row lock on the user's ChangeCounter, taken first in
the transaction: two workers never create two entities for one UID, and change numbers are
handed out in commit order, so "changes since N" never skips one.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from connectors.kinds import Typed
from integrations.models import SyncedItem
from timeline import links, matching, people, places, search
from timeline.models import (
    ChangeCounter,
    Entity,
    EntityPerson,
    EntitySource,
    Link,
    MatchKey,
    PendingItem,
    Person,
    Place,
)
from timeline.typing import Handlers, typed_for

log = logging.getLogger(__name__)
DRAIN_BATCH = 500


def _lock_user(user_id: int) -> ChangeCounter:
    ChangeCounter.objects.get_or_create(user_id=user_id)
    return ChangeCounter.objects.select_for_update().get(user_id=user_id)


def drain(user_id: int) -> int:
    """Ingest everything waiting in the user's outbox, a batch per transaction. Returns how many."""
    done = 0
    while True:
        with transaction.atomic():
            counter = _lock_user(user_id)
            rows = list(PendingItem.objects.filter(user_id=user_id).order_by("pk")[:DRAIN_BATCH])
            if not rows:
                return done
            _ingest_locked(counter, [r.item_id for r in rows])
            PendingItem.objects.filter(pk__in=[r.pk for r in rows]).delete()
            done += len(rows)


def ingest(user_id: int, item_ids: list[int]) -> set[int]:
    """Ingest these records now (tests, the backfill command). Returns the changed entity ids."""
    with transaction.atomic():
        return _ingest_locked(_lock_user(user_id), item_ids)


def _ingest_locked(counter: ChangeCounter, item_ids: list[int]) -> set[int]:
    user = get_user_model().objects.get(pk=counter.user_id)
    batch = _Batch(user.pk, people.own_addresses(user))
    items = {i.pk: i for i in SyncedItem.objects.filter(user_id=user.pk, pk__in=item_ids)}
    sources = {s.item_id: s for s in EntitySource.objects.filter(item_id__in=item_ids).select_related("entity")}
    changed: set[int] = set()
    stale: set[int] = set()  # entities a source left: merged again (or tombstoned) at the end
    for item_id in dict.fromkeys(item_ids):
        item, source = items.get(item_id), sources.get(item_id)
        if item is None or item.deleted_at is not None or _called_off(item):
            if source is not None:  # gone at the source: the entity stays while another holds it
                source.delete()
                stale.add(source.entity_id)
            continue
        previous = source.entity_id if source is not None else None
        try:
            entity = _take(batch, item, source)
        except Exception:  # one unreadable record must not stop the timeline: logged, skipped
            log.exception("Timeline: record %s could not be taken in", item.pk)
            continue
        changed.add(entity.pk)
        if previous is not None and previous != entity.pk:
            stale.add(previous)
    _refresh_all(stale, batch.left)
    changed |= batch.places.moved  # records a place known by name took along when it was located
    _number(counter, changed | stale)
    return changed | stale


def _called_off(item) -> bool:
    """An event cancelled at its source. Google and Outlook drop such events themselves; an iCal
    feed or a CalDAV server keeps them with STATUS:CANCELLED (a whole event, or one occurrence of a
    series). The record keeps it, with its status; the timeline treats it as gone: no entity, no
    photo "taken during" it. Restored at the source, it comes back like a new record."""
    if item.kind != "event" or not isinstance(item.data, dict):
        return False
    return str(item.data.get("status") or "").strip().upper() == "CANCELLED"


class _Batch:
    """What one batch looks up once: the connector classes, the person's own addresses, and the
    places and people already met in this batch."""

    def __init__(self, user_id: int, own: set[str]):
        self.user_id, self.own = user_id, own
        self.handlers = Handlers()
        self.places = places.Cache()
        self.people: dict = {}
        self.left: dict[str, set[int]] = {"places": set(), "people": set()}  # for _drop_unnamed


def _take(batch: _Batch, item, source) -> Entity:
    user_id = batch.user_id
    typed = typed_for(item, batch.handlers)
    keys = matching.keys_for(typed)
    entity = source.entity if source is not None and source.entity.kind == typed.kind else None
    matched_by = source.matched_by if source is not None else ""
    if entity is None:
        entity, matched_by = _match(user_id, typed, keys, item)
    linkable = typed.kind != "other"
    if entity is None:
        # A new thing: written whole in one INSERT (no merge needed with a single source).
        place = places.place_for(user_id, typed, batch.places) if linkable else None
        entity = Entity(
            user_id=user_id,
            kind=typed.kind,
            title=(item.title or "")[:500],
            summary=item.summary or "",
            start_at=typed.start,
            end_at=typed.end,
            fields=typed.fields,
            place=place,
        )
        entity.search_text = search.text_of(entity)
        entity.save()
        if source is not None:  # the record changed kind: it leaves its old entity
            source.delete()
        EntitySource.objects.create(entity=entity, item=item, fields=typed.fields)
    else:
        if entity.deleted_at is not None:
            entity.deleted_at = None
            entity.save(update_fields=["deleted_at"])
        if source is None:
            source = EntitySource(item=item)
        before = (entity.start_at, entity.end_at, entity.place_id)
        where = _where(entity.fields)
        source.entity, source.fields, source.matched_by = entity, typed.fields, matched_by
        source.save()
        _merge(entity)
        if linkable and _where(entity.fields) != where:
            # The location changed at the source (or a source with one joined): placed again.
            batch.left["places"].update([entity.place_id] if entity.place_id else [])
            entity.place = places.place_for(user_id, Typed(entity.kind, entity.fields), batch.places)
            entity.save(update_fields=["place"])
        elif linkable and entity.place_id is None:
            place = places.place_for(user_id, typed, batch.places)
            if place is not None:
                entity.place = place
                entity.save(update_fields=["place"])
        if linkable and (entity.start_at, entity.end_at, entity.place_id) != before:
            links.unlink_entity(entity)  # made again below, from its new time and place
    if keys:
        MatchKey.objects.bulk_create(
            [MatchKey(user_id=user_id, key=key.value, entity=entity) for key in keys], ignore_conflicts=True
        )
    if linkable:
        person_ids = people.attach_people(entity, typed, batch.own, batch.people)
        if source is not None or matched_by:  # an entity with earlier word from its sources
            gone = people.detach_unnamed(entity)
            if gone:
                batch.left["people"].update(gone)  # dropped at the end if nothing names them now
                links.unlink_entity(entity)  # mails linked through them; made again below
            # Everyone the entity names, from every source, not only from this record.
            person_ids = list(EntityPerson.objects.filter(entity=entity).values_list("person_id", flat=True))
        links.link_entity(entity, person_ids)
    return entity


def _where(fields: dict) -> tuple:
    """What places an entity (places.place_for reads these)."""
    route = fields.get("route")
    start = route[0] if isinstance(route, list) and route else None
    return (*(fields.get(name) for name in ("geo", "location", "place_name", "name")), start)


def _match(user_id: int, typed, keys, item) -> tuple[Entity | None, str]:
    if not keys:
        return None, ""
    found = MatchKey.objects.filter(user_id=user_id, key__in=[k.value for k in keys]).select_related("entity")
    by_key = {m.key: m.entity for m in found}
    for key in keys:
        entity = by_key.get(key.value)
        if entity is None or entity.kind != typed.kind:
            continue
        if key.strong:
            return entity, key.value
        same_source = EntitySource.objects.filter(entity=entity, item__integration_id=item.integration_id).exists()
        if not same_source and not matching.conflicts(typed, entity.fields):
            return entity, key.value
    return None, ""


def _merge(entity: Entity):
    """The entity's fields from its sources: the first source's values, gaps filled by the others."""
    sources = list(entity.sources.select_related("item").order_by("pk"))
    if not sources:
        return
    merged: dict = {}
    for source in sources:
        for name, value in source.fields.items():
            merged.setdefault(name, value)
    first = sources[0].item
    from connectors.kinds import parse_time

    entity.fields = merged
    entity.title = next((s.item.title for s in sources if s.item.title), "")[:500]
    entity.summary = next((s.item.summary for s in sources if s.item.summary), "")
    entity.start_at = parse_time(merged.get("start")) or first.occurred_at
    entity.end_at = parse_time(merged.get("end"))
    entity.search_text = search.text_of(entity, sources if len(sources) > 1 else ())
    entity.save(update_fields=["fields", "title", "summary", "start_at", "end_at", "search_text", "updated_at"])


def relink_all_day(user_id: int) -> int:
    """Link the person's all-day events again: what happened "during" one is what falls on its date
    where they live, so choosing another zone moves its bounds. Returns how many were relinked."""
    with transaction.atomic():
        _lock_user(user_id)  # not while a drain is taking records in
        events = Entity.objects.filter(user_id=user_id, kind="event", deleted_at__isnull=True, fields__all_day=True)
        count = 0
        for event in events.iterator():
            links.unlink_entity(event)
            named = EntityPerson.objects.filter(entity=event).values_list("person_id", flat=True)
            links.link_entity(event, list(named))
            count += 1
        return count


def refresh_entities(user_id: int, entity_ids: list[int]):
    """Re-merge (or tombstone) entities whose sources changed outside a batch, numbered as changes."""
    if not get_user_model().objects.filter(pk=user_id).exists():
        return  # the account itself is being deleted
    with transaction.atomic():
        counter = _lock_user(user_id)
        _refresh_all(entity_ids)
        _number(counter, set(Entity.objects.filter(pk__in=entity_ids).values_list("pk", flat=True)))


def _refresh_all(entity_ids, left: dict | None = None):
    left = left or {"places": set(), "people": set()}
    for entity_id in entity_ids:
        refresh(entity_id, left)
    _drop_unnamed(left)


def refresh(entity_id: int, left: dict | None = None):
    """After a source left: tombstone the entity when none is left, else merge what remains.
    A tombstone keeps nothing of what the record said (a deleted integration's data is gone);
    the places and people it named are added to `left`, for _drop_unnamed."""
    entity = Entity.objects.filter(pk=entity_id).first()
    if entity is None:
        return
    if entity.sources.exists():
        before, where = (entity.start_at, entity.end_at, entity.place_id), _where(entity.fields)
        _merge(entity)  # what the remaining sources say may differ from what the one that left said
        if entity.kind == "other":
            return
        if _where(entity.fields) != where:
            if left is not None and entity.place_id:
                left["places"].add(entity.place_id)
            entity.place = places.place_for(entity.user_id, Typed(entity.kind, entity.fields))
            entity.save(update_fields=["place"])
        gone = people.detach_unnamed(entity)  # people only the source that left named
        if left is not None:
            left["people"].update(gone)
        if gone or (entity.start_at, entity.end_at, entity.place_id) != before:
            links.unlink_entity(entity)
            named = EntityPerson.objects.filter(entity=entity).values_list("person_id", flat=True)
            links.link_entity(entity, list(named))
        return
    if entity.deleted_at is None:
        people_of = EntityPerson.objects.filter(entity=entity)
        if left is not None:
            left["places"].update([entity.place_id] if entity.place_id else [])
            left["people"].update(people_of.values_list("person_id", flat=True))
        people_of.delete()
        entity.deleted_at = timezone.now()
        entity.title = entity.summary = entity.search_text = ""
        entity.fields, entity.place, entity.start_at, entity.end_at = {}, None, None, None
        entity.save(
            update_fields=[
                "deleted_at", "updated_at", "title", "summary", "search_text", "fields", "place", "start_at", "end_at"
            ]
        )  # fmt: skip
        MatchKey.objects.filter(entity=entity).delete()
        Link.objects.filter(source=entity).delete()
        Link.objects.filter(target=entity).delete()


def _drop_unnamed(left: dict):
    """Places and people that no record names any more: only the deleted records knew them (a
    location history's places, a mailbox's correspondents), so they go with them."""
    places_left, people_left = sorted(left["places"]), sorted(left["people"])
    for start in range(0, len(places_left), 500):
        Place.objects.filter(pk__in=places_left[start : start + 500], entities__isnull=True).delete()
    for start in range(0, len(people_left), 500):
        Person.objects.filter(pk__in=people_left[start : start + 500], entityperson__isnull=True).delete()


def _number(counter: ChangeCounter, entity_ids: set[int]):
    numbered = [Entity(pk=pk, seq=counter.seq + offset) for offset, pk in enumerate(sorted(entity_ids), start=1)]
    Entity.objects.bulk_update(numbered, ["seq"], batch_size=500)
    counter.seq += len(entity_ids)
    counter.save(update_fields=["seq"])
