"""The run loop: claim a job, stream the connector's batches into the database, checkpoint the
cursor with each batch, and apply the error policy of connectors.errors in this one place."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.errors import (
    AUTH,
    CONFIG,
    INTERNAL,
    ITEM,
    RATE_LIMIT,
    TRANSIENT,
    ConnectorError,
    classify,
    internal_error,
)
from connectors.http import backoff_delay, sleep_with_heartbeat
from integrations import lifecycle
from integrations.models import Integration, JobKind, JobStatus, Status, SyncJob
from integrations.sync import jobs
from integrations.sync.context import build_context
from integrations.sync.upsert import store_batch

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncJob], None]


# Statuses a sync may move to "syncing". Paused, disconnected and needs-re-auth ones are never
# touched: a job queued before the user paused must not undo the pause.
SYNCABLE_STATUSES = (Status.PENDING, Status.CONNECTED, Status.ERROR, Status.SYNCING)


def run_job(
    job_id: int, *, worker: str | None = None, on_progress: ProgressCallback | None = None, sleep=time.sleep
) -> SyncJob | None:
    """Run (or take over) a queued job. Returns the finished job, or None if another worker has it."""
    worker = worker or jobs.worker_id()
    job = jobs.claim(job_id, worker)
    if job is None:
        log.info("Sync job %s is not claimable (finished, or another worker is on it)", job_id)
        return None
    integration = job.integration
    try:
        reason = jobs.refusal_reason(integration)
    except ConnectorError:
        reason = None  # a broken handler: the run below meets it again and fails the job with its message
    if reason:
        # Paused, disconnected or refused since the job was queued: the user's choice wins.
        log.info("Sync job %s cancelled: %s", job.pk, reason)
        jobs.cancel_claimed(job, worker, reason)
        return _finished(job, on_progress)
    if job.attempts == 1:
        start = None if job.kind in (JobKind.FULL, JobKind.BACKFILL) else integration.sync_cursor
        job.cursor_before = job.cursor_after = start
        SyncJob.objects.filter(pk=job.pk).update(cursor_before=start, cursor_after=start)
    else:
        log.warning("Sync job %s resumed by %s from its last checkpoint (attempt %s)", job.pk, worker, job.attempts)
    Integration.objects.filter(pk=integration.pk, status__in=SYNCABLE_STATUSES).update(status=Status.SYNCING)
    try:
        _run_with_retries(job, worker, integration, on_progress, sleep)
    except jobs.LostOwnership:
        log.warning("Sync job %s was taken over by another worker; stopping here", job.pk)
        return None
    return _finished(job, on_progress)


def _finished(job: SyncJob, on_progress: ProgressCallback | None) -> SyncJob:
    job.refresh_from_db()
    if on_progress:
        on_progress(job)
    return job


def _run_with_retries(job: SyncJob, worker: str, integration: Integration, on_progress, sleep):
    def wait(seconds: float):
        # In slices with a heartbeat: SYNC_MAX_WAIT (900 s) is longer than SYNC_STALE_AFTER (300 s).
        sleep_with_heartbeat(seconds, lambda: jobs.heartbeat(job, worker), sleep)
        job.refresh_from_db(fields=["cursor_after"])

    transient_tries = 0
    while True:
        try:
            _run_once(job, worker, integration, on_progress)
        except Exception as exc:  # every failure is classified and recorded below
            error = classify(exc)  # an unrecognised exception is logged there with its traceback
            if error.error_class == ITEM:
                # Bad data is only an item error inside transform(); out here it is a bug.
                log.exception("Sync job %s hit an unexpected error", job.pk)
                error = internal_error(exc)
            if error.error_class == TRANSIENT and transient_tries < settings.SYNC_MAX_TRANSIENT_RETRIES:
                delay = backoff_delay(transient_tries)
                transient_tries += 1
                log.info("Sync job %s: %s; retrying from the checkpoint in %.1f s", job.pk, error, delay)
                wait(delay)
                continue
            if error.error_class == RATE_LIMIT and transient_tries < settings.SYNC_MAX_TRANSIENT_RETRIES:
                delay = min(error.retry_after or backoff_delay(transient_tries), settings.SYNC_MAX_WAIT)
                transient_tries += 1
                log.info("Sync job %s rate limited; waiting %.1f s before resuming", job.pk, delay)
                wait(delay)
                continue
            _fail(job, worker, integration, error)
            return
        _succeed(job, worker, integration)
        return


def _run_once(job: SyncJob, worker: str, integration: Integration, on_progress):
    ctx = build_context(
        integration, purpose=f"sync job {job.pk}", options=job.options, on_heartbeat=lambda: jobs.heartbeat(job, worker)
    )
    connector = integration.type.connector_class()(ctx)
    advance_cursor = job.kind != JobKind.BACKFILL or integration.sync_cursor is None
    unmapped: set[str] = set(job.unmapped_fields or [])
    bug_logged = False
    try:
        for batch in connector.list_changes(job.cursor_after):
            records, item_errors = [], [_item_error(e) for e in batch.errors]
            for raw in batch.items:
                try:
                    record = connector.transform(raw)
                except Exception as exc:
                    error = classify(exc, report=False)
                    if error.error_class in (AUTH, RATE_LIMIT):
                        raise
                    if error.error_class == INTERNAL and not bug_logged:
                        # A bug in transform() fails every record alike: one traceback per sync is enough.
                        log.error("Sync job %s: transform() failed on a record", job.pk, exc_info=exc)
                        bug_logged = True
                    item_errors.append(_item_error(error, raw))
                    continue
                unmapped.update(record.unmapped)
                records.append(record)
            if batch.notices:
                jobs.add_notices(job, batch.notices)
            store_batch(
                job,
                worker,
                integration,
                records,
                deletes=batch.deletes,
                item_errors=item_errors,
                cursor=batch.cursor,
                total=batch.total,
                reset_prefix=batch.reset_prefix,
                advance_integration_cursor=advance_cursor,
            )
            job.cursor_after = batch.cursor
            if on_progress:
                job.refresh_from_db()
                on_progress(job)
    finally:
        connector.close()
        ctx.http.close()
        new = sorted(unmapped - set(job.unmapped_fields or []))
        if new:
            # Logged once per sync, and kept on the job: nothing is dropped silently.
            log.info("Sync job %s kept unmapped source fields in data: %s", job.pk, ", ".join(new))
            job.unmapped_fields = sorted(unmapped)
            SyncJob.objects.filter(pk=job.pk).update(unmapped_fields=job.unmapped_fields)


def _item_error(error: ConnectorError, raw=None) -> dict:
    external_id = getattr(error, "external_id", "") or _guess_id(raw)
    return {"external_id": external_id[:300], "error": str(error)[:500]}


def _guess_id(raw) -> str:
    for attr in ("external_id", "id", "uid"):
        value = raw.get(attr) if isinstance(raw, dict) else getattr(raw, attr, None)
        if value:
            return str(value)
    return ""


@transaction.atomic
def _succeed(job: SyncJob, worker: str, integration: Integration):
    now = timezone.now()
    job.refresh_from_db(fields=["failed", "progress_done", "remediation"])
    notices = job.remediation  # what add_notices recorded while the job ran
    status = JobStatus.PARTIAL if job.failed or notices else JobStatus.SUCCEEDED
    remediation = notices
    if job.failed:
        skipped = f"{job.failed} record(s) could not be read and were skipped; the rest was imported."
        remediation = f"{skipped} {notices}".strip()
    updated = SyncJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(
        status=status,
        finished_at=now,
        heartbeat_at=now,
        progress_total=F("progress_done"),
        remediation=remediation,
        error_class=ITEM if job.failed else "",
    )
    if not updated:
        raise jobs.LostOwnership(f"job {job.pk} was taken over by another worker")
    Integration.objects.filter(pk=integration.pk).update(last_synced_at=now, last_error="", consecutive_failures=0)
    # Only "syncing" (our own mark) becomes "connected": a pause, disconnect or re-auth made while
    # the job ran stays as the user (or the provider) left it.
    Integration.objects.filter(pk=integration.pk, status=Status.SYNCING).update(
        status=Status.CONNECTED, status_detail=remediation
    )


def _fail(job: SyncJob, worker: str, integration: Integration, error: ConnectorError):
    now = timezone.now()
    message = str(error)
    log.warning("Sync job %s failed (%s): %s", job.pk, error.error_class, message)
    with transaction.atomic():
        owned = SyncJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            finished_at=now,
            heartbeat_at=now,
            error_class=error.error_class,
            error_message=message[:2000],
            remediation=error.remediation,
        )
        if not owned:
            # Another worker took the job over: the integration's state is its business now.
            raise jobs.LostOwnership(f"job {job.pk} was taken over by another worker")
        integration.refresh_from_db()
        if error.error_class == AUTH and integration.status not in (Status.PAUSED, Status.DISCONNECTED):
            lifecycle.needs_reauth(integration, f"{message} {error.remediation}")
        else:
            integration.record_failure(message, counts=not error.operator_problem)
            if integration.status == Status.SYNCING:
                detail = error.remediation if error.error_class == CONFIG else f"{message} {error.remediation}"
                integration.set_status(Status.ERROR, detail)
