"""The records API for the apps that consume the hub: the person's records (entities, each with
its sources), places and people. Keyset ("cursor") pagination throughout, and a change cursor
that also returns deletions. Every query is scoped to the authenticated user."""

from __future__ import annotations

import base64
import datetime
import json

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import field_validator

from integrations import keyset
from timeline.models import Entity, Link, Person, Place

router = Router(tags=["timeline"])
MAX_LIMIT = 200
RECORDS_SCOPE = "records"  # the records list's cursors (signed, integrations.keyset)


def encode_cursor(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeError) as exc:
        raise HttpError(400, "The cursor is not one this API gave out; start again without it.") from exc
    if not isinstance(value, dict):
        raise HttpError(400, "The cursor is not one this API gave out; start again without it.")
    return value


class PlaceRef(Schema):
    id: int
    name: str


class PersonOut(Schema):
    id: int
    name: str
    email: str


class RecordOut(Schema):
    id: int
    kind: str
    title: str
    start: datetime.datetime | None
    end: datetime.datetime | None
    fields: dict
    place: PlaceRef | None
    sources: int
    updated_at: datetime.datetime
    deleted: bool


class SourceOut(Schema):
    item_id: int
    integration_id: int | None
    integration_name: str
    source_type: str
    external_id: str
    source_url: str
    fetched_at: datetime.datetime
    fields: dict


class LinkOut(Schema):
    reason: str = Field(description="taken_during, played_during, during, same_place, attendee")
    label: str
    record: RecordOut


class PersonRole(Schema):
    person: PersonOut
    role: str


class RecordDetail(RecordOut):
    summary: str
    sources_detail: list[SourceOut]
    links: list[LinkOut]
    people: list[PersonRole]


class RecordPage(Schema):
    records: list[RecordOut]
    next_cursor: str | None = Field(description="Pass as cursor= for the next (older) page; null at the end")
    change_cursor: str = Field(
        description="Pass as changes_since= later to get what changed since the walk's first page (the same on "
        "every page of one walk, so records that changed while it was read are in those changes)"
    )


class Change(Schema):
    id: int
    deleted: bool
    record: RecordOut | None


class ChangePage(Schema):
    changes: list[Change]
    next_cursor: str = Field(description="Pass as changes_since= for the following changes")
    has_more: bool


# What the databases' integer columns hold: a larger id in a filter raised OverflowError (a 500).
ID_RANGE = {"ge": -(2**63), "le": 2**63 - 1}


class RecordFilters(Schema):
    kind: str | None = None
    integration: int | None = Field(None, **ID_RANGE)
    place: int | None = Field(None, **ID_RANGE)
    person: int | None = Field(None, **ID_RANGE)
    since: datetime.datetime | None = Field(None, description="Records starting at or after this time")
    until: datetime.datetime | None = Field(None, description="Records starting before this time")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)

    @field_validator("since", "until")
    @classmethod
    def _storable(cls, value: datetime.datetime | None) -> datetime.datetime | None:
        """In UTC, as SQLite stores times: converting one that falls before year 1 or after 9999
        there raised OverflowError (a 500). A time without an offset is in the server's zone, as
        Django would read it."""
        if value is None:
            return None
        if timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.get_default_timezone())
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise ValueError("the time is before year 1 or after 9999 in UTC") from None


def record_json(entity: Entity) -> dict:
    return {
        "id": entity.pk,
        "kind": entity.kind,
        "title": entity.title,
        "start": entity.start_at,
        "end": entity.end_at,
        "fields": entity.fields,
        "place": {"id": entity.place.pk, "name": entity.place.label} if entity.place_id else None,
        "sources": entity.source_count if hasattr(entity, "source_count") else entity.sources.count(),
        "updated_at": entity.updated_at,
        "deleted": entity.deleted_at is not None,
    }


def with_source_counts(entities: list[Entity]) -> list[Entity]:
    """Each entity's number of sources, for a whole page in one query."""
    from django.db.models import Count

    from timeline.models import EntitySource

    counts = dict(
        EntitySource.objects.filter(entity_id__in=[e.pk for e in entities])
        .values("entity_id")
        .annotate(n=Count("id"))
        .values_list("entity_id", "n")
    )
    for entity in entities:
        entity.source_count = counts.get(entity.pk, 0)
    return entities


def _entities(request):
    return Entity.objects.filter(user=request.user).select_related("place")


def _change_seq(user) -> int:
    from timeline.models import ChangeCounter

    return ChangeCounter.objects.filter(user=user).values_list("seq", flat=True).first() or 0


