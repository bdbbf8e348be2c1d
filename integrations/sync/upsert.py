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

import dataclasses
import datetime
import hashlib
import json
import re
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import F, JSONField
from django.utils import timezone

from connectors.kinds import within_calendar
from integrations import counts
from integrations.models import Integration, JobStatus, SyncedItem, SyncJob
from integrations.signals import batch_stored
from integrations.sync.hashing import encode
from integrations.sync.jobs import LostOwnership

MAX_ITEM_ERRORS_KEPT = 100
CHUNK = 900  # below SQLite's bound-variable limit


@dataclass
class BatchResult:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0


def _existing(integration_id: int, external_ids: list[str]) -> dict[str, tuple]:
    rows = _select_keys(
        "SELECT external_id, id, content_hash, version, deleted_at FROM {table}"
        " WHERE integration_id = %s AND external_id {keys}",
        [integration_id],
        external_ids,
    )
    return {external_id: (pk, digest, version, deleted_at) for external_id, pk, digest, version, deleted_at in rows}


def _revivable(integration_id: int, match_keys: list[str]) -> dict[str, list[int]]:
    """Tombstoned rows by match key, for records that arrive under an id not stored yet."""
    found: dict[str, list[int]] = {}
    rows = _select_keys(
        "SELECT match_key, id FROM {table} WHERE integration_id = %s AND match_key {keys}"
        " AND match_key <> '' AND deleted_at IS NOT NULL ORDER BY id DESC",
        [integration_id],
        sorted(set(match_keys)),
    )
    for key, pk in rows:  # all of a key's rows come in one statement (one chunk), newest first
        found.setdefault(key, []).insert(0, pk)  # the newest row is revived first (pop)
    return found


def _is_postgresql() -> bool:
    return connections[SyncedItem.objects.db].vendor == "postgresql"


def _select(sql: str, params: list) -> list[tuple]:
    """One raw statement on SyncedItem's table ({table} in sql), without the ORM's per-value
    preparation of every key; the rows as the driver gives them (on SQLite, datetimes as text)."""
    connection = connections[SyncedItem.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(SyncedItem._meta.db_table)), params)
        return cursor.fetchall() if cursor.description else []


def _select_keys(sql: str, params: list, keys: list[str]) -> list[tuple]:
    """_select with "{keys}" standing for "IN (the keys)": PostgreSQL takes them all as one
    array parameter, SQLite a placeholder each, in chunks below its bound-variable limit."""
    if not keys:
        return []
    if _is_postgresql():
        return _select(sql.replace("{keys}", "= ANY(%s::text[])"), [*params, keys])
    rows = []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows += _select(sql.replace("{keys}", f"IN ({', '.join(['%s'] * len(chunk))})"), [*params, *chunk])
    return rows


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 in JSON text, not an escaped backslash's "u0000"
# A surrogate escape in JSON text that is not half of a pair (a quick filter: the exact check decodes).
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXTS = ("external_id", "title", "summary", "source_url", "version", "match_key")
NOT_FINITE = "The record holds a number that is not finite (NaN or Infinity); it was skipped."


def _storable(record):
    """(why the record cannot be stored or "", the record as stored, its encoded data and hash).
    NaN and Infinity have no JSON form: such a record is named and skipped. A NUL character, which
    PostgreSQL does not store (SQLite would: both drop it, so a record stores alike on both), is
    taken out of the text and the data, and the record kept: a stray NUL in a mail body must not
    lose the mail. A lone surrogate (undecodable bytes a parser left as escapes), which PostgreSQL
    refuses too, becomes U+FFFD, for the same reason. The hash is the record's as sent, so the
    next sync of the same record finds it unchanged."""
    try:
        data, digest = encode(record)
    except ValueError:
        return NOT_FINITE, record, None
    dirty = {
        name: _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
        for name in _TEXTS
        if isinstance(value := getattr(record, name), str)
        and ("\x00" in value or (not value.isascii() and _SURROGATE.search(value)))
    }
    if dirty:
        record = dataclasses.replace(record, **dirty)
    if "\\u0000" in data:
        data = _NUL_ESCAPE.sub(lambda found: found.group(0)[:-6], data)
    if "\\ud" in data and _LONE_SURROGATE_ESCAPE.search(data):
        data = json.dumps(_without_surrogates(json.loads(data)), sort_keys=True, separators=(",", ":"))
    return "", record, (data, digest)


