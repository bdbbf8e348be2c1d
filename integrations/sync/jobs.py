"""Queueing and claiming sync jobs, safely across any number of workers and machines.

Two database guarantees do all the work, on PostgreSQL and SQLite alike:
- a partial unique index allows one queued-or-running job per integration, so racing
  "Sync now" clicks, schedules and workers create exactly one job;
- claiming is a conditional UPDATE (queued -> running, or running with a stale heartbeat ->
  running for me), so exactly one worker wins it and a dead worker's job is taken over.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.models import (
    ACTIVE_JOB_STATUSES,
    Actor,
    AuditAction,
    AuditEvent,
    Integration,
    JobKind,
    JobStatus,
    JobTrigger,
    Status,
    SyncJob,
)

log = logging.getLogger(__name__)


class SyncRefused(Exception):
    """The integration cannot sync now; the message says why and what to do."""


class LostOwnership(BaseException):  # a signal, not an error: see below
    """Another worker took this job over (our heartbeat went stale): stop without writing.

    A BaseException, like KeyboardInterrupt: it is raised from heartbeats deep inside connectors and
    client libraries, and no `except Exception` there (nor classify()) may turn it into a failure."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def refusal_reason(integration: Integration) -> str | None:
    if integration.status == Status.PAUSED:
        return "It is paused: resume it first."
    if integration.status == Status.DISCONNECTED:
        return "It is disconnected: reconnect it first."
    if integration.status == Status.NEEDS_REAUTH:
        return "Its credentials were refused: re-authenticate it first."
    if not integration.type.is_available or not integration.type.handler:
        return "This type of integration is not available yet."
    if not integration.type.connector_class().can_sync():
        return "This integration only sends content out; there is nothing to sync in."
    return None


def queue_sync(
    integration: Integration,
    *,
    kind: str | None = None,
    trigger: str = JobTrigger.MANUAL,
    options: dict | None = None,
    enqueue: bool = True,
) -> SyncJob:
    """Create the integration's sync job, or return the one already queued or running."""
    reason = refusal_reason(integration)
    if reason:
        raise SyncRefused(reason)
    if kind is None:
        # Read the cursor from the database: the caller's object may predate the last sync.
        cursor = Integration.objects.filter(pk=integration.pk).values_list("sync_cursor", flat=True).first()
        kind = JobKind.FULL if cursor is None else JobKind.INCREMENTAL
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(integration=integration, kind=kind, trigger=trigger, options=options or {})
    except IntegrityError:
        job = SyncJob.objects.filter(integration=integration, status__in=ACTIVE_JOB_STATUSES).first()
        if job is None:  # it finished between our insert and this read: try once more
            return queue_sync(integration, kind=kind, trigger=trigger, options=options, enqueue=enqueue)
        if enqueue and _is_stale(job):
            _enqueue(job)  # its task was lost (broker restart, dead worker): hand it out again
        return job
    if trigger in (JobTrigger.MANUAL, JobTrigger.API, JobTrigger.ADMIN, JobTrigger.COMMAND):
        AuditEvent.record(
            AuditAction.SYNC_QUEUED,
            integration=integration,
            actor=Actor.STAFF if trigger == JobTrigger.ADMIN else Actor.USER,
            job=job.pk,
            kind=kind,
        )
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: SyncJob):
    from django_q.tasks import async_task

    async_task("integrations.tasks.run_sync", job.pk, task_name=f"sync-job-{job.pk}", group="sync")


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.SYNC_STALE_AFTER)


def _is_stale(job: SyncJob) -> bool:
    last_sign = job.heartbeat_at or job.queued_at
    return last_sign < _stale_before()


def claim(job_id: int, worker: str) -> SyncJob | None:
    """Take the job if it is queued, or running under a worker whose heartbeat went stale."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before())
    won = (
        SyncJob.objects.filter(pk=job_id)
        .filter(claimable)
        .update(
            status=JobStatus.RUNNING,
            worker=worker,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), now),
            attempts=F("attempts") + 1,
        )
    )
    if not won:
        return None
    return SyncJob.objects.select_related("integration__type", "integration__user").get(pk=job_id)


def heartbeat(job: SyncJob, worker: str) -> None:
    if not SyncJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    ):
        raise LostOwnership(f"job {job.pk} was taken over by another worker")


def stale_jobs():
    """Running jobs whose worker stopped heartbeating, and queued jobs nobody picked up."""
    stale = _stale_before()
    return SyncJob.objects.filter(
        Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale) | Q(status=JobStatus.QUEUED, queued_at__lt=stale)
    )


def requeue_stale() -> int:
    count = 0
    for job in stale_jobs():
        _enqueue(job)
        count += 1
    return count


def upgrade_to_full(job: SyncJob) -> bool:
    """Turn a still-queued incremental job into a full one (an operator asked for a full sync while
    the incremental one waited). False once a worker has started it."""
    upgraded = SyncJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED, kind=JobKind.INCREMENTAL).update(
        kind=JobKind.FULL
    )
    if upgraded:
        job.kind = JobKind.FULL
    return bool(upgraded)


def cancel_claimed(job: SyncJob, worker: str, reason: str) -> bool:
    """Cancel a job this worker has just claimed, before it fetched anything, saying why."""
    return bool(
        SyncJob.objects.filter(pk=job.pk, worker=worker, status=JobStatus.RUNNING).update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            error_message="Cancelled before it started: the integration changed after this sync was queued.",
            remediation=reason,
        )
    )


def cancel(job: SyncJob) -> bool:
    return bool(
        SyncJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now()
        )
    )


def add_notices(job: SyncJob, notices: list[str]) -> None:
    """Keep a connector's notices on the running job (in its remediation, which the job page and
    the ledger show), once each; the job then ends partial."""
    current = SyncJob.objects.filter(pk=job.pk).values_list("remediation", flat=True).first() or ""
    new = [notice for notice in notices if notice and notice not in current]
    if new:
        SyncJob.objects.filter(pk=job.pk).update(remediation=" ".join([current, *new]).strip()[:4000])
