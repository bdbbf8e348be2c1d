"""Queue every integration whose interval has passed, and hand out stale jobs again.

The per-integration Schedules normally do this; `manage.py sync_due` (cron, or after an outage)
catches up on anything they missed."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max, Q
from django.utils import timezone

from integrations.models import Integration, JobTrigger
from integrations.sync import jobs

# A failing integration waits its interval after the first failure, twice that after the second,
# and so on, but never longer than this (unless its own interval is longer).
FAILING_BACKOFF_CAP = timedelta(hours=6)


def next_sync_at(integration: Integration, last_finished=None):
    """When the integration is due again; None means now. `last_finished` is when its last job
    ended: last_synced_at moves only on success, so a failing one counts from its last attempt."""
    interval = timedelta(minutes=integration.sync_interval_minutes)
    failures = integration.consecutive_failures
    if failures and last_finished:
        backoff = min(interval * 2 ** min(failures - 1, 20), max(interval, FAILING_BACKOFF_CAP))
        return last_finished + backoff
    if integration.last_synced_at is None:
        return None
    return integration.last_synced_at + interval


def due_integrations(now=None):
    now = now or timezone.now()
    candidates = (
        Integration.objects.active()
        .select_related("type")
        .filter(type__is_available=True, type__supports_scheduling=True)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - timedelta(minutes=1)))
        .annotate(last_finished=Max("sync_jobs__finished_at"))
    )
    for integration in candidates:
        due_at = next_sync_at(integration, integration.last_finished)
        if due_at is None or due_at <= now:
            yield integration


def queue_due() -> dict:
    queued, skipped = [], []
    for integration in due_integrations():
        try:
            job = jobs.queue_sync(integration, trigger=JobTrigger.SCHEDULE)
            queued.append(job.pk)
        except jobs.SyncRefused as exc:
            skipped.append((integration.pk, str(exc)))
    requeued = jobs.requeue_stale()
    return {"queued": queued, "skipped": skipped, "requeued_stale": requeued}
