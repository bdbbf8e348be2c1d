"""When an integration is due, and queueing it only then: the one scheduling path.

Both ways a sync is scheduled go through queue_if_due(): each integration's Schedule
(tasks.scheduled_sync) and `manage.py sync_due` (cron, or after an outage). So both back off from
an integration that keeps failing, and "still due?" is decided at the moment the job is created,
in the transaction that creates it, holding the integration's row: two overlapping runs never
sync one integration twice in the same due period."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from integrations.models import ACTIVE_JOB_STATUSES, Integration, JobTrigger, SyncJob
from integrations.sync import jobs

# A failing integration waits its interval after the first failure, twice that after the second,
# and so on, but never longer than this (unless its own interval is longer).
FAILING_BACKOFF_CAP = timedelta(hours=6)
# A Schedule fires every N minutes counted from its creation, not from the end of the last sync:
# a tick that comes a little before "last success + interval" still counts as due.
EARLY_SLACK_CAP = timedelta(minutes=2)


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


def is_due(integration: Integration, last_finished, now) -> bool:
    due_at = next_sync_at(integration, last_finished)
    slack = min(timedelta(minutes=integration.sync_interval_minutes) / 4, EARLY_SLACK_CAP)
    return due_at is None or due_at <= now + slack


def _with_last_finished():
    return Integration.objects.select_related("type").annotate(last_finished=Max("sync_jobs__finished_at"))


def due_integrations(now=None):
    """Candidates only: queue_if_due() decides again, atomically, for each."""
    now = now or timezone.now()
    candidates = (
        _with_last_finished()
        .filter(pk__in=Integration.objects.active())
        .filter(type__is_available=True, type__supports_scheduling=True)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - timedelta(minutes=1)))
    )
    for integration in candidates:
        if is_due(integration, integration.last_finished, now):
            yield integration


def queue_if_due(integration: Integration, *, enqueue: bool = True) -> SyncJob | None:
    """Queue a scheduled sync if the integration is still due now; None if it is not (or a job is
    already queued or running). Raises jobs.SyncRefused if it cannot sync (paused, ...)."""
    reason = jobs.refusal_reason(integration)
    if reason:
        raise jobs.SyncRefused(reason)
    with transaction.atomic():
        # The first write takes the integration's row lock on PostgreSQL and the write lock on
        # SQLite: a concurrent run waits here until this one has committed its job, then sees it.
        if not Integration.objects.filter(pk=integration.pk).update(sync_interval_minutes=F("sync_interval_minutes")):
            return None  # deleted meanwhile
        fresh = _with_last_finished().get(pk=integration.pk)
        if SyncJob.objects.filter(integration=fresh, status__in=ACTIVE_JOB_STATUSES).exists():
            return None
        if not is_due(fresh, fresh.last_finished, timezone.now()):
            return None
        return jobs.queue_sync(fresh, trigger=JobTrigger.SCHEDULE, enqueue=enqueue)


def queue_due() -> dict:
    queued, skipped = [], []
    for integration in due_integrations():
        try:
            job = queue_if_due(integration)
        except jobs.SyncRefused as exc:
            skipped.append((integration.pk, str(exc)))
            continue
        if job is not None:
            queued.append(job.pk)
    requeued = jobs.sweep()
    return {"queued": queued, "skipped": skipped, "requeued_stale": requeued}
