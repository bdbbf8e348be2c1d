"""django-q2 task entry points. Each is a thin wrapper around a plain function that tests call
directly; the queue only decides where and when it runs."""

import os
import socket

from django.utils import timezone


def ping(marker: str = "") -> dict:
    """A no-op task proving a worker is alive and consuming the queue (`manage.py check_worker`)."""
    return {"pong": marker, "worker": f"{socket.gethostname()}:{os.getpid()}", "at": timezone.now().isoformat()}


def run_sync(job_id: int) -> dict:
    from integrations.sync.engine import run_job

    job = run_job(job_id)
    if job is None:
        return {"job": job_id, "ran": False}
    return {"job": job.pk, "ran": True, "status": job.status, **job.counts}


def scheduled_sync(integration_id: int) -> dict:
    """Run by each integration's Schedule: the same due check as `sync_due` (failure backoff
    included), then the sync right here in this worker."""
    from integrations.models import Integration
    from integrations.sync.due import queue_if_due
    from integrations.sync.engine import run_job
    from integrations.sync.jobs import SyncRefused

    integration = Integration.objects.select_related("type").filter(pk=integration_id).first()
    if integration is None:
        return {"integration": integration_id, "skipped": "deleted"}
    try:
        job = queue_if_due(integration, enqueue=False)
    except SyncRefused as exc:
        return {"integration": integration_id, "skipped": str(exc)}
    if job is None:
        return {"integration": integration_id, "skipped": "Not due yet (or a sync is already queued or running)."}
    finished = run_job(job.pk)
    return {"integration": integration_id, "job": job.pk, "status": finished.status if finished else "taken"}


def sync_due() -> dict:
    from integrations.sync.due import queue_due

    return queue_due()


def run_archive_import(job_id: int) -> dict:
    """An uploaded archive's import: the sync job, then its files settled by the job's final status
    (deleted after a successful import unless kept). The engine is not told about uploads."""
    from integrations.sync.engine import run_job
    from integrations.uploads.imports import settle_job

    try:
        job = run_job(job_id)
    finally:
        settled = settle_job(job_id)
    if job is None:
        return {"job": job_id, "ran": False, "uploads_settled": settled}
    return {"job": job.pk, "ran": True, "status": job.status, "uploads_settled": settled, **job.counts}


def sweep_uploads() -> dict:
    from integrations.uploads.imports import sweep

    return sweep()


def sweep_jobs() -> dict:
    """Hand out dead workers' jobs and lost tasks again (the worker processes' sweepers do this
    every few seconds; this is for a cron or an operator)."""
    from integrations.sync.jobs import sweep

    return {"handed_out": sweep()}
