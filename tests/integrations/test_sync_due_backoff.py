"""`sync_due` and the per-integration Schedules back off from an integration that keeps failing:
its interval counts from the last attempt (not the last success) and doubles with every failure in
a row, up to a cap. And "still due?" is decided atomically when the job is created."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.models import JobStatus, SyncJob
from integrations.sync.due import due_integrations, queue_due, queue_if_due
from integrations.sync.engine import run_job
from integrations.tasks import scheduled_sync
from tests.connectors.helpers import sync
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type


@pytest.fixture
def broken(owner, db):
    """An integration whose every sync fails, scheduled every 15 minutes."""
    return make_integration(owner, make_counter_type(), config={"count": 2, "explode_at": 0}, sync_interval_minutes=15)


def fail_times(integration, count: int, *, minutes_ago: int):
    for _ in range(count):
        assert sync(integration).status == JobStatus.FAILED
    SyncJob.objects.filter(integration=integration).update(finished_at=timezone.now() - timedelta(minutes=minutes_ago))


def queued_for(integration) -> bool:
    return SyncJob.objects.filter(pk__in=queue_due()["queued"], integration=integration).exists()


def test_after_one_failure_it_waits_its_interval_from_the_failed_attempt(broken):
    fail_times(broken, 1, minutes_ago=5)
    assert broken.last_synced_at is None  # never succeeded: this alone made it due on every run
    assert not queued_for(broken)
    SyncJob.objects.filter(integration=broken).update(finished_at=timezone.now() - timedelta(minutes=16))
    assert queued_for(broken)


def test_the_wait_doubles_with_each_failure_in_a_row(broken):
    fail_times(broken, 3, minutes_ago=50)  # 3 failures: 15 min x 4 = 1 hour
    out = StringIO()
    call_command("sync_due", stdout=out)
    assert "Queued 0 sync(s)" in out.getvalue()
    SyncJob.objects.filter(integration=broken).update(finished_at=timezone.now() - timedelta(minutes=61))
    assert queued_for(broken)


def test_the_wait_is_capped(broken):
    fail_times(broken, 12, minutes_ago=6 * 60 - 5)  # 15 min x 2**11 would be 21 days
    assert not queued_for(broken)
    SyncJob.objects.filter(integration=broken).update(finished_at=timezone.now() - timedelta(hours=6, minutes=1))
    assert queued_for(broken)


def test_a_success_ends_the_backoff(broken):
    fail_times(broken, 3, minutes_ago=20)
    broken.config = {"count": 2}
    broken.save(update_fields=["config"])
    assert sync(broken).status == JobStatus.SUCCEEDED
    assert broken.consecutive_failures == 0
    broken.last_synced_at = timezone.now() - timedelta(minutes=16)
    broken.save(update_fields=["last_synced_at"])
    assert queued_for(broken)


def test_overlapping_sync_due_runs_sync_an_integration_once_per_due_period(owner, db):
    """Run B listed the due integrations just before run A queued and finished this one's sync:
    B decides again when it creates the job, and finds it no longer due."""
    integration = make_integration(owner, make_counter_type(), config={"count": 2}, sync_interval_minutes=15)
    integration.type.supports_scheduling = True
    integration.type.save()
    listed_by_b = list(due_integrations())
    assert [i.pk for i in listed_by_b] == [integration.pk]

    run_a = queue_due()["queued"]
    assert run_job(run_a[0]).status == JobStatus.SUCCEEDED

    assert [queue_if_due(i) for i in listed_by_b] == [None]
    assert SyncJob.objects.filter(integration=integration).count() == 1


def test_a_sync_due_run_does_not_queue_beside_a_job_already_queued(owner, db):
    integration = make_integration(owner, make_counter_type(), config={"count": 2}, sync_interval_minutes=15)
    listed = list(due_integrations())
    assert queue_if_due(listed[0], enqueue=False) is not None
    assert queue_if_due(listed[0], enqueue=False) is None
    assert SyncJob.objects.filter(integration=integration).count() == 1


def test_the_schedule_backs_off_from_a_failing_integration_like_sync_due(broken):
    """One scheduling path: the per-integration Schedule's task uses the same due check."""
    fail_times(broken, 3, minutes_ago=50)  # due again only after an hour
    result = scheduled_sync(broken.pk)
    assert result["skipped"].startswith("Not due yet")
    assert SyncJob.objects.filter(integration=broken).count() == 3
    SyncJob.objects.filter(integration=broken).update(finished_at=timezone.now() - timedelta(minutes=61))
    assert scheduled_sync(broken.pk)["status"] == JobStatus.FAILED
