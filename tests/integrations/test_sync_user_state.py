"""A sync never undoes what the user decided: a job queued before a pause or a disconnect is
cancelled with the reason, a pause made while a job runs survives its success, and a worker that
lost its job leaves the integration alone."""

import pytest
from django_q.models import Schedule

from integrations import lifecycle
from integrations.models import JobStatus, Status, SyncedItem, SyncJob
from integrations.sync import jobs
from integrations.sync.engine import run_job
from integrations.sync.schedules import schedule_name
from integrations.tasks import scheduled_sync
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type


@pytest.fixture
def counter_type(db):
    itype = make_counter_type()
    itype.supports_scheduling = True
    itype.save()
    return itype


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        (lifecycle.pause, Status.PAUSED, "It is paused: resume it first."),
        (lifecycle.disconnect, Status.DISCONNECTED, "It is disconnected: reconnect it first."),
    ],
)
def test_a_job_queued_before_a_pause_or_disconnect_is_cancelled(owner, counter_type, change, status, reason):
    integration = make_integration(owner, counter_type, config={"count": 4})
    job = jobs.queue_sync(integration, enqueue=False)
    change(integration)

    finished = run_job(job.pk)

    assert finished.status == JobStatus.CANCELLED
    assert "after this sync was queued" in finished.error_message
    assert finished.remediation == reason
    assert not SyncedItem.objects.exists()
    integration.refresh_from_db()
    assert integration.status == status  # not flipped back to connected
    assert integration.last_synced_at is None
    # The schedule stays as the change left it: still skipping, or gone.
    if status == Status.PAUSED:
        assert scheduled_sync(integration.pk)["skipped"] == reason
    else:
        assert not Schedule.objects.filter(name=schedule_name(integration.pk)).exists()


def test_a_pause_made_while_the_job_runs_survives_its_success(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 4, "batch": 2, "pause_at": 2})
    job = jobs.queue_sync(integration, enqueue=False)

    finished = run_job(job.pk)

    assert finished.status == JobStatus.SUCCEEDED
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED
    assert "Paused" in integration.status_detail
    assert integration.last_synced_at is not None  # what it fetched was stored


def test_a_successful_job_reconnects_an_integration_that_was_in_error(owner, counter_type):
    integration = make_integration(owner, counter_type, status=Status.ERROR, config={"count": 2})
    job = jobs.queue_sync(integration, enqueue=False)
    assert run_job(job.pk).status == JobStatus.SUCCEEDED
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED


def test_a_worker_that_lost_its_job_does_not_record_its_failure(owner, counter_type):
    # Another worker takes the job over, then this one hits an error: the failure is not ours to report.
    integration = make_integration(
        owner, counter_type, config={"count": 4, "batch": 2, "steal_after": 2, "explode_at": 2}
    )
    job = jobs.queue_sync(integration, enqueue=False)

    assert run_job(job.pk, worker="slow:1") is None

    job.refresh_from_db()
    assert (job.status, job.worker, job.error_message) == (JobStatus.RUNNING, "thief:1", "")
    integration.refresh_from_db()
    assert integration.status != Status.ERROR
    assert integration.consecutive_failures == 0
    assert integration.last_error == ""
    assert SyncJob.objects.count() == 1
