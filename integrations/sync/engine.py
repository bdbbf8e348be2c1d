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

from connectors.errors import AUTH, CONFIG, ITEM, RATE_LIMIT, TRANSIENT, ConnectorError, InternalError, classify
from connectors.http import backoff_delay
from integrations import lifecycle
from integrations.models import Integration, JobKind, JobStatus, Status, SyncJob
from integrations.sync import jobs
from integrations.sync.context import build_context
from integrations.sync.upsert import store_batch

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncJob], None]


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
    if job.attempts == 1:
        start = None if job.kind in (JobKind.FULL, JobKind.BACKFILL) else integration.sync_cursor
        job.cursor_before = job.cursor_after = start
        SyncJob.objects.filter(pk=job.pk).update(cursor_before=start, cursor_after=start)
    else:
        log.warning("Sync job %s resumed by %s from its last checkpoint (attempt %s)", job.pk, worker, job.attempts)
    Integration.objects.filter(pk=integration.pk).update(status=Status.SYNCING)

    transient_tries = 0
    while True:
        try:
            _run_once(job, worker, integration, on_progress)
        except jobs.LostOwnership:
            log.warning("Sync job %s was taken over by another worker; stopping here", job.pk)
            return None
        except Exception as exc:  # every failure is classified and recorded below
            error = classify(exc)
            if error.error_class == ITEM:
                # Bad data is only an item error inside transform(); out here it is a bug.
                log.exception("Sync job %s hit an unexpected error", job.pk)
                error = InternalError(f"Unexpected error: {type(exc).__name__}")
            if error.error_class == TRANSIENT and transient_tries < settings.SYNC_MAX_TRANSIENT_RETRIES:
                delay = backoff_delay(transient_tries)
                transient_tries += 1
                log.info("Sync job %s: %s; retrying from the checkpoint in %.1f s", job.pk, error, delay)
                sleep(delay)
                job.refresh_from_db(fields=["cursor_after"])
                continue
            if error.error_class == RATE_LIMIT and transient_tries < settings.SYNC_MAX_TRANSIENT_RETRIES:
                wait = min(error.retry_after or backoff_delay(transient_tries), settings.SYNC_MAX_WAIT)
                transient_tries += 1
                log.info("Sync job %s rate limited; waiting %.1f s before resuming", job.pk, wait)
                sleep(wait)
                job.refresh_from_db(fields=["cursor_after"])
                continue
            _fail(job, worker, integration, error)
            break
        else:
            _succeed(job, worker, integration)
            break
    job.refresh_from_db()
    if on_progress:
        on_progress(job)
    return job


def _run_once(job: SyncJob, worker: str, integration: Integration, on_progress):
    ctx = build_context(
        integration, purpose=f"sync job {job.pk}", options=job.options, on_heartbeat=lambda: jobs.heartbeat(job, worker)
    )
    connector = integration.type.connector_class()(ctx)
    advance_cursor = job.kind != JobKind.BACKFILL or integration.sync_cursor is None
    unmapped: set[str] = set(job.unmapped_fields or [])
    try:
        for batch in connector.list_changes(job.cursor_after):
            records, item_errors = [], [_item_error(e) for e in batch.errors]
            for raw in batch.items:
                try:
                    record = connector.transform(raw)
                except Exception as exc:
                    error = classify(exc)
                    if error.error_class in (AUTH, RATE_LIMIT):
                        raise
                    item_errors.append(_item_error(error, raw))
                    continue
                unmapped.update(record.unmapped)
                records.append(record)
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
    job.refresh_from_db(fields=["failed", "progress_done"])
    status = JobStatus.PARTIAL if job.failed else JobStatus.SUCCEEDED
    remediation = ""
    if job.failed:
        remediation = f"{job.failed} record(s) could not be read and were skipped; the rest was imported."
    updated = SyncJob.objects.filter(pk=job.pk, worker=worker).update(
        status=status,
        finished_at=now,
        heartbeat_at=now,
        progress_total=F("progress_done"),
        remediation=remediation,
        error_class=ITEM if job.failed else "",
    )
    if not updated:
        return
    current = Integration.objects.filter(pk=integration.pk).values_list("status", flat=True).first()
    # A user may have paused or disconnected it meanwhile: do not flip that back.
    new_status = (
        Status.CONNECTED if current in (Status.SYNCING, Status.ERROR, Status.CONNECTED, Status.PENDING) else current
    )
    Integration.objects.filter(pk=integration.pk).update(
        status=new_status,
        status_detail=remediation if new_status == Status.CONNECTED else F("status_detail"),
        last_synced_at=now,
        last_error="",
        consecutive_failures=0,
    )


def _fail(job: SyncJob, worker: str, integration: Integration, error: ConnectorError):
    now = timezone.now()
    message = str(error)
    log.warning("Sync job %s failed (%s): %s", job.pk, error.error_class, message)
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk, worker=worker).update(
            status=JobStatus.FAILED,
            finished_at=now,
            heartbeat_at=now,
            error_class=error.error_class,
            error_message=message[:2000],
            remediation=error.remediation,
        )
        integration.refresh_from_db()
        if error.error_class == AUTH:
            lifecycle.needs_reauth(integration, f"{message} {error.remediation}")
        else:
            integration.record_failure(message)
            if integration.status == Status.SYNCING:
                detail = error.remediation if error.error_class == CONFIG else f"{message} {error.remediation}"
                integration.set_status(Status.ERROR, detail)
