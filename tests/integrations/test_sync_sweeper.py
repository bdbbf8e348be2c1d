"""A job whose worker died is found by the cluster itself within seconds, whatever the
integration's state, and handed out once: the next worker resumes it from its checkpoint, or
cancels it if the person paused the integration meanwhile."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import lifecycle
from integrations.models import JobStatus, SyncJob
from integrations.sync import jobs
from integrations.sync.engine import run_job
from integrations.sync.run import JobRun
from tests import waiting
from tests.connectors.helpers import connect, live_items
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type
from tests.integrations.test_engine import _queued_task_names
from tests.workflows.worker import qcluster, tail


def started_then_abandoned(integration, *, seconds_ago=60) -> SyncJob:
    """A job a worker claimed, checkpointed once, and then died with (SIGKILL: no ending written)."""
    job = jobs.queue_sync(integration, enqueue=False)
    jobs.claim(job.pk, "gone-host:4242")
    SyncJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago), cursor_after={"next": 2}, cursor_before=None
    )
    return job


@pytest.fixture
def counter(db):
    return make_counter_type()


def test_a_dead_workers_job_is_handed_out_once_and_resumed(owner, counter, settings):
    settings.SYNC_STALE_AFTER = 10
    integration = make_integration(owner, counter, config={"count": 4, "batch": 2})
    job = started_then_abandoned(integration)
    queued_before = _queued_task_names().count(f"sync-job-{job.pk}")  # the broker may outlive tests (Redis)

    assert jobs.sweep() == 1
    assert jobs.sweep() == 0  # a second sweeper (another worker process) finds nothing left to hand out
    assert _queued_task_names().count(f"sync-job-{job.pk}") == queued_before + 1

    finished = run_job(job.pk, worker="next:1")
    assert (finished.status, finished.attempts, finished.worker) == (JobStatus.SUCCEEDED, 2, "next:1")
    assert finished.seen == 2  # resumed at its checkpoint: only the records after it were fetched


def test_a_paused_integrations_dead_job_is_taken_over_and_cancelled(owner, counter):
    integration = make_integration(owner, counter, config={"count": 4, "batch": 2})
    job = started_then_abandoned(integration)
    lifecycle.pause(integration)  # the person paused while the job was "running"

    assert jobs.sweep() == 1
    finished = run_job(job.pk)
    assert finished.status == JobStatus.CANCELLED
    assert "paused" in finished.remediation


def test_a_live_job_is_left_alone(owner, counter, settings):
    settings.SYNC_STALE_AFTER = 10
    integration = make_integration(owner, counter)
    job = started_then_abandoned(integration, seconds_ago=1)
    assert jobs.sweep() == 0
    assert SyncJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_a_queued_job_whose_task_was_lost_is_queued_again(owner, counter, settings):
    settings.SYNC_LOST_TASK_AFTER = 300
    integration = make_integration(owner, counter)
    job = jobs.queue_sync(integration, enqueue=False)
    assert jobs.sweep() == 0  # just queued: its task is on its way
    SyncJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(minutes=6))
    queued_before = _queued_task_names().count(f"sync-job-{job.pk}")
    assert jobs.sweep() == 1
    assert _queued_task_names().count(f"sync-job-{job.pk}") == queued_before + 1


def test_a_running_jobs_heartbeat_is_beaten_by_its_process_while_its_thread_is_busy(owner, transactional_db, settings):
    """The job's own thread may be blocked in one long read; its process still proves it is alive."""
    settings.SYNC_STALE_AFTER = 1
    integration = make_integration(owner, make_counter_type())
    job = jobs.queue_sync(integration, enqueue=False)
    run = JobRun.claim(job.pk, "busy:1")
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=1))
    with run:
        wait_for(
            lambda: SyncJob.objects.get(pk=job.pk).heartbeat_at > timezone.now() - timedelta(seconds=1), seconds=30
        )
        assert jobs.claim(job.pk, "rival:1") is None
        SyncJob.objects.filter(pk=job.pk).update(worker="thief:1")  # taken over after all
        wait_for(run._pulse.lost.is_set, seconds=30)
        with pytest.raises(jobs.LostOwnership):
            run.heartbeat()


def wait_for(condition, *, seconds: float, log_path=None):
    return waiting.wait_for(condition, seconds=seconds, explain=lambda: tail(log_path) if log_path else "")


@pytest.mark.peer
@pytest.mark.usefixtures("catalogue")
def test_a_real_cluster_takes_over_dead_workers_jobs_by_itself(owner, feed_server, subprocess_env, tmp_path):
    """No Schedule tick, no `sync_due`: the worker processes' sweepers find both jobs."""
    feed_server.serve("/cal.ics", _ICS, content_type="text/calendar")
    active = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, name="Active")
    paused = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, name="Paused")
    active_job = started_then_abandoned(active)
    SyncJob.objects.filter(pk=active_job.pk).update(cursor_after=None)
    paused_job = started_then_abandoned(paused)
    lifecycle.pause(paused)

    # Both jobs were last beaten 60 s ago; 30 s (not less) keeps the worker's own heartbeat, late on
    # a busy machine, from making the job it now runs look dead and be taken over a second time.
    env = dict(subprocess_env, SYNC_STALE_AFTER="30", SYNC_SWEEP_EVERY="0.5")
    log_path = tmp_path / "worker.log"
    with qcluster(env, log_path, cluster=f"test-sweep-{uuid.uuid4().hex[:8]}", allowed_hosts=[feed_server.host]):
        wait_for(
            lambda: (
                SyncJob.objects.filter(pk__in=[active_job.pk, paused_job.pk], finished_at__isnull=False).count() == 2
            ),
            seconds=60,
            log_path=log_path,
        )
    active_job.refresh_from_db()
    paused_job.refresh_from_db()
    assert (active_job.status, active_job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert live_items(active).count() == 1
    assert paused_job.status == JobStatus.CANCELLED  # never left "running"


_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:one@test\r\n"
    f"DTSTAMP:20260101T000000Z\r\nDTSTART:{timezone.now():%Y%m%d}T100000Z\r\nSUMMARY:Standup\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
