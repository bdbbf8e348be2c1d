"""store_batch on the database it runs on (SQLite by default, PostgreSQL with DATABASE_URL): one
batch mixing every case (new, changed, unchanged, version-only, revived, tombstoned, a duplicate
within the batch), its counts, the rows it leaves and the primary keys batch_stored reports."""

import datetime

import pytest
from django.db import connection

from connectors.base import Record
from integrations.models import JobStatus, SyncedItem, SyncJob
from integrations.signals import batch_stored
from integrations.sync.jobs import LostOwnership
from integrations.sync.upsert import NOT_FINITE, store_batch
from tests.factories import make_integration
from tests.integrations.scripted import make_scripted_type

WHEN = datetime.datetime(2024, 3, 5, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture
def received():
    calls = []

    def receiver(sender, integration, job, created_ids, updated_ids, deleted_ids, **kwargs):
        calls.append(
            dict(created=sorted(created_ids), updated=sorted(updated_ids), deleted=sorted(deleted_ids)),
        )

    batch_stored.connect(receiver)
    yield calls
    batch_stored.disconnect(receiver)


def running_job(integration, worker="w1"):
    """The integration's one running job (a batch is stored only by the worker that runs it)."""
    job = SyncJob.objects.filter(integration=integration, status=JobStatus.RUNNING).first()
    return job or SyncJob.objects.create(integration=integration, status=JobStatus.RUNNING, worker=worker)


def note(external_id, title, *, version="", match_key="", data=None, when=WHEN):
    return Record(
        external_id=external_id,
        kind="note",
        title=title,
        summary=f"about {title}",
        occurred_at=when,
        data=data if data is not None else {"n": title, "tags": ["a", "ü"], "nested": {"x": None}},
        source_url=f"https://example.com/{external_id}",
        version=version,
        match_key=match_key,
    )


def stored(integration):
    return {row.external_id: row for row in SyncedItem.objects.filter(integration=integration)}


def test_one_batch_with_every_case(owner, received):
    integration = make_integration(owner, make_scripted_type())
    first = running_job(integration)
    result = store_batch(
        first,
        "w1",
        integration,
        [
            note("f/1/1", "Kept", version="v1"),
            note("f/1/2", "Edited", version="v1"),
            note("f/1/3", "Flagged", version="v1"),
            note("f/1/4", "Moved", match_key="f/<m@x>"),
            note("f/1/5", "Gone"),
            note("g/1", "Other", when=None, data={}),
        ],
        cursor={"n": 1},
    )
    assert (result.seen, result.created, result.updated, result.unchanged) == (6, 6, 0, 0)
    before = stored(integration)
    assert received[-1]["created"] == sorted(row.pk for row in before.values())
    assert before["f/1/1"].data == {"n": "Kept", "tags": ["a", "ü"], "nested": {"x": None}}
    assert (before["f/1/1"].occurred_at, before["g/1"].occurred_at) == (WHEN, None)
    assert before["f/1/1"].source_type == integration.type.slug
    assert before["f/1/1"].source_name == integration.name
    assert before["f/1/1"].last_job_id == first.pk
    assert before["f/1/1"].user_id == owner.pk
    assert before["f/1/4"].match_key == "f/<m@x>"

    # The folder's identity changes: f/1/* are tombstoned, "Moved" comes back as f/2/9 (revived).
    store_batch(running_job(integration), "w1", integration, [], reset_prefix="f/1/", cursor={"n": 2})
    assert all(row.deleted_at for key, row in stored(integration).items() if key.startswith("f/1/"))
    received.clear()

    second = running_job(integration)
    records = [
        note("g/1", "Other", when=None, data={}),  # unchanged
        note("g/2", "Brand new", data={"when": WHEN}),  # new (a datetime inside data)
        note("f/2/9", "Moved", match_key="f/<m@x>"),  # revived
        note("g/3", "New twice"),
        note("g/3", "New twice, last wins"),  # a duplicate within the batch: the last one wins
    ]
    result = store_batch(second, "w1", integration, records, cursor={"n": 3}, total=10)
    assert (result.seen, result.created, result.updated, result.unchanged) == (5, 2, 1, 2)
    after = stored(integration)
    assert after["f/2/9"].pk == before["f/1/4"].pk  # the same row, under its new id
    assert after["f/2/9"].deleted_at is None
    assert after["f/2/9"].first_seen_at == before["f/1/4"].first_seen_at
    assert after["g/3"].title == "New twice, last wins"
    assert after["g/2"].data == {"when": "2024-03-05T09:30:00Z"}  # as DjangoJSONEncoder writes it
    assert after["g/1"].updated_at == before["g/1"].updated_at  # unchanged: not rewritten
    (call,) = received
    assert call["created"] == sorted([after["g/2"].pk, after["g/3"].pk])
    assert call["updated"] == [after["f/2/9"].pk]
    assert call["deleted"] == []
    job = SyncJob.objects.get(pk=second.pk)  # the counters add up over the job's three batches
    assert (job.seen, job.created, job.updated, job.unchanged, job.progress_total) == (11, 8, 1, 2, 10)
    assert job.cursor_after == {"n": 3}
    integration.refresh_from_db()
    assert integration.sync_cursor == {"n": 3}


def test_changed_unchanged_version_only_and_deleted(owner, received):
    integration = make_integration(owner, make_scripted_type())
    store_batch(
        running_job(integration),
        "w1",
        integration,
        [note(k, k.upper(), version="v1") for k in ("a", "b", "c", "d")],
    )
    before = stored(integration)
    received.clear()

    job = running_job(integration)
    result = store_batch(
        job,
        "w1",
        integration,
        [
            note("a", "A", version="v1"),  # unchanged
            note("b", "B, edited", version="v2"),  # changed
            note("c", "C", version="v2"),  # same content, new version: stored without an update
        ],
        deletes=["d", "never-seen"],
    )
    assert (result.created, result.updated, result.unchanged, result.deleted) == (0, 1, 2, 1)
    after = stored(integration)
    assert (after["b"].title, after["b"].version, after["b"].pk) == ("B, edited", "v2", before["b"].pk)
    assert after["b"].first_seen_at == before["b"].first_seen_at
    assert after["b"].last_job_id == job.pk
    assert after["c"].version == "v2"
    assert after["c"].updated_at == before["c"].updated_at  # the version alone: not an update
    assert after["a"].version == "v1"
    assert after["d"].deleted_at is not None
    assert after["a"].deleted_at is None
    (call,) = received
    assert call == dict(created=[], updated=[before["b"].pk], deleted=[before["d"].pk])
    assert SyncJob.objects.get(pk=job.pk).deleted == 1  # the job's counter

    # A record deleted and then back: a changed record again, the same row.
    result = store_batch(running_job(integration), "w1", integration, [note("d", "D", version="v1")])
    assert (result.created, result.updated) == (0, 1)
    assert stored(integration)["d"].deleted_at is None
    assert stored(integration)["d"].pk == before["d"].pk


def test_a_batch_of_a_lost_job_stores_nothing(owner):
    integration = make_integration(owner, make_scripted_type())
    job = running_job(integration, worker="someone-else")
    with pytest.raises(LostOwnership):
        store_batch(job, "w1", integration, [note("a", "A")], deletes=["x"], cursor={"n": 1})
    assert not SyncedItem.objects.filter(integration=integration).exists()
    integration.refresh_from_db()
    assert integration.sync_cursor is None


def test_many_records_in_one_batch(owner, received):
    """More rows than one SQLite statement may bind: every path chunks or sends arrays."""
    integration = make_integration(owner, make_scripted_type())
    records = [note(f"m/{n}", f"Message {n}", version="v1", match_key=f"m/<{n}@x>") for n in range(2000)]
    result = store_batch(running_job(integration), "w1", integration, records)
    assert result.created == 2000
    assert len(received[-1]["created"]) == 2000
    records = [note(f"m/{n}", f"Message {n}", version="v2" if n % 2 else "v1") for n in range(2000)]
    records[7] = note("m/7", "Message 7, edited", version="v2")
    result = store_batch(
        running_job(integration), "w1", integration, records, deletes=[f"m/{n}" for n in range(1990, 2000)]
    )
    assert (result.created, result.updated, result.unchanged, result.deleted) == (0, 1, 1999, 10)
    versions = dict(SyncedItem.objects.filter(integration=integration).values_list("external_id", "version"))
    assert [versions["m/3"], versions["m/4"], versions["m/7"]] == ["v2", "v1", "v2"]
    assert SyncedItem.objects.filter(integration=integration, deleted_at__isnull=False).count() == 10
    assert connection.vendor in ("sqlite", "postgresql")


def _lz4_on_server() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        return "lz4" in (cursor.fetchone()[0] or [])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TOAST compression is PostgreSQL's")
def test_big_item_data_is_stored_lz4_compressed_where_the_server_has_lz4(owner):
    """Migration 0017 sets lz4 on the data column; the staging table must compress the same way, or
    PostgreSQL copies its pglz values into the items table unchanged."""
    if not _lz4_on_server():
        pytest.skip("this PostgreSQL was built without lz4: pglz stays")
    integration = make_integration(owner, make_scripted_type())
    samples = [{"start": f"2024-03-01T08:{n % 60:02d}:00+01:00", "value": n} for n in range(2000)]  # ~80 KB
    store_batch(running_job(integration), "w1", integration, [note("big", "Big", data={"samples": samples})])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(data) FROM integrations_synceditem WHERE integration_id = %s",
            [integration.pk],
        )
        assert cursor.fetchone()[0] == "lz4"
    assert SyncedItem.objects.get(integration=integration).data["samples"] == samples


