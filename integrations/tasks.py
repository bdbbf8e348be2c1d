"""django-q2 task entry points. Each is a thin wrapper around a plain function that tests call
directly; the queue only decides where and when it runs."""

import os
import socket

from django.utils import timezone

from integrations.models import Integration, JobTrigger
from integrations.sync.due import queue_due
from integrations.sync.engine import run_job
from integrations.sync.jobs import SyncRefused, queue_sync


def ping(marker: str = "") -> dict:
    """A no-op task proving a worker is alive and consuming the queue (`manage.py check_worker`)."""
    return {"pong": marker, "worker": f"{socket.gethostname()}:{os.getpid()}", "at": timezone.now().isoformat()}


def run_sync(job_id: int) -> dict:
    job = run_job(job_id)
    if job is None:
        return {"job": job_id, "ran": False}
    return {"job": job.pk, "ran": True, "status": job.status, **job.counts}


def scheduled_sync(integration_id: int) -> dict:
    """Run by each integration's Schedule: skip paused ones, else sync right here in this worker."""
    integration = Integration.objects.select_related("type").filter(pk=integration_id).first()
    if integration is None:
        return {"integration": integration_id, "skipped": "deleted"}
    try:
        job = queue_sync(integration, trigger=JobTrigger.SCHEDULE, enqueue=False)
    except SyncRefused as exc:
        return {"integration": integration_id, "skipped": str(exc)}
    finished = run_job(job.pk)
    return {"integration": integration_id, "job": job.pk, "status": finished.status if finished else "taken"}


def sync_due() -> dict:
    return queue_due()
