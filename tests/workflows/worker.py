"""A real `manage.py worker` (the Procfile's django-q2 cluster) on the test database, for the tests
that prove schedules fire."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def qcluster(
    env: dict, log_path: Path, *, cluster: str, allowed_hosts=(), api_bases: dict | None = None, same_broker=False
):
    """Start a worker; `same_broker` keeps this process's broker (Redis when REDIS_URL is set), for
    tasks enqueued by the live server, otherwise the worker uses the ORM broker of the test DB."""
    dropped = {"DJANGO_ALLOW_ASYNC_UNSAFE"} | (set() if same_broker else {"REDIS_URL"})
    env = {k: v for k, v in env.items() if k not in dropped}
    env.update(Q_CLUSTER_NAME=cluster, Q_WORKERS="1", SSRF_ALLOWED_HOSTS=",".join(allowed_hosts))
    if api_bases:
        env["CONNECTOR_API_BASES"] = json.dumps(api_bases)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