def test_a_record_that_cannot_be_stored_is_an_item_error_not_a_failed_batch(owner):
    """NaN or Infinity have no JSON form: such a record is named in the job's errors and the rest of
    its batch is stored. PostgreSQL stores no NUL character (SQLite would): it is taken out of the
    record's text and data on both, and the record kept."""
    integration = make_integration(owner, make_scripted_type())
    job = running_job(integration)
    records = [
        note("good", "Good"),
        note("nan", "NaN", data={"value": float("nan")}),
        note("inf", "Inf", data={"nested": [1, float("inf")]}),
        note("nul-title", "Bad\x00title"),
        note("nul-data", "NUL data", data={"text": "a\x00b", "list": ["\x00"]}),
        note("nul\x00id", "NUL in the id"),
        note("escaped", "Escaped", data={"text": "a literal \\u0000 is fine"}),
    ]
    result = store_batch(job, "w1", integration, records, item_errors=[{"external_id": "x", "error": "earlier"}])

    items = {i.external_id: i for i in SyncedItem.objects.filter(integration=integration)}
    assert set(items) == {"good", "nul-title", "nul-data", "nulid", "escaped"}
    assert items["nul-title"].title == "Badtitle"
    assert items["nul-data"].data == {"text": "ab", "list": [""]}
    assert items["escaped"].data == {"text": "a literal \\u0000 is fine"}
    assert (result.seen, result.created, result.failed) == (8, 5, 3)
    job.refresh_from_db()
    assert job.failed == 3
    errors = {e["external_id"]: e["error"] for e in job.item_errors}
    assert errors["nan"] == errors["inf"] == NOT_FINITE
    assert errors["x"] == "earlier"

    # The same records sent again are unchanged (the hash is the record's as sent).
    again = store_batch(running_job(integration), "w1", integration, records)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)


def test_a_lone_surrogate_becomes_a_replacement_character_and_the_batch_is_stored(owner):
    """Bytes a parser could not decode (a mail header in an unknown charset) can reach a record as
    lone surrogates, which neither SQLite's driver nor PostgreSQL stores: the whole batch failed
    with an internal error. They become U+FFFD; real characters outside the BMP stay as they are."""
    integration = make_integration(owner, make_scripted_type())
    records = [
        note("good", "Good \U0001f4cb"),
        note("title", "J\udce9r\udcf4me"),
        note("data", "Data", data={"from": {"name": "Dupr\udce9", "emoji": "\U0001f600"}, "k\ud800": ["\udfff"]}),
    ]

    result = store_batch(running_job(integration), "w1", integration, records)

    items = stored(integration)
    assert (result.created, result.failed) == (3, 0)
    assert items["good"].title == "Good \U0001f4cb"
    assert items["title"].title == "J\ufffdr\ufffdme"
    assert items["data"].data == {"from": {"name": "Dupr\ufffd", "emoji": "\U0001f600"}, "k\ufffd": ["\ufffd"]}
    again = store_batch(running_job(integration), "w1", integration, records)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
