"""A worker killed with SIGKILL in the middle of a big mailbox sync loses nothing: the next run
takes the job over from its last checkpoint and finishes with every message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem, SyncJob
from tests.factories import make_integration
from tests.peers.dovecot import PASSWORD, make_message
from tests.waiting import wait_for

pytestmark = [pytest.mark.peer]

ROOT = Path(__file__).resolve().parent.parent.parent
TOTAL = 3000


def _wait_for_progress(integration, process, log: Path, low: int, high: int, timeout: float = 120) -> SyncJob:
    def mid_way() -> SyncJob | None:
        job = SyncJob.objects.filter(integration=integration).first()
        if job is not None and low <= job.progress_done < high:
            return job
        assert process.poll() is None, f"the sync ended (exit code {process.poll()}):\n{tail(log)}"
        return None

    return wait_for(
        mid_way, seconds=timeout, explain=lambda: f"the sync never got to {low}..{high} messages\n{tail(log)}"
    )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def test_a_sync_killed_mid_way_resumes_from_its_checkpoint_without_loss_or_duplicates(
    dovecot, subprocess_env, catalogue, owner, tmp_path
):
    user = dovecot.new_user()
    dovecot.deliver(user, (make_message(f"Message {n}", message_id=f"<m{n}@resume.test>") for n in range(TOTAL)))
    itype = IntegrationType.objects.get(slug="imap")
    # This test is about resuming. 30 batches of 100 would spend a minute waiting on the blueprint's
    # 30 IMAP commands a minute (pacing has its own test in test_imap_sync.py).
    itype.rate_limit_per_minute = None
    itype.save(update_fields=["rate_limit_per_minute"])
    integration = make_integration(owner, itype, config=dovecot.config(user), secrets={"password": PASSWORD})
    env = dict(subprocess_env, SYNC_BATCH_SIZE="100", SYNC_STALE_AFTER="1", SSRF_ALLOWED_HOSTS=dovecot.host)
    command = [sys.executable, "manage.py", "sync", str(integration.pk)]

    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_progress(integration, first, tmp_path / "first.log", low=500, high=TOTAL - 500)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    job = SyncJob.objects.get(integration=integration)
    stored = SyncedItem.objects.filter(integration=integration).count()
    assert job.status == "running"  # nobody finished it: the worker just vanished
    assert job.attempts == 1
    assert job.cursor_after["folders"]["INBOX"]["last_uid"] > 0  # a checkpoint to resume from
    assert 0 < stored < TOTAL
    assert stored == job.created == job.progress_done  # each checkpoint went in with its batch

    # the next run may take the job over once its heartbeat is stale (SYNC_STALE_AFTER=1)
    wait_for(
        lambda: SyncJob.objects.filter(pk=job.pk, heartbeat_at__lt=timezone.now() - timedelta(seconds=1)).exists(),
        seconds=30,
    )
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert second.returncode == 0, second.stdout + second.stderr

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert job.created == TOTAL  # the resumed run fetched only what the first did not store
    items = SyncedItem.objects.filter(integration=integration)
    assert items.count() == TOTAL
    assert items.values("external_id").distinct().count() == TOTAL
    assert items.values("data__message_id").distinct().count() == TOTAL
    assert job.progress_done == job.progress_total == TOTAL
