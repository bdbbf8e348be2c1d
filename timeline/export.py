"""Building a person's data export in the worker: records/<kind>.jsonl (each record with its typed
fields, place, people, links and every source with its provenance), places.jsonl, people.jsonl,
items.jsonl (every stored source record as it came in) and the archives the person kept.
Written to a temporary file first and moved into storage when complete, with progress."""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone

from integrations.models import SyncedItem
from timeline.models import DataExport, Entity, EntityPerson, ExportStatus, Link, Person, Place

log = logging.getLogger(__name__)
CHUNK = 1000
# Files a person kept (uploaded archives): callables user -> [(path on disk, name in the zip)].
kept_files: list[Callable] = []


def kept_uploads(user) -> list[tuple[Path, str]]:
    """The archives the person uploaded and chose to keep ("keep the archive")."""
    from integrations.models import Upload, UploadStatus
    from integrations.uploads.storage import path_of

    found = []
    for upload in Upload.objects.filter(user=user, keep_archive=True, status=UploadStatus.IMPORTED).order_by("pk"):
        path = path_of(upload)
        if path.is_file():
            found.append((path, f"{upload.pk.hex[:8]}-{upload.filename}"))
    return found


kept_files.append(kept_uploads)


def _line(value: dict) -> bytes:
    return (json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n").encode()


def _chunks(queryset) -> Iterable[list]:
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _entity_lines(entities: list[Entity]) -> Iterable[dict]:
    ids = [e.pk for e in entities]
    sources: dict[int, list] = {}
    for item in SyncedItem.objects.filter(timeline_source__entity_id__in=ids).annotate(
        entity_id=F("timeline_source__entity_id")
    ):
        sources.setdefault(item.entity_id, []).append(
            {
                "item_id": item.pk,
                "integration_id": item.integration_id,
                "integration_name": item.source_name,
                "source_type": item.source_type,
                "external_id": item.external_id,
                "source_url": item.source_url,
                "fetched_at": item.fetched_at,
                "first_seen_at": item.first_seen_at,
            }
        )
    links: dict[int, list] = {}
    columns = ("source_id", "target_id", "reason")
    for source, target, reason in Link.objects.filter(source_id__in=ids).values_list(*columns):
        links.setdefault(source, []).append({"record": target, "reason": reason})
    for source, target, reason in Link.objects.filter(target_id__in=ids).values_list(*columns):
        links.setdefault(target, []).append({"record": source, "reason": reason})
    people: dict[int, list] = {}
    for entity_id, person_id, role in EntityPerson.objects.filter(entity_id__in=ids).values_list(
        "entity_id", "person_id", "role"
    ):
        people.setdefault(entity_id, []).append({"person": person_id, "role": role})
    for e in entities:
        yield {
            "id": e.pk,
            "kind": e.kind,
            "title": e.title,
            "summary": e.summary,
            "start": e.start_at,
            "end": e.end_at,
            "fields": e.fields,
            "place": e.place_id,
            "people": people.get(e.pk, []),
            "links": links.get(e.pk, []),
            "sources": sources.get(e.pk, []),
        }


def build(export_id: int) -> DataExport:
    export = DataExport.objects.select_related("user").get(pk=export_id)
    if not DataExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(status=ExportStatus.RUNNING):
        return export  # another worker has it, or it is done
    user = export.user
    entities = Entity.objects.filter(user=user, deleted_at__isnull=True)
    items = SyncedItem.objects.filter(user=user)
    extra = [pair for provider in kept_files for pair in provider(user)]
    total = entities.count() + items.count() + len(extra)
    DataExport.objects.filter(pk=export_id).update(progress_total=total)
    done = 0
    try:
        with tempfile.TemporaryFile() as spool:
            with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
                kinds = sorted(set(entities.values_list("kind", flat=True).distinct()))
                for kind in kinds:  # a zip member is written in one go: one kind after the other
                    with archive.open(f"records/{kind}.jsonl", "w") as out:
                        for rows in _chunks(entities.filter(kind=kind)):
                            for line in _entity_lines(rows):
                                out.write(_line(line))
                            done += len(rows)
                            DataExport.objects.filter(pk=export_id).update(progress_done=done)
                with archive.open("items.jsonl", "w") as out:
                    for rows in _chunks(items):
                        for item in rows:
                            out.write(_line(_item(item)))
                        done += len(rows)
                        DataExport.objects.filter(pk=export_id).update(progress_done=done)
                with archive.open("places.jsonl", "w") as out:
                    for rows in _chunks(Place.objects.filter(user=user)):
                        for place in rows:
                            out.write(_line(_place(place)))
                with archive.open("people.jsonl", "w") as out:
                    for rows in _chunks(Person.objects.filter(user=user)):
                        for person in rows:
                            out.write(_line({"id": person.pk, "name": person.name, "email": person.email}))
                for path, arcname in extra:
                    with open(path, "rb") as source, archive.open(f"archives/{arcname}", "w") as out:
                        while chunk := source.read(1024 * 1024):
                            out.write(chunk)
                    done += 1
                archive.writestr("README.txt", README)
            size = spool.tell()
            spool.seek(0)
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            name = default_storage.save(f"exports/{user.pk}/metacortex-export-{stamp}.zip", File(spool))
    except Exception as exc:  # the person is told; the operator gets the traceback
        log.exception("Data export %s failed", export_id)
        DataExport.objects.filter(pk=export_id).update(
            status=ExportStatus.FAILED,
            finished_at=timezone.now(),
            error=f"The export could not be built ({type(exc).__name__}). Try again; if it fails again, "
            "ask the operator, who has the details.",
        )
        return DataExport.objects.get(pk=export_id)
    _drop_older(user, keep=export_id)
    DataExport.objects.filter(pk=export_id).update(
        status=ExportStatus.READY, file=name, size=size, progress_done=total, finished_at=timezone.now()
    )
    return DataExport.objects.get(pk=export_id)


def _item(item: SyncedItem) -> dict:
    return {
        "id": item.pk,
        "integration_id": item.integration_id,
        "integration_name": item.source_name,
        "source_type": item.source_type,
        "kind": item.kind,
        "external_id": item.external_id,
        "title": item.title,
        "summary": item.summary,
        "occurred_at": item.occurred_at,
        "data": item.data,
        "source_url": item.source_url,
        "fetched_at": item.fetched_at,
        "deleted_at": item.deleted_at,
    }


def _place(place: Place) -> dict:
    return {
        "id": place.pk,
        "name": place.label,
        "names": place.names,
        "lat": place.lat,
        "lon": place.lon,
        "locality": place.locality,
        "region": place.region,
        "country": place.country,
    }


def _drop_older(user, keep: int):
    for old in DataExport.objects.filter(user=user, status=ExportStatus.READY).exclude(pk=keep):
        delete_file(old)
        old.delete()


def delete_file(export: DataExport):
    if export.file:
        try:
            default_storage.delete(export.file)
        except OSError:
            log.warning("Could not delete the export file of export %s", export.pk)


README = """MetaCortex data export

records/<kind>.jsonl       one JSON object per line: a record of the timeline (one real thing),
                           with its typed fields, place id, people, links (with the reason) and
                           every source record that holds it (integration, external id, source URL,
                           when fetched). Kinds are described in the hub's docs/kinds.md.
items.jsonl                every record as each integration stored it, deleted ones included.
places.jsonl, people.jsonl the places and people the records refer to by id.
archives/                  the archives you uploaded and chose to keep.
Times are ISO 8601 in UTC.
"""
