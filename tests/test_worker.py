"""A django-q2 task round-trips through a real `qcluster` worker, on the ORM broker and on Redis."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.peers.availability import unavailable
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


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
    with pytest.raises(CommandError, match=r"is `python manage.py worker` \(the Procfile's worker\) running"):
        call_command("check_worker", "--wait", "0.5")


@pytest.mark.peer
def test_the_worker_stops_cleanly_on_ctrl_c_under_honcho(subprocess_env, tmp_path):
    """What `make run` does on Ctrl-C: the terminal sends SIGINT to the whole process group and
    honcho sends SIGTERM to the worker. django-q2's own `qcluster` hung there (its handler ran
    twice and deadlocked) until it was killed; `manage.py worker`, the Procfile's, stops at once."""
    import shutil

    procfile = tmp_path / "Procfile"
    worker_line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("worker:"))
    procfile.write_text(worker_line + "\n")
    env = {k: v for k, v in subprocess_env.items() if k != "REDIS_URL"}
    env["Q_CLUSTER_NAME"] = f"test-stop-{uuid.uuid4().hex[:8]}"
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    honcho = shutil.which("honcho", path=env["PATH"])
    log_path = tmp_path / "honcho.log"
    with open(log_path, "w") as log:
        manager = subprocess.Popen(
            [honcho, "-d", str(ROOT), "start", "-f", str(procfile)], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:

        def running() -> bool:
            assert manager.poll() is None, log_path.read_text()[-3000:]
            return "running." in log_path.read_text()

        wait_for(running, seconds=90, explain=lambda: log_path.read_text()[-3000:])
        os.killpg(manager.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            manager.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker hung after Ctrl-C:\n" + log_path.read_text()[-3000:])
    finally:
        if manager.poll() is None:
            os.killpg(manager.pid, signal.SIGKILL)
            manager.wait(timeout=5)
    output = log_path.read_text()
    assert "worker.1 stopped (rc=0)" in output, output[-3000:]
    assert "SIGKILL" not in output
