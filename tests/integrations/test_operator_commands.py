"""The operator commands as an operator types them: a wrong argument is a usage line naming the
option (exit status 2), an id that names nothing says so, and nothing reports work it did not do."""

import io
import os
import signal
import subprocess
import sys
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.models import JobStatus, Status, SyncJob
from integrations.sync import jobs
from tests.connectors.helpers import connect, data_text
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type
from tests.peers.feeds import Reply
from tests.waiting import wait_for

WIDE = {"window_past_days": 400, "window_future_days": 400}

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(PROJECT, "manage.py"), *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["backfill", "1", "--since", "yesterday"], "argument --since: must be a date like 2024-01-31"),
        (["rotate_keys", "--batch-size", "0"], "argument --batch-size: must be a whole number above 0"),
        (["rotate_keys", "--batch-size", "many"], "argument --batch-size: must be a whole number above 0"),
    ],
)
def test_a_wrong_argument_is_a_usage_error_not_a_traceback(subprocess_env, args, says):
    result = _manage(subprocess_env, *args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_recount_items_names_ids_that_are_no_integration(owner):
    integration = make_integration(owner, make_counter_type())
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"No integration 999999\b"):
        call_command("recount_items", str(integration.pk), "999999", stdout=out)

    call_command("recount_items", str(integration.pk), stdout=out)
    assert "Recounted 1 integration(s)" in out.getvalue()


@pytest.mark.peer
@pytest.mark.usefixtures("catalogue")
def test_ctrl_c_stops_a_sync_command_cleanly(owner, feed_server, subprocess_env):
    # Ctrl-C printed a KeyboardInterrupt traceback and left the job "running" and the integration
    # "syncing" until a worker found the job stale and ran the sync the operator had just stopped.
    released = threading.Event()
    feed_server.sequence("/held.ics", [Reply(200, data_text("ical/awkward.ics").encode(), hold=released)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/held.ics")}, config=WIDE)
    env = dict(subprocess_env, SSRF_ALLOWED_HOSTS=feed_server.host)
    command = subprocess.Popen(
        [sys.executable, "manage.py", "sync", str(integration.pk), "--full"],
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: feed_server.requests_to("/held.ics") or command.poll() is not None, seconds=120)
        assert command.poll() is None, command.communicate()
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=120)
    finally:
        released.set()
        if command.poll() is None:
            command.kill()
    assert command.returncode == 130, (out, err)
    assert "Traceback" not in err
    job = SyncJob.objects.filter(integration=integration).latest("pk")
    assert f"Stopped: sync job {job.pk} was cancelled" in err
    assert job.status == JobStatus.CANCELLED
    assert "Ctrl-C" in job.error_message
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED


@pytest.mark.usefixtures("catalogue")
def test_queueing_a_sync_while_the_broker_is_down_leaves_the_job_for_the_sweeper(owner, subprocess_env):
    # With Redis down, `sync --queue` (and the admin's "Queue a sync now", and "Sync now" on the
    # integration's page) ended in a redis ConnectionError traceback after the job was stored.
    from integrations.models import IntegrationType
    from tests.peers.availability import free_port

    weather = IntegrationType.objects.get(slug="weather")
    integration = make_integration(owner, weather, config={"latitude": 47.37, "longitude": 8.54})
    env = dict(subprocess_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = _manage(env, "sync", str(integration.pk), "--queue")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "the broker is unreachable" in result.stderr + result.stdout
    job = SyncJob.objects.get(integration=integration)
    assert job.status == JobStatus.QUEUED
    # Dated back so the next sweep (every few seconds, once the broker answers) hands it out.
    assert job.queued_at <= jobs._lost_before()


def test_check_worker_says_the_broker_is_unreachable(subprocess_env):
    from tests.peers.availability import free_port

    env = dict(subprocess_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = _manage(env, "check_worker", "--wait", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot reach the task broker" in result.stderr
    assert "REDIS_URL" in result.stderr
