"""Storing one batch: idempotent upserts keyed by (integration, external_id), tombstones, item
errors, counts and the cursor checkpoint, all in one transaction. A batch is either stored
with its cursor or not at all, so a worker killed at any point resumes without loss or
duplicates.

When a source's identity changes (IMAP UIDVALIDITY: every message gets a new id), the batch's
reset_prefix tombstones that scope's records instead of deleting them, and each record that comes
back under a new id with the same match key (folder + Message-ID) revives its old row: same
primary key, same first_seen_at, so nothing downstream (a "new mail" workflow) takes it for new.

Inside that transaction, once the batch is stored, integrations.signals.batch_stored
tells its receivers which SyncedItem rows were created, updated and tombstoned."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from integrations import counts
from integrations.models import Integration, JobStatus, SyncedItem, SyncJob
from integrations.signals import batch_stored
from integrations.sync.hashing import content_hash
from integrations.sync.jobs import LostOwnership

MAX_ITEM_ERRORS_KEPT = 100
CHUNK = 900  # below SQLite's bound-variable limit
UPDATE_FIELDS = [
    "kind",
    "version",
    "occurred_at",
    "title",
    "summary",
    "data",
    "content_hash",
    "source_name",
    "source_url",
    "fetched_at",
    "last_job",
    "deleted_at",
    "match_key",
    "updated_at",
]


@dataclass
class BatchResult:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0


def _existing(integration_id: int, external_ids: list[str]) -> dict[str, tuple]:
    found = {}
    for start in range(0, len(external_ids), CHUNK):
        rows = SyncedItem.objects.filter(
            integration_id=integration_id, external_id__in=external_ids[start : start + CHUNK]
        ).values_list("external_id", "pk", "content_hash", "version", "deleted_at")
        for external_id, pk, digest, version, deleted_at in rows:
            found[external_id] = (pk, digest, version, deleted_at)
    return found


def _revivable(integration_id: int, match_keys: list[str]) -> dict[str, list[int]]:
    """Tombstoned rows by match key, for records that arrive under an id not stored yet."""
    found: dict[str, list[int]] = {}
    keys = sorted(set(match_keys))
    for start in range(0, len(keys), CHUNK):
        rows = SyncedItem.objects.filter(
            integration_id=integration_id, match_key__in=keys[start : start + CHUNK], deleted_at__isnull=False
        ).order_by("-pk")
        for key, pk in rows.values_list("match_key", "pk"):
            found.setdefault(key, []).insert(0, pk)  # the newest row is revived first (pop)
    return found


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def store_batch(
    job: SyncJob,
    worker: str,
    integration: Integration,
    records: list,
    *,
    deletes: list[str] = (),
    item_errors: list[dict] = (),
    cursor=None,
    total: int | None = None,
    reset_prefix: str | None = None,
    advance_integration_cursor: bool = True,
) -> BatchResult:
    now = timezone.now()
    result = BatchResult(seen=len(records) + len(item_errors), failed=len(item_errors))
    unique = {}
    for record in records:
        unique[record.external_id] = record  # the last version of a record within a batch wins
    existing = _existing(integration.pk, list(unique)) if unique else {}
    if reset_prefix is not None:  # those rows are tombstoned below, before the upserts
        existing = {k: (*v[:3], v[3] or now) if k.startswith(reset_prefix) else v for k, v in existing.items()}
    revivable = _revivable(
        integration.pk, [r.match_key for k, r in unique.items() if k not in existing and r.match_key]
    )
    to_create, to_update, to_revive, version_only = [], [], [], []
    for external_id, record in unique.items():
        digest = content_hash(record)
        values = dict(
            kind=record.kind,
            version=_clip(record.version or "", 255),
            occurred_at=record.occurred_at,
            title=_clip(record.title or "", 500),
            summary=record.summary or "",
            data=record.data,
            content_hash=digest,
            source_name=integration.name,
            source_url=_clip(record.source_url or "", 2000),
            fetched_at=now,
            last_job_id=job.pk,
            deleted_at=None,
            match_key=_clip(record.match_key or "", 512),
        )
        current = existing.get(external_id)
        revived = revivable.get(record.match_key, []) if current is None and record.match_key else []
        if revived:
            # Came back under a new id (e.g. a new UIDVALIDITY): the old row again, not a new one.
            to_revive.append(SyncedItem(pk=revived.pop(), external_id=external_id, updated_at=now, **values))
        elif current is None:
            # Plain column values, not model instances: the SQLite path inserts them as they are.
            values.update(
                user_id=integration.user_id,
                integration_id=integration.pk,
                external_id=external_id,
                source_type=integration.type.slug,
                first_seen_at=now,
                updated_at=now,
            )
            to_create.append(values)
        elif current[1] == digest and current[3] is None:
            result.unchanged += 1
            if current[2] != values["version"]:
                version_only.append((current[0], values["version"]))
        else:
            to_update.append(SyncedItem(pk=current[0], updated_at=now, **values))  # few: the ORM is fine
    result.created, result.updated = len(to_create), len(to_update) + len(to_revive)
    # Tombstoned rows stored again under their own id (to_update) come back to life too.
    revived_in_place = sum(1 for key in unique if (row := existing.get(key)) is not None and row[3] is not None)
    # Duplicates inside one batch were seen once each but stored once.
    result.unchanged += len(records) - len(unique)

    with transaction.atomic():
        counters = {
            name: F(name) + getattr(result, name)
            for name in ("seen", "created", "updated", "unchanged", "failed")
            if getattr(result, name)
        }
        job_updates = dict(
            heartbeat_at=now, cursor_after=cursor, progress_done=F("progress_done") + result.seen, **counters
        )
        if total is not None:
            job_updates["progress_total"] = total
        if not SyncJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(**job_updates):
            raise LostOwnership(f"job {job.pk} was taken over by another worker")
        deleted_ids = []
        if reset_prefix is not None:
            scope = SyncedItem.objects.filter(
                integration=integration, external_id__startswith=reset_prefix, deleted_at__isnull=True
            )
            if batch_stored.has_listeners():
                deleted_ids = list(scope.values_list("pk", flat=True))
            result.deleted += scope.update(deleted_at=now)
        if to_revive:
            SyncedItem.objects.bulk_update(to_revive, [*UPDATE_FIELDS, "external_id"], batch_size=500)
        if to_create:
            _insert(to_create, now)
        if to_update:
            SyncedItem.objects.bulk_update(to_update, UPDATE_FIELDS, batch_size=500)
        for pk, version in version_only:
            SyncedItem.objects.filter(pk=pk).update(version=version)
        if deletes:
            deletes = list(deletes)
            for start in range(0, len(deletes), CHUNK):
                gone = SyncedItem.objects.filter(
                    integration=integration, external_id__in=deletes[start : start + CHUNK], deleted_at__isnull=True
                )
                ids = list(gone.values_list("pk", flat=True))
                result.deleted += SyncedItem.objects.filter(pk__in=ids).update(deleted_at=now)
                deleted_ids += ids
        if result.deleted:
            SyncJob.objects.filter(pk=job.pk).update(deleted=F("deleted") + result.deleted)
        # The live item count moves with the rows, in this transaction (integrations.counts).
        counts.adjust(integration.pk, len(to_create) + len(to_revive) + revived_in_place - result.deleted)
        if item_errors:
            _append_item_errors(job, item_errors)
        if advance_integration_cursor:
            Integration.objects.filter(pk=integration.pk).update(sync_cursor=cursor)
        if batch_stored.has_listeners() and (to_create or to_update or to_revive or deleted_ids):
            batch_stored.send(
                sender=SyncedItem,
                integration=integration,
                job=job,
                created_ids=_ids_of(integration, [row["external_id"] for row in to_create]),
                updated_ids=sorted(item.pk for item in [*to_update, *to_revive]),
                deleted_ids=deleted_ids,
            )
    return result


def _ids_of(integration: Integration, external_ids: list[str]) -> list[int]:
    # The SQLite insert path does not return keys: read them back (only when someone listens).
    ids = []
    for start in range(0, len(external_ids), CHUNK):
        ids += SyncedItem.objects.filter(
            integration=integration, external_id__in=external_ids[start : start + CHUNK]
        ).values_list("pk", flat=True)
    return sorted(ids)


_INSERT_FIELDS = [f for f in SyncedItem._meta.concrete_fields if not f.primary_key]


def _insert(rows: list[dict], now) -> None:
    """bulk_create without the ORM's per-field preparation on SQLite, where that preparation was
    three quarters of a 10,000-message mail sync: values are adapted here once and sent with
    executemany. Other databases keep bulk_create."""
    connection = connections[SyncedItem.objects.db]
    if connection.vendor != "sqlite":
        SyncedItem.objects.bulk_create([SyncedItem(**row) for row in rows], batch_size=500)
        return
    ops = connection.ops
    table = ops.quote_name(SyncedItem._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in _INSERT_FIELDS)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})"  # noqa: S608
    stamp = ops.adapt_datetimefield_value(now)
    names = [f.attname for f in _INSERT_FIELDS]
    values = []
    for row in rows:
        occurred = row["occurred_at"]
        row = {
            **row,
            "occurred_at": ops.adapt_datetimefield_value(occurred) if occurred else None,
            "data": json.dumps(row["data"], cls=DjangoJSONEncoder),
            "fetched_at": stamp,
            "first_seen_at": stamp,
            "updated_at": stamp,
        }
        values.append([row[name] for name in names])
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _append_item_errors(job: SyncJob, item_errors: list[dict]):
    current = SyncJob.objects.filter(pk=job.pk).values_list("item_errors", flat=True).first() or []
    room = MAX_ITEM_ERRORS_KEPT - len(current)
    if room > 0:
        SyncJob.objects.filter(pk=job.pk).update(item_errors=current + list(item_errors)[:room])
