"""Queue every integration whose interval has passed, and hand out stale jobs again.

The per-integration Schedules normally do this; `manage.py sync_due` (cron, or after an outage)
catches up on anything they missed."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from integrations.models import Integration, JobTrigger
from integrations.sync import jobs


def due_integrations(now=None):
    now = now or timezone.now()
    candidates = (
        Integration.objects.active()
        .select_related("type")
        .filter(type__is_available=True, type__supports_scheduling=True)
    )
    for integration in candidates.filter(
        Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - timedelta(minutes=1))
    ):
        last = integration.last_synced_at
        if last is None or last + timedelta(minutes=integration.sync_interval_minutes) <= now:
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
