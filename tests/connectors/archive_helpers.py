"""Importing uploaded exports in tests the way the upload page does: a BACKFILL job with
options {"archive_paths": [...]}, run by the engine; and a worker killed after its first batch."""

from __future__ import annotations

import contextlib
import datetime
import zipfile

from django.utils import timezone

from integrations.models import JobKind, SyncedItem, SyncJob
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so the engine does not record a failure."""


def import_files(integration, paths, **kwargs) -> SyncJob:
    job = queue_sync(integration, kind=JobKind.BACKFILL, options={"archive_paths": [str(p) for p in paths]},
                     enqueue=False)  # fmt: skip
    finished = run_job(job.pk, **kwargs)
    integration.refresh_from_db()
    return finished


def import_killed_after_first_batch_then_resumed(integration, paths) -> tuple[int, SyncJob]:
    """Rows stored when the worker died after its first batch, and the job finished by the next worker."""

    def die(job):
        if job.status == "running" and job.progress_done:
            raise Killed

    job = queue_sync(integration, kind=JobKind.BACKFILL, options={"archive_paths": [str(p) for p in paths]},
                     enqueue=False)  # fmt: skip
    with contextlib.suppress(Killed):
        run_job(job.pk, on_progress=die)
    stored = SyncedItem.objects.filter(integration=integration).count()
    # The dead worker's heartbeat goes stale, so the next worker may take the job over.
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - datetime.timedelta(hours=1))
    finished = run_job(job.pk)
    return stored, finished


def zip_of(path, files: dict) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return str(path)


def items(integration, **filters):
    return SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True, **filters)


def zip_opens(monkeypatch, path) -> list:
    """Each time zipfile opens the archive at `path` (watched, not changed), appended as it happens."""
    opened = []
    original = zipfile.ZipFile.__init__

    def counting(self, file, *args, **kwargs):
        if str(file) == str(path):
            opened.append(file)
        original(self, file, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting)
    return opened