@router.get("/records", response=RecordPage | ChangePage, summary="List records, or the changes since a cursor")
def list_records(request, filters: Query[RecordFilters], changes_since: str | None = None):
    """Newest first, filtered by kind, integration, place, person and time range; or, with
    `changes_since`, every record that changed since that cursor in the order it changed,
    deleted ones included (`deleted: true`, `record: null`)."""
    if changes_since is not None:
        return _changes(request, changes_since, filters.limit)
    qs = _entities(request).filter(deleted_at__isnull=True)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.integration:
        qs = qs.filter(sources__item__integration_id=filters.integration).distinct()
    if filters.place:
        qs = qs.filter(place_id=filters.place)
    if filters.person:
        qs = qs.filter(entityperson__person_id=filters.person).distinct()
    if filters.since:
        qs = qs.filter(start_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(start_at__lt=filters.until)
    position = None
    if filters.cursor:
        # Keyset: newest first, undated records after the oldest dated one (integrations.keyset).
        position = keyset.decode(filters.cursor, RECORDS_SCOPE)
        if position is None or position.direction != keyset.OLDER:
            raise HttpError(400, "The cursor is not one this API gave out; start again without it.")
    # The change cursor of the walk's first page, on every page: a record that changes during the
    # walk can move to a page already read, and is then in the changes after it (read before the
    # page, so a change made meanwhile is in both rather than in neither).
    seq = position.seq if position and position.seq is not None else _change_seq(request.user)
    at, pk = (position.at, position.pk) if position else (None, None)
    page = keyset.older(qs, "start_at", at, pk, filters.limit + 1)
    more, page = len(page) > filters.limit, with_source_counts(page[: filters.limit])
    next_cursor = None
    if more:
        following = keyset.Position(keyset.OLDER, page[-1].start_at, page[-1].pk, seq)
        next_cursor = keyset.encode(following, RECORDS_SCOPE)
    return {
        "records": [record_json(e) for e in page],
        "next_cursor": next_cursor,
        "change_cursor": encode_cursor({"s": seq}),
    }


def _changes(request, cursor: str, limit: int) -> dict:
    after = decode_cursor(cursor).get("s") if cursor else 0
    if not isinstance(after, int):
        raise HttpError(400, "The cursor is not one this API gave out; start again without it.")
    changed = list(_entities(request).filter(seq__gt=after).order_by("seq")[: limit + 1])
    more, changed = len(changed) > limit, with_source_counts(changed[:limit])
    last = changed[-1].seq if changed else after
    return {
        "changes": [
            {"id": e.pk, "deleted": e.deleted_at is not None, "record": None if e.deleted_at else record_json(e)}
            for e in changed
        ],
        "next_cursor": encode_cursor({"s": last}),
        "has_more": more,
    }


@router.get("/records/{record_id}", response=RecordDetail, summary="One record with its sources, links and people")
def get_record(request, record_id: int):
    entity = get_object_or_404(_entities(request).filter(deleted_at__isnull=True), pk=record_id)
    sources = entity.sources.select_related("item__integration").order_by("pk")
    links = [
        *[(link, link.target) for link in Link.objects.filter(source=entity).select_related("target__place")],
        *[(link, link.source) for link in Link.objects.filter(target=entity).select_related("source__place")],
    ]
    links = [(link, other) for link, other in links if other.deleted_at is None]
    with_source_counts([other for _link, other in links])  # one query, not one per linked record
    return {
        **record_json(entity),
        "summary": entity.summary,
        "sources_detail": [
            {
                "item_id": s.item_id,
                "integration_id": s.item.integration_id,
                "integration_name": s.item.integration.name if s.item.integration else s.item.source_name,
                "source_type": s.item.source_type,
                "external_id": s.item.external_id,
                "source_url": s.item.source_url,
                "fetched_at": s.item.fetched_at,
                "fields": s.fields,
            }
            for s in sources
        ],
        "links": [
            {"reason": link.reason, "label": link.get_reason_display(), "record": record_json(other)}
            for link, other in links
        ],
        "people": [
            {"person": {"id": ep.person.pk, "name": ep.person.name, "email": ep.person.email}, "role": ep.role}
            for ep in entity.entityperson_set.select_related("person").order_by("role", "person__name")
        ],
    }


class PlaceOut(Schema):
    id: int
    name: str
    lat: float | None
    lon: float | None
    locality: str
    region: str
    country: str
    names: list[str]


class PlacePage(Schema):
    places: list[PlaceOut]
    next_cursor: str | None


def _place_json(place: Place) -> dict:
    return {
        "id": place.pk,
        "name": place.label,
        "lat": place.lat,
        "lon": place.lon,
        "locality": place.locality,
        "region": place.region,
        "country": place.country,
        "names": place.names,
    }


def _keyset(qs, cursor: str | None, limit: int):
    if cursor:
        after = decode_cursor(cursor).get("i")
        if not isinstance(after, int):
            raise HttpError(400, "The cursor is not one this API gave out; start again without it.")
        qs = qs.filter(pk__gt=after)
    page = list(qs.order_by("pk")[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    return page, encode_cursor({"i": page[-1].pk}) if more else None


@router.get("/places", response=PlacePage, summary="Places, oldest first")
def list_places(request, cursor: str | None = None, limit: int = Query(50, ge=1, le=MAX_LIMIT)):
    page, next_cursor = _keyset(Place.objects.filter(user=request.user), cursor, limit)
    return {"places": [_place_json(p) for p in page], "next_cursor": next_cursor}


@router.get("/places/{place_id}", response=PlaceOut, summary="One place")
def get_place(request, place_id: int):
    return _place_json(get_object_or_404(Place, user=request.user, pk=place_id))


class PeoplePage(Schema):
    people: list[PersonOut]
    next_cursor: str | None


@router.get("/people", response=PeoplePage, summary="People, oldest first")
def list_people(request, cursor: str | None = None, limit: int = Query(50, ge=1, le=MAX_LIMIT)):
    page, next_cursor = _keyset(Person.objects.filter(user=request.user), cursor, limit)
    return {"people": [{"id": p.pk, "name": p.name, "email": p.email} for p in page], "next_cursor": next_cursor}


@router.get("/people/{person_id}", response=PersonOut, summary="One person")
def get_person(request, person_id: int):
    person = get_object_or_404(Person, user=request.user, pk=person_id)
    return {"id": person.pk, "name": person.name, "email": person.email}


class ExportOut(Schema):
    id: int
    status: str = Field(description="queued, running, ready or failed")
    percent: int | None
    progress_done: int
    progress_total: int | None
    size: int
    error: str
    download_url: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


def _export_json(export) -> dict:
    from django.urls import reverse

    return {
        "id": export.pk,
        "status": export.status,
        "percent": export.percent,
        "progress_done": export.progress_done,
        "progress_total": export.progress_total,
        "size": export.size,
        "error": export.error,
        "download_url": reverse("api:export_download", args=[export.pk]) if export.status == "ready" else None,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
    }


@router.post(
    "/exports", response={202: ExportOut, 200: ExportOut}, summary="Start a data export (or get the running one)"
)
def start_export(request):
    from ninja import Status

    from timeline.exports import start_export as start

    export, created = start(request.user)
    return Status(202 if created else 200, _export_json(export))


@router.get("/exports/{export_id}", response=ExportOut, summary="A data export's progress")
def get_export(request, export_id: int):
    from timeline.models import DataExport

    return _export_json(get_object_or_404(DataExport, user=request.user, pk=export_id))


@router.get("/exports/{export_id}/download", url_name="export_download", summary="The export's zip")
def download_export(request, export_id: int):
    from django.core.files.storage import default_storage
    from django.http import FileResponse, Http404

    from timeline.models import DataExport

    export = get_object_or_404(DataExport, user=request.user, pk=export_id, status="ready")
    try:
        handle = default_storage.open(export.file, "rb")
    except OSError as exc:
        raise Http404("gone") from exc
    return FileResponse(handle, as_attachment=True, filename=export.file.rsplit("/", 1)[-1])


class WebhookIn(Schema):
    url: str = Field(max_length=2000)
    kinds: list[str] = Field(default_factory=list, description="Only changes of these kinds; empty: every kind")


class WebhookOut(Schema):
    id: int
    url: str
    kinds: list[str]
    delivered_cursor: str
    failures: int
    last_error: str
    last_delivered_at: datetime.datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret: shown this once")


def _hook_json(hook) -> dict:
    return {
        "id": hook.pk,
        "url": hook.url,
        "kinds": hook.kinds,
        "delivered_cursor": encode_cursor({"s": hook.delivered_seq}),
        "failures": hook.failures,
        "last_error": hook.last_error,
        "last_delivered_at": hook.last_delivered_at,
    }


@router.post("/webhooks", response={201: WebhookCreated}, summary="Register a change webhook")
def create_webhook(request, body: WebhookIn):
    """Batches of changed records are POSTed to `url`, signed with the secret this answer gives
    once (X-MetaCortex-Signature, as the workflow webhooks), from now on; earlier records are in
    GET /records."""
    from ninja import Status

    from connectors.errors import ConnectorError
    from connectors.kinds import KINDS
    from timeline.webhooks import register

    unknown = [k for k in body.kinds if k not in KINDS]
    if unknown:
        raise HttpError(400, f"Unknown kind(s): {', '.join(unknown[:5])}. Kinds are: {', '.join(KINDS)}.")
    try:
        hook, secret = register(request.user, body.url, body.kinds)
    except ConnectorError as exc:
        raise HttpError(400, f"{exc.message} {exc.remediation}".strip()) from exc
    return Status(201, {**_hook_json(hook), "secret": secret})


@router.get("/webhooks", response=list[WebhookOut], summary="Your change webhooks")
def list_webhooks(request):
    from timeline.models import ChangeWebhook

    return [_hook_json(h) for h in ChangeWebhook.objects.filter(user=request.user)]


@router.delete("/webhooks/{webhook_id}", response={204: None}, summary="Stop a change webhook")
def delete_webhook(request, webhook_id: int):
    from ninja import Status

    from timeline.models import ChangeWebhook

    get_object_or_404(ChangeWebhook, user=request.user, pk=webhook_id).delete()
    return Status(204, None)