def _without_surrogates(value):
    """A lone surrogate (bytes a parser could not decode, kept as escapes) is no character: no
    database stores one (PostgreSQL refuses the whole batch), so it becomes U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


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
    item_errors = list(item_errors)
    unique, encoded = {}, {}
    for record in records:
        unique[record.external_id] = record  # the last version of a record within a batch wins
    duplicates = len(records) - len(unique)
    for external_id, record in list(unique.items()):
        problem, stored, encoding = _storable(record)
        if problem:
            del unique[external_id]
            item_errors.append({"external_id": external_id[:300], "error": problem})
            result.failed += 1
            continue
        if stored.external_id != external_id:  # a NUL taken out of the id itself
            del unique[external_id]
        unique[stored.external_id], encoded[stored.external_id] = stored, encoding
    existing = _existing(integration.pk, list(unique)) if unique else {}
    if reset_prefix is not None:  # those rows are tombstoned below, before the upserts
        existing = {k: (*v[:3], v[3] or now) if k.startswith(reset_prefix) else v for k, v in existing.items()}
    revivable = _revivable(
        integration.pk, [r.match_key for k, r in unique.items() if k not in existing and r.match_key]
    )
    to_create, to_update, to_revive, version_only = [], [], [], []
    for external_id, record in unique.items():
        data, digest = encoded[external_id]  # the data's JSON text goes into the row as it is
        values = dict(
            kind=record.kind,
            version=_clip(record.version or "", 255),
            occurred_at=within_calendar(record.occurred_at),  # "never" (9999-12-31) must show in every zone
            title=_clip(record.title or "", 500),
            summary=record.summary or "",
            data=data,
            content_hash=digest,
            source_url=_clip(record.source_url or "", 2000),
            match_key=_clip(record.match_key or "", 512),
        )
        current = existing.get(external_id)
        revived = revivable.get(record.match_key, []) if current is None and record.match_key else []
        if revived:
            # Came back under a new id (e.g. a new UIDVALIDITY): the old row again, not a new one.
            to_revive.append((revived.pop(), {**values, "external_id": external_id}))
        elif current is None:
            values["external_id"] = external_id
            to_create.append(values)
        elif current[1] == digest and current[3] is None:
            result.unchanged += 1
            if current[2] != values["version"]:
                version_only.append((current[0], values["version"]))
        else:
            to_update.append((current[0], values))
    # Columns the same for every row of the batch: written once per statement, not once per row.
    rewritten = dict(source_name=integration.name, fetched_at=now, last_job_id=job.pk, deleted_at=None, updated_at=now)
    created = dict(
        rewritten,
        user_id=integration.user_id,
        integration_id=integration.pk,
        source_type=integration.type.slug,
        first_seen_at=now,
    )
    result.created, result.updated = len(to_create), len(to_update) + len(to_revive)
    # Tombstoned rows stored again under their own id (to_update) come back to life too.
    revived_in_place = sum(1 for key in unique if (row := existing.get(key)) is not None and row[3] is not None)
    # Duplicates inside one batch were seen once each but stored once.
    result.unchanged += duplicates

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
            _update(to_revive, rewritten)
        created_ids = _insert(to_create, created) if to_create else []
        if to_update:
            _update(to_update, rewritten)
        if version_only:
            _set_versions(version_only)
        if deletes:
            ids = _tombstone(integration, list(deletes), now)
            result.deleted += len(ids)
            deleted_ids += ids
        if result.deleted:
            SyncJob.objects.filter(pk=job.pk).update(deleted=F("deleted") + result.deleted)
        # The live item count moves with the rows, in this transaction (integrations.counts), in
        # the same statement as the cursor: one UPDATE of the integration's row per batch.
        integration_updates = counts.adjustment(len(to_create) + len(to_revive) + revived_in_place - result.deleted)
        if advance_integration_cursor:
            integration_updates["sync_cursor"] = cursor
        if integration_updates:
            Integration.objects.filter(pk=integration.pk).update(**integration_updates)
        if item_errors:
            _append_item_errors(job, item_errors)
        if batch_stored.has_listeners() and (to_create or to_update or to_revive or deleted_ids):
            batch_stored.send(
                sender=SyncedItem,
                integration=integration,
                job=job,
                created_ids=created_ids
                if created_ids is not None
                else _ids_of(integration, [row["external_id"] for row in to_create]),
                updated_ids=sorted(pk for pk, _values in [*to_update, *to_revive]),
                deleted_ids=deleted_ids,
            )
    return result


def _ids_of(integration: Integration, external_ids: list[str]) -> list[int]:
    # The SQLite insert path does not return keys: read them back (only when someone listens).
    rows = _select_keys(
        "SELECT id FROM {table} WHERE integration_id = %s AND external_id {keys}", [integration.pk], external_ids
    )
    return sorted(pk for (pk,) in rows)


def _insert(rows: list[dict], constants: dict) -> list[int] | None:
    """New rows (their own column values by attname, data as JSON text) plus the columns every
    row shares, without the ORM's per-field preparation (on SQLite three quarters of a
    10,000-message mail sync): values are adapted here once. PostgreSQL: COPY into a staging
    table, then one INSERT ... SELECT ... RETURNING id (the new primary keys come back with it).
    SQLite: executemany, and None (the keys are read back only when someone needs them)."""
    connection = connections[SyncedItem.objects.db]
    ops = connection.ops
    table = ops.quote_name(SyncedItem._meta.db_table)
    names = list(rows[0])
    if connection.vendor == "postgresql":
        shared = [name for name, value in constants.items() if value is not None]  # NULL is the default
        with connection.cursor() as cursor:
            copied = _stage(cursor, names, rows)
            columns = ", ".join([*copied, *(_column(name) for name in shared)])
            selected = ", ".join([*copied, *(_cast(name, connection) for name in shared)])
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {selected} FROM {STAGE} RETURNING id",  # noqa: S608
                [constants[name] for name in shared],
            )
            return sorted(pk for (pk,) in cursor.fetchall())
    if connection.vendor != "sqlite":
        rows = [{**row, **constants, "data": json.loads(row["data"])} for row in rows]
        SyncedItem.objects.bulk_create([SyncedItem(**row) for row in rows], batch_size=500)
        return None
    shared = list(constants)
    columns = ", ".join(_column(name) for name in [*names, *shared])
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * (len(names) + len(shared)))})"  # noqa: S608
    tail = [_sqlite_value(constants[name], ops) for name in shared]
    at = names.index("occurred_at")
    values = []
    for row in rows:
        value = list(row.values())
        if value[at] is not None:
            value[at] = ops.adapt_datetimefield_value(value[at])
        values.append([*value, *tail])
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
    return None


def _sqlite_value(value, ops):
    return ops.adapt_datetimefield_value(value) if isinstance(value, datetime.datetime) else value


def _update(rows: list[tuple[int, dict]], constants: dict) -> None:
    """Rewrite stored rows, (primary key, column values by attname, data as JSON text) each, and
    set the columns every row shares. PostgreSQL: COPY into the staging table and one UPDATE ...
    FROM it; elsewhere bulk_update."""
    connection = connections[SyncedItem.objects.db]
    if connection.vendor != "postgresql":
        items = []
        for pk, values in rows:
            item = SyncedItem(pk=pk, **values, **constants)
            item.data = json.loads(values["data"])  # the model field encodes it again
            items.append(item)
        fields = [SyncedItem._meta.get_field(name).name for name in [*rows[0][1], *constants]]
        SyncedItem.objects.bulk_update(items, fields, batch_size=500)
        return
    pk = SyncedItem._meta.pk.attname
    table = connection.ops.quote_name(SyncedItem._meta.db_table)
    with connection.cursor() as cursor:
        key, *columns = _stage(cursor, [pk, *rows[0][1]], [{pk: pk_value, **values} for pk_value, values in rows])
        sets = [f"{column} = {STAGE}.{column}" for column in columns]
        sets += [f"{_column(name)} = {_cast(name, connection)}" for name in constants]
        cursor.execute(
            f"UPDATE {table} SET {', '.join(sets)} FROM {STAGE} WHERE {table}.{key} = {STAGE}.{key}",  # noqa: S608
            list(constants.values()),
        )


def _column(attname: str) -> str:
    return connections[SyncedItem.objects.db].ops.quote_name(_FIELDS[attname].column)


def _cast(attname: str, connection) -> str:
    # Typed: a parameter in a SELECT list would otherwise be text, and NULL has no type at all.
    return f"CAST(%s AS {_db_type(_FIELDS[attname], connection)})"


_STAGE_FIELDS = [f for f in SyncedItem._meta.concrete_fields if not getattr(f, "generated", False)]
_FIELDS = {f.attname: f for f in _STAGE_FIELDS}
# Named after its columns: a session kept across a deploy (a pooler) never meets an older shape.
STAGE = (
    "synceditem_stage_"
    + hashlib.sha1(
        ",".join(f"{f.column}:{f.get_internal_type()}" for f in _STAGE_FIELDS).encode(), usedforsecurity=False
    ).hexdigest()[:10]
)


def _stage(cursor, names: list[str], rows: list[dict]) -> list[str]:
    """PostgreSQL: rows (dicts with the keys `names`, in that order; JSON columns as JSON text)
    into this session's staging table (every column of SyncedItem, none required), emptied first,
    through COPY: psycopg formats COPY rows in C, where a statement's parameters (an array per
    column, or a VALUES list) are quoted value by value in Python, a regular expression over every
    string; that quoting cost more than the database's own work. Returns the quoted column names,
    in the order of `names`."""
    connection = cursor.db
    quote = connection.ops.quote_name
    compression = _json_compression(cursor)
    definition = ", ".join(
        f"{quote(f.column)} {_db_type(f, connection)}{compression if isinstance(f, JSONField) else ''}"
        for f in _STAGE_FIELDS
    )
    # Temporary: private to the session and never WAL-logged. Emptied at each commit, and here
    # (a rolled-back savepoint, or an earlier statement in the same transaction, may leave rows).
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ({definition}) ON COMMIT DELETE ROWS; DELETE FROM {STAGE}"  # noqa: S608
    )
    columns = [quote(_FIELDS[name].column) for name in names]
    with cursor.cursor.copy(f"COPY {STAGE} ({', '.join(columns)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(tuple(row.values()))
    return columns


def _json_compression(cursor) -> str:
    """ " COMPRESSION lz4" when the item data column uses lz4 (migration 0017), else "": PostgreSQL
    keeps a value compressed as it was in the staging table when it copies it into the items
    table, so the stage must compress as the column does. Asked once per connection."""
    connection = cursor.db
    found = getattr(connection, "_synceditem_json_compression", None)
    if found is None or found[0] is not connection.connection:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
            [SyncedItem._meta.db_table, _FIELDS["data"].column],
        )
        row = cursor.fetchone()
        method = " COMPRESSION lz4" if row and row[0] == "l" else ""
        found = connection._synceditem_json_compression = (connection.connection, method)
    return found[1]


def _db_type(field, connection) -> str:
    return "jsonb" if isinstance(field, JSONField) else field.db_type(connection)


def _set_versions(pairs: list[tuple[int, str]]) -> None:
    """Records unchanged but for their version (new flags digest, new MODSEQ)."""
    connection = connections[SyncedItem.objects.db]
    if connection.vendor != "postgresql":
        for pk, version in pairs:
            SyncedItem.objects.filter(pk=pk).update(version=version)
        return
    _select(
        "UPDATE {table} SET version = v.version FROM unnest(%s::bigint[], %s::text[]) AS v(id, version)"
        " WHERE {table}.id = v.id",
        [[pk for pk, _version in pairs], [version for _pk, version in pairs]],
    )


def _tombstone(integration: Integration, external_ids: list[str], now) -> list[int]:
    """Mark the live records among external_ids as gone at the source; their primary keys."""
    if _is_postgresql():
        rows = _select(
            "UPDATE {table} SET deleted_at = %s WHERE integration_id = %s AND external_id = ANY(%s::text[])"
            " AND deleted_at IS NULL RETURNING id",
            [now, integration.pk, external_ids],
        )
        return [pk for (pk,) in rows]
    deleted_ids = []
    for start in range(0, len(external_ids), CHUNK):
        gone = SyncedItem.objects.filter(
            integration=integration, external_id__in=external_ids[start : start + CHUNK], deleted_at__isnull=True
        )
        ids = list(gone.values_list("pk", flat=True))
        SyncedItem.objects.filter(pk__in=ids).update(deleted_at=now)
        deleted_ids += ids
    return deleted_ids


def _append_item_errors(job: SyncJob, item_errors: list[dict]):
    current = SyncJob.objects.filter(pk=job.pk).values_list("item_errors", flat=True).first() or []
    room = MAX_ITEM_ERRORS_KEPT - len(current)
    if room > 0:
        SyncJob.objects.filter(pk=job.pk).update(item_errors=current + list(item_errors)[:room])
