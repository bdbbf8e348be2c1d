"""People named by records, merged by email address (name-only mentions by name)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from connectors.kinds import Typed
from timeline.models import EntityPerson, Person

NAME_ONLY_ROLES = {"people"}  # a photo's sidecar names who is in it, without an address


def own_addresses(user) -> set[str]:
    """The person's own addresses: they are on every mail and invitation, so they link nothing."""
    from integrations.models import Integration

    addresses = {user.email.lower()} if user.email else set()
    for identity in Integration.objects.filter(user=user).values_list("account_identity", flat=True):
        if identity and "@" in identity and " " not in identity.strip():
            addresses.add(identity.strip().lower())
    return addresses


def _person(user_id: int, name: str, email: str) -> Person | None:
    lookup = {"email": email} if email else {"email": "", "name_key": name.lower()}
    person = Person.objects.filter(user_id=user_id, **lookup).first()
    if person is None:
        try:
            with transaction.atomic():
                person = Person.objects.create(user_id=user_id, name=name, name_key=name.lower()[:200], **lookup)
        except IntegrityError:
            person = Person.objects.filter(user_id=user_id, **lookup).first()
    elif name and not person.name:
        person.name = name
        person.save(update_fields=["name"])
    return person


def attach_people(entity, typed, own: set[str], cache: dict | None = None) -> list[int]:
    """Link the entity to everyone it names; returns the people's ids (the owner excluded)."""
    ids, links = [], []
    for mention in typed.people():
        email, name = mention.get("email", ""), mention.get("name", "")
        if email in own:
            continue
        if not email and (mention["role"] not in NAME_ONLY_ROLES or not name):
            continue
        key = email or f"name:{name.lower()}"
        person = cache.get(key) if cache is not None else None
        if person is None:
            person = _person(entity.user_id, name, email)
            if person is None:
                continue
            if cache is not None:
                cache[key] = person
        links.append(EntityPerson(entity=entity, person=person, role=mention["role"]))
        ids.append(person.pk)
    if links:
        EntityPerson.objects.bulk_create(links, ignore_conflicts=True)
    return ids


def _mention_key(email: str, name: str) -> tuple[str, str] | None:
    if email:
        return ("email", email)
    return ("name", name.lower()[:200]) if name else None


def detach_unnamed(entity) -> set[int]:
    """Take off the entity everyone none of its sources names any more in that role (an attendee
    dropped from the invitation, a recipient no longer on the mail). Returns those people's ids."""
    wanted = set()
    for fields in entity.sources.values_list("fields", flat=True):
        for mention in Typed(entity.kind, fields or {}).people():
            key = _mention_key(mention.get("email", ""), mention.get("name", ""))
            if key is not None:
                wanted.add((key, mention["role"]))
    stale, gone = [], set()
    for row in EntityPerson.objects.filter(entity=entity).select_related("person"):
        person = row.person
        key = ("email", person.email) if person.email else ("name", person.name_key)
        if (key, row.role) not in wanted:
            stale.append(row.pk)
            gone.add(person.pk)
    if stale:
        EntityPerson.objects.filter(pk__in=stale).delete()
    return gone
