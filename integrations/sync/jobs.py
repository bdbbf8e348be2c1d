"""Queueing, claiming and handing out sync jobs, safely across any number of workers and machines.

Two database guarantees do all the work, on PostgreSQL and SQLite alike:
- a partial unique index allows one queued-or-running job per integration, so racing
  "Sync now" clicks, schedules and workers create exactly one job;
- claiming is a conditional UPDATE (queued and not held -> running, or running with a stale
  heartbeat -> running for me), so exactly one worker wins it and a dead worker's job is taken over.

What a running job does (heartbeat, checkpoints, its ending) is integrations.sync.run.JobRun.
Finding dead workers' jobs is sweep(), run every few seconds by every worker process
(integrations.sync.sweeper).
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
    AuthKind,
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


def upload_only_reason(integration: Integration) -> str | None:
    """Why asking an import-only integration (Apple Health, Kindle: auth kind archive) to sync finds
    nothing: it has no service to ask, its data comes from the exports uploaded on its page. Its own
    import jobs are queued with the upload's files, never by a plain "sync now"."""
    if integration.type.auth_kind != AuthKind.ARCHIVE:
        return None
    return (
        f"{integration.name} has no service to sync from: its data comes from the exports you upload. "
        "Use Import a newer export on its page."
    )


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
        with transaction.atomic():  # the job and its audit event: one commit
            job = SyncJob.objects.create(integration=integration, kind=kind, trigger=trigger, options=options or {})
            if trigger in (JobTrigger.MANUAL, JobTrigger.API, JobTrigger.ADMIN, JobTrigger.COMMAND):
                AuditEvent.record(
                    AuditAction.SYNC_QUEUED,
                    integration=integration,
                    actor=Actor.STAFF if trigger == JobTrigger.ADMIN else Actor.USER,
                    job=job.pk,
                    kind=kind,
                )
    except IntegrityError:
        job = SyncJob.objects.filter(integration=integration, status__in=ACTIVE_JOB_STATUSES).first()
        if job is None:  # it finished between our insert and this read: try once more
            return queue_sync(integration, kind=kind, trigger=trigger, options=options, enqueue=enqueue)
        if enqueue and _is_stale(job):
            _enqueue_or_leave_to_sweep(job)  # its task was lost (broker restart, dead worker): hand it out again
        return job
    if enqueue:
        transaction.on_commit(lambda: _enqueue_or_leave_to_sweep(job))
    return job


def _enqueue_or_leave_to_sweep(job: SyncJob) -> None:
    """Hand the job to the broker; when the broker is down (Redis unreachable), the job stays stored
    and queued, dated back so the first sweep once the broker answers hands it out: the person's
    "Sync now", the admin action and `sync --queue` go on instead of failing on an error page."""
    try:
        _enqueue(job)
    except Exception:  # noqa: BLE001 - any broker failure: the sweeper is the retry
        log.warning("Sync job %s could not be queued (the broker is unreachable); next sweep retries", job.pk)
        SyncJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(queued_at=_lost_before())


def _enqueue(job: SyncJob):
    from django_q.tasks import async_task

    async_task("integrations.tasks.run_sync", job.pk, task_name=f"sync-job-{job.pk}", group="sync")


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.SYNC_STALE_AFTER)


def _lost_before():
    return timezone.now() - timedelta(seconds=settings.SYNC_LOST_TASK_AFTER)


def _is_stale(job: SyncJob) -> bool:
    if job.status == JobStatus.RUNNING:
        return job.heartbeat_at is None or job.heartbeat_at < _stale_before()
    return (job.not_before or job.queued_at) < _lost_before()


def _not_held():
    return Q(not_before__isnull=True) | Q(not_before__lte=timezone.now())


def claim(job_id: int, worker: str) -> SyncJob | None:
    """Take the job if it is queued (and not held for a provider's Retry-After), or running under a
    worker whose heartbeat went stale."""
    now = timezone.now()
    claimable = (Q(status=JobStatus.QUEUED) & _not_held()) | Q(
        status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before()
    )
    won = (
        SyncJob.objects.filter(pk=job_id)
        .filter(claimable)
        .update(
            status=JobStatus.RUNNING,
            worker=worker,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), now),
            attempts=F("attempts") + 1,
            not_before=None,
            error_message="",  # a held job's note on why it waited
        )
    )
    if not won:
        return None
    return SyncJob.objects.select_related("integration__type", "integration__user").get(pk=job_id)


def sweep() -> int:
    """Hand out again every job whose worker died (its heartbeat went stale) and every queued job
    whose task was lost (broker restart, a booked retry's schedule gone). Whatever the
    integration's state: the worker that takes a paused integration's job over cancels it.
    Any number of sweepers may run at once: a conditional UPDATE lets one of them hand out each job,
    and claim() lets one worker run it. Returns how many jobs were handed out."""
    count = 0
    dead = SyncJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=_stale_before())
    for pk, heartbeat_at in dead.values_list("pk", "heartbeat_at"):
        # Back to queued, so the first free worker claims it at once; the old worker, should it wake
        # up after all, finds the job no longer its own at its next heartbeat and stops.
        won = SyncJob.objects.filter(pk=pk, status=JobStatus.RUNNING, heartbeat_at=heartbeat_at).update(
            status=JobStatus.QUEUED, queued_at=timezone.now()
        )
        if won:
            log.warning("Sync job %s: its worker stopped heartbeating; handing it out again", pk)
            count += _hand_out(pk, previous_queued_at=None)
    lost_before = _lost_before()
    lost = SyncJob.objects.filter(status=JobStatus.QUEUED).filter(
        Q(not_before__isnull=True, queued_at__lt=lost_before) | Q(not_before__lt=lost_before)
    )
    for pk, queued_at in lost.values_list("pk", "queued_at"):
        if SyncJob.objects.filter(pk=pk, status=JobStatus.QUEUED, queued_at=queued_at).update(queued_at=timezone.now()):
            count += _hand_out(pk, previous_queued_at=queued_at)
    return count


def _hand_out(pk: int, *, previous_queued_at) -> int:
    try:
        _enqueue(SyncJob(pk=pk))
    except Exception:  # noqa: BLE001  (the broker is down: the job stays as found, for the next sweep)
        log.warning("Sync job %s could not be queued (the broker is unreachable); next sweep retries", pk)
        if previous_queued_at is not None:
            SyncJob.objects.filter(pk=pk, status=JobStatus.QUEUED).update(queued_at=previous_queued_at)
        else:
            SyncJob.objects.filter(pk=pk, status=JobStatus.QUEUED).update(queued_at=_lost_before())
        return 0
    return 1


def book_resume(job: SyncJob, when) -> None:
    """Run the held job again at `when` (a once-only schedule; sweep() backs it up)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=f"sync-job-{job.pk}-resume",
        defaults=dict(
            func="integrations.tasks.run_sync",
            args=repr(job.pk),
            schedule_type=Schedule.ONCE,
            repeats=1,
            next_run=when,
        ),
    )


def upgrade_to_full(job: SyncJob) -> bool:
    """Turn a still-queued incremental job into a full one (an operator asked for a full sync while
    the incremental one waited). False once a worker has started it."""
    upgraded = SyncJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED, kind=JobKind.INCREMENTAL).update(
        kind=JobKind.FULL
    )
    if upgraded:
        job.kind = JobKind.FULL
    return bool(upgraded)


def cancel(job: SyncJob) -> bool:
    return bool(
        SyncJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now()
        )
    )
