"""The sync engine: one job per integration across workers, takeover, error policy, schedules,
progress and the operator commands."""

import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from integrations import lifecycle
from integrations.models import JobStatus, Status, SyncedItem, SyncJob
from integrations.sync import jobs
from integrations.sync.due import queue_due
from integrations.sync.engine import run_job
from integrations.sync.schedules import schedule_name
from integrations.tasks import scheduled_sync
from tests.connectors.helpers import connect, data_text, live_items, sync
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type
from tests.peers.feeds import Reply
from tests.waiting import wait_for

WIDE = {"window_past_days": 400, "window_future_days": 400}


@pytest.fixture
def counter_type(db):
    return make_counter_type()


def test_jobs_checkpoint_each_batch_and_report_progress(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 6, "batch": 2})
    job = jobs.queue_sync(integration, enqueue=False)
    seen = []
    finished = run_job(job.pk, on_progress=lambda j: seen.append((j.progress_done, j.progress_total, j.cursor_after)))
    assert finished.status == JobStatus.SUCCEEDED
    assert seen[:3] == [(2, 6, {"next": 2}), (4, 6, {"next": 4}), (6, 6, {"next": 6})]
    assert finished.percent == 100
    integration.refresh_from_db()
    assert integration.sync_cursor == {"next": 6}


def test_a_stale_running_job_is_taken_over_and_resumes_from_its_checkpoint(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 6, "batch": 2})
    long_ago = timezone.now() - timedelta(hours=1)
    job = SyncJob.objects.create(
        integration=integration, kind="full", status=JobStatus.RUNNING, worker="dead-host:42", attempts=1,
        heartbeat_at=long_ago, started_at=long_ago, cursor_after={"next": 4}, progress_done=4, seen=4, created=4,
    )  # fmt: skip
    finished = run_job(job.pk, worker="live-host:1")
    assert finished.status == JobStatus.SUCCEEDED
    assert finished.attempts == 2
    assert finished.worker == "live-host:1"
    # It resumed at the checkpoint: only items 4 and 5 were fetched this time.
    assert set(SyncedItem.objects.values_list("external_id", flat=True)) == {"n4", "n5"}


def test_a_running_job_with_a_fresh_heartbeat_is_not_taken(owner, counter_type):
    integration = make_integration(owner, counter_type)
    job = SyncJob.objects.create(
        integration=integration, status=JobStatus.RUNNING, worker="busy:1", heartbeat_at=timezone.now()
    )
    assert run_job(job.pk, worker="other:2") is None
    job.refresh_from_db()
    assert job.worker == "busy:1"


def test_a_worker_that_lost_its_job_stops_without_writing(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 6, "batch": 2, "steal_after": 2})
    job = jobs.queue_sync(integration, enqueue=False)
    assert run_job(job.pk, worker="slow:1") is None
    assert set(SyncedItem.objects.values_list("external_id", flat=True)) == {"n0", "n1"}  # first batch only
    job.refresh_from_db()
    assert job.worker == "thief:1"


def test_queueing_twice_returns_the_same_active_job(owner, counter_type):
    integration = make_integration(owner, counter_type)
    first = jobs.queue_sync(integration, enqueue=False)
    second = jobs.queue_sync(integration, enqueue=False)
    assert first.pk == second.pk
    assert SyncJob.objects.count() == 1


def test_a_bug_is_an_internal_error_not_the_users_fault(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 4, "batch": 2, "explode_at": 2})
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "internal"
    assert "TypeError" in job.error_message
    assert "logged for the operator" in job.remediation
    assert SyncedItem.objects.count() == 2  # the batch before the failure is kept


@pytest.mark.usefixtures("catalogue")
def test_auth_failure_pauses_syncs_and_tells_the_user(owner, feed_server):
    feed_server.sequence("/private.ics", [Reply(401, b"token expired")])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/private.ics")})
    job = sync(integration)

    assert job.error_class == "auth"
    assert len(feed_server.requests_to("/private.ics")) == 1  # no retry on auth errors
    assert integration.status == Status.NEEDS_REAUTH
    assert "Re-authenticate" in integration.status_detail
    with pytest.raises(jobs.SyncRefused, match="re-authenticate"):
        jobs.queue_sync(integration, enqueue=False)
    assert scheduled_sync(integration.pk)["skipped"]


