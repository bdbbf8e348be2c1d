"""What a sync costs the database beside its records: the statements and commits of a no-change
re-sync are counted (constants, never timing), so a change that adds one fails here; and a batch
that stores nothing new is not written, while one that moves a cursor still is."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.base import Batch, Connector
from connectors.registry import registry
from integrations.models import Integration, IntegrationType, JobKind, JobStatus
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.factories import make_integration, make_type
from tests.peers.dovecot import PASSWORD, make_message

# A no-change IMAP re-sync, from queue_sync to the finished job, on the database rate-limit store.
# Durable commits: the job queued (with its audit event); claimed and started (with the
# credential's audited read); finished. Bookkeeping commits (integrations.sync.bookkeeping, not
# waiting for the WAL flush on PostgreSQL): a rate-limit slot and its settling for each of LOGIN,
# SELECT and SEARCH, and the request counter.
DURABLE_COMMITS = 3
BOOKKEEPING_COMMITS = 7
STATEMENTS = 29  # besides BEGIN, COMMIT, savepoints and SET LOCAL
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL synchronous_commit")


def _counts(queries: list[dict]) -> tuple[int, int, list[str]]:
    """(durable commits, bookkeeping commits, other statements) of a captured run. On SQLite
    every commit counts as durable: there is no SET LOCAL there (nor a WAL flush to wait for)."""
    durable = lazy = 0
    unflushed = False
    statements = []
    for query in queries:
        sql = query["sql"]
        if sql.startswith("SET LOCAL synchronous_commit = off"):
            unflushed = True
        elif sql == "COMMIT":
            lazy, durable = (lazy + 1, durable) if unflushed else (lazy, durable + 1)
            unflushed = False
        elif sql == "ROLLBACK":
            unflushed = False
        if not sql.startswith(CONTROL):
            statements.append(sql)
    return durable, lazy, statements


@pytest.mark.peer
@pytest.mark.django_db(transaction=True)  # real commits, counted as they happen
def test_a_no_change_imap_resync_keeps_its_statements_and_commits(dovecot, allow_host, catalogue, owner, settings):
    settings.REDIS_URL = ""  # the rate limit's windows in the database: its writes are counted too
    allow_host(dovecot.host)
    user = dovecot.new_user()
    dovecot.deliver(user, [make_message(f"Hello {n}") for n in range(3)])
    imap = IntegrationType.objects.get(slug="imap")
    assert imap.rate_limit_per_minute or imap.burst_limit  # else nothing below is rate limited
    integration = make_integration(owner, imap, config=dovecot.config(user), secrets={"password": PASSWORD})
    assert run_job(queue_sync(integration, enqueue=False).pk).created == 3

    with CaptureQueriesContext(connection) as captured:
        job = run_job(queue_sync(integration, enqueue=False).pk)

    assert (job.status, job.kind, job.seen) == (JobStatus.SUCCEEDED, JobKind.INCREMENTAL, 0)
    durable, lazy, statements = _counts(captured.captured_queries)
    listing = "\n".join(q["sql"][:160] for q in captured.captured_queries)
    assert len(statements) <= STATEMENTS, listing
    if connection.vendor == "postgresql":
        assert (durable, lazy) == (DURABLE_COMMITS, BOOKKEEPING_COMMITS), listing
    else:
        assert durable + lazy <= DURABLE_COMMITS + BOOKKEEPING_COMMITS, listing
    integration.refresh_from_db()
    assert integration.status == "connected"
    assert integration.last_synced_at == job.finished_at


@registry.register("test_empty_batches")
class EmptyBatches(Connector):
    """One batch without records, its cursor (and total) taken from the config."""

    def list_changes(self, cursor):
        yield Batch(cursor=self.config.get("cursor"), total=self.config.get("total"))

    def transform(self, raw):  # pragma: no cover - there are no records
        raise AssertionError(raw)


@pytest.fixture
def quiet_integration(owner):
    itype = make_type(
        "empty-batches", handler="test_empty_batches", is_available=True, auth_kind="none", auth_schema=[]
    )
    return make_integration(owner, itype, sync_cursor={"v": 1})


def _sync(integration, *, kind=None, **config):
    Integration.objects.filter(pk=integration.pk).update(config=config)
    integration.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        job = run_job(queue_sync(integration, kind=kind, enqueue=False).pk)
    integration.refresh_from_db()
    return job, [q["sql"] for q in captured.captured_queries]


def _checkpoints(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.startswith('UPDATE "integrations_syncjob" SET "heartbeat_at"')]


def test_a_batch_that_stores_nothing_new_is_not_written(quiet_integration):
    job, statements = _sync(quiet_integration, cursor={"v": 1})
    assert job.status == JobStatus.SUCCEEDED
    assert _checkpoints(statements) == []
    assert (job.cursor_before, job.cursor_after, quiet_integration.sync_cursor) == ({"v": 1}, {"v": 1}, {"v": 1})
    assert job.progress_total == 0


def test_a_batch_that_moves_the_cursor_or_the_total_is_stored(quiet_integration):
    job, statements = _sync(quiet_integration, cursor={"v": 2})
    assert len(_checkpoints(statements)) == 1
    assert (job.cursor_after, quiet_integration.sync_cursor) == ({"v": 2}, {"v": 2})

    job, statements = _sync(quiet_integration, cursor={"v": 2}, total=7)
    assert len(_checkpoints(statements)) == 1  # a total to show while it runs


def test_a_full_sync_whose_batch_has_no_cursor_still_clears_the_integrations(quiet_integration):
    # The job starts from None (the batch's cursor too) but the integration's stored cursor is not
    # None: the checkpoint is written, as it always was.
    job, statements = _sync(quiet_integration, kind=JobKind.FULL, cursor=None)
    assert job.status == JobStatus.SUCCEEDED
    assert len(_checkpoints(statements)) == 1
    assert quiet_integration.sync_cursor is None
