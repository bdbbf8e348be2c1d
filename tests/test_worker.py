"""A django-q2 task round-trips through a real `qcluster` worker, on the ORM broker and on Redis."""

import os
import signal
import subprocess
import sys
import uuid

import pytest
from django.core.management import call_command

from tests.peers.availability import unavailable


def _run_worker_and_check(env, tmp_path):
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        checker = subprocess.run(
            [sys.executable, "manage.py", "check_worker", "--wait", "60"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=3)  # the round trip is what is tested, not a graceful shutdown
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    assert checker.returncode == 0, checker.stderr + (tmp_path / "worker.log").read_text()[-3000:]
    assert "ran the task" in checker.stdout


@pytest.mark.peer
def test_task_round_trip_on_the_orm_broker(subprocess_env, tmp_path):
    env = {k: v for k, v in subprocess_env.items() if k != "REDIS_URL"}
    env["Q_CLUSTER_NAME"] = f"test-orm-{uuid.uuid4().hex[:8]}"
    _run_worker_and_check(env, tmp_path)


@pytest.mark.peer
def test_task_round_trip_on_redis(subprocess_env, tmp_path):
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"Redis at {url} is not reachable: {exc}")
    env = dict(subprocess_env, REDIS_URL=url, Q_CLUSTER_NAME=f"test-redis-{uuid.uuid4().hex[:8]}")
    _run_worker_and_check(env, tmp_path)


def test_check_worker_reports_a_missing_worker(db, settings):
    from django.core.management.base import CommandError

    settings.Q_CLUSTER = dict(settings.Q_CLUSTER)
    with pytest.raises(CommandError, match=r"is `python manage.py qcluster` running"):
        call_command("check_worker", "--wait", "0.5")