@pytest.mark.usefixtures("catalogue", "fast_backoff")
def test_transient_failures_are_retried_then_reported_and_counted(owner, feed_server, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    feed_server.sequence("/down.ics", [Reply(503)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/down.ics")})
    # 12 requests would hit the feed type's 10-per-minute limit (and wait for it); not the point here.
    integration.type.rate_limit_per_minute = None
    integration.type.save()
    for _ in range(3):
        job = sync(integration)
        assert job.error_class == "transient"
    # One retry layer: each sync tried twice (the job's retry); the HTTP path inside a job does not
    # retry on top of it (it used to: 2 x 2 requests per sync).
    assert len(feed_server.requests_to("/down.ics")) == 3 * 2
    assert integration.status == Status.ERROR
    assert integration.consecutive_failures == 3
    assert integration.needs_attention
    assert "tries again at the next sync" in job.remediation


@pytest.mark.usefixtures("catalogue", "fast_backoff")
def test_a_persistent_503_costs_one_request_per_try_of_the_job(owner, feed_server, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 4
    feed_server.sequence("/down.ics", [Reply(503)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/down.ics")})
    integration.type.rate_limit_per_minute = None
    integration.type.save()
    assert sync(integration).error_class == "transient"
    assert len(feed_server.requests_to("/down.ics")) == 5  # was 25: 5 HTTP tries in each of 5 job tries


@pytest.mark.usefixtures("catalogue", "fast_backoff")
def test_retries_stop_when_the_jobs_retry_budget_is_spent(owner, feed_server, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 4
    settings.OUTBOUND_TIMEOUT = 2.0
    settings.SYNC_RETRY_BUDGET = 3.0  # room for one more try after a 2 s timeout, not for a third
    feed_server.sequence("/hang.ics", [Reply(200, b"late", delay=5)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/hang.ics")})
    job = sync(integration)
    assert (job.status, job.error_class) == (JobStatus.FAILED, "transient")
    assert len(feed_server.requests_to("/hang.ics")) == 2  # not the 5 the try count alone allows


@pytest.mark.usefixtures("catalogue")
def test_a_rate_limit_longer_than_the_longest_wait_holds_the_job_until_then(owner, feed_server, settings):
    settings.SYNC_MAX_WAIT = 60
    feed_server.sequence(
        "/busy.ics",
        [
            Reply(429, headers={"Retry-After": "3600"}),
            Reply(200, data_text("ical/awkward.ics").encode(), conditional=False),
        ],
    )
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/busy.ics")}, config=WIDE)
    job = jobs.queue_sync(integration, enqueue=False)

    held = run_job(job.pk)  # gives the worker back at once instead of retrying inside the hour

    assert held.status == JobStatus.QUEUED
    assert timedelta(minutes=59) < held.not_before - timezone.now() <= timedelta(hours=1)
    assert "resumes then by itself" in held.error_message
    assert len(feed_server.requests_to("/busy.ics")) == 1
    resume = Schedule.objects.get(name=f"sync-job-{job.pk}-resume")
    assert (resume.func, resume.args, resume.schedule_type) == ("integrations.tasks.run_sync", repr(job.pk), "O")
    assert resume.next_run == held.not_before
    # Never earlier than the provider said: no worker, no schedule and no sweep starts it before.
    assert run_job(job.pk) is None
    assert jobs.queue_sync(integration, enqueue=False).pk == job.pk
    assert jobs.sweep() == 0
    assert len(feed_server.requests_to("/busy.ics")) == 1

    SyncJob.objects.filter(pk=job.pk).update(not_before=timezone.now())  # the hour has passed
    finished = run_job(job.pk)
    assert (finished.status, finished.attempts, finished.error_message) == (JobStatus.SUCCEEDED, 2, "")
    assert live_items(integration).count() == 14


def test_each_integration_gets_a_schedule_kept_in_step(owner, counter_type):
    counter_type.supports_scheduling = True
    counter_type.save()
    integration = make_integration(owner, counter_type, sync_interval_minutes=30)
    schedule = Schedule.objects.get(name=schedule_name(integration.pk))
    assert schedule.minutes == 30
    assert schedule.func == "integrations.tasks.scheduled_sync"

    integration.sync_interval_minutes = 5
    integration.save(update_fields=["sync_interval_minutes"])
    assert Schedule.objects.get(name=schedule_name(integration.pk)).minutes == 5

    lifecycle.pause(integration)
    assert scheduled_sync(integration.pk) == {
        "integration": integration.pk,
        "skipped": "It is paused: resume it first.",
    }
    lifecycle.disconnect(integration)
    assert not Schedule.objects.filter(name=schedule_name(integration.pk)).exists()


def test_deleting_an_integration_removes_its_schedule(owner, counter_type):
    integration = make_integration(owner, counter_type)
    name = schedule_name(integration.pk)
    assert Schedule.objects.filter(name=name).exists()
    lifecycle.delete(integration, delete_data=True)
    assert not Schedule.objects.filter(name=name).exists()


def test_sync_due_queues_only_what_is_due(owner, counter_type):
    due = make_integration(owner, counter_type, name="due")
    fresh = make_integration(owner, counter_type, name="fresh", last_synced_at=timezone.now())
    paused = make_integration(owner, counter_type, name="paused", status=Status.PAUSED)
    result = queue_due()
    queued = SyncJob.objects.filter(pk__in=result["queued"])
    assert list(queued.values_list("integration_id", flat=True)) == [due.pk]
    assert not SyncJob.objects.filter(integration__in=[fresh, paused]).exists()


def test_sync_command_runs_and_reports(owner, counter_type):
    integration = make_integration(owner, counter_type, name="Numbers", config={"count": 4, "batch": 2})
    out = StringIO()
    call_command("sync", "Numbers", stdout=out)
    assert "succeeded: seen 4, created 4" in out.getvalue()
    out = StringIO()
    call_command("sync", str(integration.pk), "--full", stdout=out)
    assert "succeeded: seen 4, created 0, updated 0, unchanged 4" in out.getvalue()


def _queued_task_names() -> list[str]:
    """The tasks waiting in the configured broker (the ORM one, or Redis under CI), read back from it."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    if settings.REDIS_URL:
        payloads = [p.decode() for p in broker.connection.lrange(broker.list_key, 0, -1)]
    else:
        payloads = list(OrmQ.objects.values_list("payload", flat=True))
    return [SignedPackage.loads(payload).get("name") for payload in payloads]


def test_sync_command_can_queue_for_workers(owner, counter_type, django_capture_on_commit_callbacks):
    integration = make_integration(owner, counter_type)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync", str(integration.pk), "--queue", stdout=StringIO())
    job = SyncJob.objects.get(integration=integration)
    assert job.status == JobStatus.QUEUED
    assert f"sync-job-{job.pk}" in _queued_task_names()  # a worker will find it in the broker


def test_sync_full_upgrades_an_already_queued_incremental_job(owner, counter_type):
    integration = make_integration(owner, counter_type, name="Numbers", config={"count": 4, "batch": 2})
    call_command("sync", "Numbers", stdout=StringIO())  # the first sync sets a cursor
    waiting = jobs.queue_sync(integration, enqueue=False)
    assert waiting.kind == "incremental"
    out = StringIO()
    call_command("sync", "Numbers", "--full", stdout=out)
    assert f"Job {waiting.pk} was already queued as an incremental sync; it now runs as a full sync." in out.getvalue()
    waiting.refresh_from_db()
    assert waiting.kind == "full"
    assert waiting.cursor_before is None  # it really started from scratch
    assert "seen 4, created 0, updated 0, unchanged 4" in out.getvalue()


def test_sync_full_says_so_when_an_incremental_job_is_already_running(owner, counter_type):
    integration = make_integration(owner, counter_type, name="Numbers")
    running = SyncJob.objects.create(
        integration=integration,
        kind="incremental",
        status=JobStatus.RUNNING,
        worker="busy:1",
        heartbeat_at=timezone.now(),
    )
    with pytest.raises(
        CommandError, match=f"Another sync \\(job {running.pk}, incremental\\) is already running .*--full"
    ):
        call_command("sync", "Numbers", "--full", stdout=StringIO())


def test_sync_command_errors_are_clear(owner, counter_type):
    with pytest.raises(CommandError, match="No integration 'nope'"):
        call_command("sync", "nope")
    paused = make_integration(owner, counter_type, status=Status.PAUSED)
    with pytest.raises(CommandError, match="paused"):
        call_command("sync", str(paused.pk))


def test_backfill_prints_progress_and_imports(owner, counter_type):
    integration = make_integration(owner, counter_type, config={"count": 6, "batch": 2})
    out = StringIO()
    call_command("backfill", str(integration.pk), "--since", "2020-01-01", stdout=out)
    text = out.getvalue()
    assert "Backfilling" in text
    assert "100.0%" in text
    assert SyncedItem.objects.count() == 6
    job = SyncJob.objects.get(integration=integration)
    assert job.kind == "backfill"
    assert job.options == {"since": "2020-01-01"}
    with pytest.raises(CommandError, match="must be a date"):
        call_command("backfill", str(integration.pk), "--since", "yesterday")


@pytest.mark.peer
@pytest.mark.usefixtures("catalogue")
def test_two_workers_racing_for_one_integration_make_one_job(owner, feed_server, subprocess_env):
    # The feed answers only once one of the two has exited: whichever runs the job is then still in
    # it, however far apart the two processes start (a fixed delay raced a slow start-up).
    one_exited = threading.Event()
    awkward = data_text("ical/awkward.ics").encode()
    feed_server.sequence("/slow.ics", [Reply(200, awkward, hold=one_exited, conditional=False)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/slow.ics")}, config=WIDE)
    env = dict(subprocess_env, SSRF_ALLOWED_HOSTS=feed_server.host)
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "sync", str(integration.pk)], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        wait_for(lambda: any(w.poll() is not None for w in workers), seconds=120)
    finally:
        one_exited.set()
    outcomes = [w.communicate(timeout=120) for w in workers]
    codes = sorted(w.returncode for w in workers)
    assert codes == [0, 1], outcomes
    assert any("being run by another worker" in err for _out, err in outcomes)
    assert SyncJob.objects.filter(integration=integration).count() == 1
    assert len(feed_server.requests_to("/slow.ics")) == 1
    assert live_items(integration).count() == 14
