"""From uploaded files to a backfill sync job, and back to tidy files once the job ends.

- A type takes archives when its connector has `sniff(paths) -> description`, which raises
  ConfigError with a plain message when the files are the wrong export (Spotify's export,
  Google Takeout of Google Photos, and every archive connector).
- The check runs on each file as soon as it is whole, and on the set again when the import
  starts, so a wrong export is refused before any job exists.
- The import is the same job as `manage.py import_spotify_export` runs: queue_sync(kind=BACKFILL,
  options={"archive_paths": [...]}), with the engine's dedup, checkpoints, counts and ledger.
- When the job ends, `settle_job` deletes the files (unless the person kept the archive) after a
  succeeded or partial import, or makes them importable again after a failure. It runs from the
  task that ran the job (integrations.tasks.run_archive_import), and the periodic sweep settles
  any upload whose job ended elsewhere (a job taken over by another worker runs as a plain sync
  task).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.errors import ConfigError, ConnectorError
from integrations import connections
from integrations.models import (
    ACTIVE_JOB_STATUSES,
    PENDING_UPLOAD_STATUSES,
    AuditAction,
    AuditEvent,
    Integration,
    IntegrationType,
    JobKind,
    JobStatus,
    JobTrigger,
    Status,
    SyncJob,
    Upload,
    UploadStatus,
)
from integrations.uploads import receive, storage
from integrations.uploads.problems import UploadProblem

log = logging.getLogger(__name__)

FINISHED_IMPORT = (JobStatus.SUCCEEDED, JobStatus.PARTIAL)


def archive_connector(itype: IntegrationType):
    """The connector class of a type that takes uploaded archives, or None."""
    if not (itype.is_available and itype.handler and itype.is_source):
        return None
    try:
        cls = itype.connector_class()
    except ConfigError:  # a handler that is not registered
        return None
    return cls if callable(getattr(cls, "sniff", None)) else None


def accepts_archives(itype: IntegrationType) -> bool:
    return archive_connector(itype) is not None


def check_export(itype: IntegrationType, paths: list[str]) -> str:
    """What the connector recognises in these files, or UploadProblem (422) saying why not."""
    cls = archive_connector(itype)
    if cls is None:
        raise UploadProblem(f"{itype.display_name} does not import archives.", status=404)
    try:
        return str(cls.sniff([str(p) for p in paths]) or "")[:1000]
    except ConnectorError as exc:
        raise UploadProblem(exc.message, remediation=exc.remediation, status=422, code="wrong_export") from None
    except Exception:
        log.exception("The %s export check failed on an uploaded file", itype.slug)
        raise UploadProblem(
            f"These files could not be read as a {itype.display_name} export.",
            remediation=f"Upload the files exactly as {itype.display_name} sent them.",
            status=422,
            code="wrong_export",
        ) from None


def check_complete_upload(upload: Upload) -> Upload:
    """Run the export check on a file that has just arrived whole: note what it is, or reject it
    (its bytes are deleted) with the connector's message."""
    if upload.status != UploadStatus.COMPLETE:
        return upload
    try:
        detail = check_export(upload.type, [str(storage.path_of(upload))])
    except UploadProblem as problem:
        receive.reject(upload, " ".join(filter(None, [problem.message, problem.remediation])))
        return upload
    Upload.objects.filter(pk=upload.pk).update(detail=detail)
    upload.detail = detail
    return upload


def pending_uploads(user, itype: IntegrationType, integration: Integration | None):
    """The person's uploads waiting for this import (unfinished or whole, not yet imported)."""
    return Upload.objects.filter(
        user=user, type=itype, integration=integration, status__in=PENDING_UPLOAD_STATUSES
    ).order_by("created_at")


def _chosen(user, itype, integration, upload_ids) -> list[Upload]:
    ids = [str(i) for i in upload_ids or []]
    if not ids:
        raise UploadProblem("Upload the export first, then start the import.", field="uploads")
    uploads = []
    for upload in Upload.objects.filter(user=user, pk__in=_valid_uuids(ids)).select_related("type"):
        uploads.append(upload)
    if len(uploads) != len(set(ids)):
        raise UploadProblem("One of the files is not among your uploads.", status=404, field="uploads")
    for upload in uploads:
        if upload.type_id != itype.pk or upload.integration_id != (integration.pk if integration else None):
            raise UploadProblem(f"{upload.filename} was uploaded for another import.", field="uploads")
        if upload.status != UploadStatus.COMPLETE:
            raise UploadProblem(
                f"{upload.filename} is {upload.get_status_display().lower()}, so it cannot be imported now.",
                remediation="Wait until every file is uploaded; upload a file that was refused again.",
                status=409,
                field="uploads",
            )
    return sorted(uploads, key=lambda u: u.created_at)


def _valid_uuids(ids: list[str]) -> list[str]:
    import uuid

    valid = []
    for value in ids:
        try:
            valid.append(str(uuid.UUID(value)))
        except ValueError:
            raise UploadProblem("One of the files is not among your uploads.", status=404, field="uploads") from None
    return valid


def start_import(
    user,
    upload_ids,
    *,
    integration: Integration | None = None,
    itype: IntegrationType | None = None,
    settings_data: dict | None = None,
    keep_archive: bool = False,
    trigger: str = JobTrigger.UPLOAD,
) -> SyncJob:
    """Check the uploaded files, create the integration when it is new (an archive type's connect
    page), and queue the import job. Raises UploadProblem (or connections.Problem for settings of
    a new integration) before anything is created when the files or settings are wrong."""
    itype = integration.type if integration is not None else itype
    if archive_connector(itype) is None:
        raise UploadProblem(f"{itype.display_name} does not import archives.", status=404)
    uploads = _chosen(user, itype, integration, upload_ids)
    prepared = None
    if integration is None:
        if itype.auth_kind != "archive":
            raise UploadProblem(
                f"Connect {itype.display_name} first, then import the export from its page.", status=409
            )
        prepared = connections.prepare(user, itype, settings_data or {})
    paths = [str(storage.path_of(upload)) for upload in uploads]
    description = check_export(itype, paths)
    options = {"archive_paths": paths}
    from integrations.sync.jobs import SyncRefused, queue_sync

    try:
        with transaction.atomic():
            if integration is None:
                integration = _create_archive_integration(user, prepared, description)
            claimed = Upload.objects.filter(pk__in=[u.pk for u in uploads], status=UploadStatus.COMPLETE).update(
                status=UploadStatus.IMPORTING, integration=integration, keep_archive=bool(keep_archive)
            )
            if claimed != len(uploads):
                raise UploadProblem("This import has already been started.", status=409)
            job = queue_sync(integration, kind=JobKind.BACKFILL, trigger=trigger, options=options, enqueue=False)
            if job.options != options:
                raise UploadProblem(
                    f"A sync of {integration.name} is running now (job {job.pk}).",
                    remediation="Start the import again when it has finished; your files are kept until then.",
                    status=409,
                )
            Upload.objects.filter(pk__in=[u.pk for u in uploads]).update(job=job, expires_at=receive.expiry())
            if trigger == JobTrigger.UPLOAD:  # queue_sync audits the other triggers itself
                AuditEvent.record(
                    AuditAction.SYNC_QUEUED,
                    integration=integration,
                    job=job.pk,
                    kind=JobKind.BACKFILL,
                    files=[u.filename for u in uploads],
                )
            transaction.on_commit(lambda: _enqueue(job.pk))
    except SyncRefused as exc:
        raise UploadProblem(f"{integration.name} cannot import now: {exc}", status=409) from None
    except IntegrityError:  # a double submit raced us to the same integration name
        raise UploadProblem(
            f"You already have a {itype.display_name} with that name.", field="name", status=409
        ) from None
    return job


def _create_archive_integration(user, prepared, description: str) -> Integration:
    integration = Integration.objects.create(
        user=user,
        type=prepared.itype,
        name=prepared.name,
        config=prepared.config,
        status=Status.CONNECTED,
        account_identity=description[:255],
        sync_interval_minutes=prepared.interval,
    )
    AuditEvent.record(
        AuditAction.CONNECT, integration=integration, identity=description[:255], settings=sorted(prepared.config)
    )
    return integration


def _enqueue(job_id: int):
    from django_q.tasks import async_task

    async_task("integrations.tasks.run_archive_import", job_id, task_name=f"archive-import-{job_id}", group="sync")


# -- after the job ----------------------------------------------------------------------------


def settle_job(job_id: int) -> int:
    """The job's uploads after it ended: files deleted (unless kept) when it imported, importable
    again when it failed or was cancelled. Returns how many uploads changed; nothing while the job
    is still active."""
    job = SyncJob.objects.filter(pk=job_id).first()
    if job is None or job.status in ACTIVE_JOB_STATUSES:
        return 0
    return sum(_settle(upload, job) for upload in Upload.objects.filter(job=job, status=UploadStatus.IMPORTING))


def _settle(upload: Upload, job: SyncJob | None) -> bool:
    if job is not None and job.status in FINISHED_IMPORT:
        changed = Upload.objects.filter(pk=upload.pk, status=UploadStatus.IMPORTING).update(
            status=UploadStatus.IMPORTED, updated_at=timezone.now()
        )
        if changed and not upload.keep_archive:
            storage.remove_files(upload.user_id, upload.pk)
        return bool(changed)
    reason = job.error_message if job is not None and job.error_message else "The import did not finish."
    return bool(
        Upload.objects.filter(pk=upload.pk, status=UploadStatus.IMPORTING).update(
            status=UploadStatus.COMPLETE,
            detail=f"{reason} The file is kept so you can start the import again."[:1000],
            expires_at=receive.expiry(),
            updated_at=timezone.now(),
        )
    )


def sweep() -> dict:
    """Periodic: settle uploads whose job ended without the import task (taken over by another
    worker, or lost), and delete unfinished or unimported uploads past their expiry."""
    settled = 0
    for upload in Upload.objects.filter(status=UploadStatus.IMPORTING).select_related("job"):
        if upload.job is None or upload.job.status not in ACTIVE_JOB_STATUSES:
            settled += _settle(upload, upload.job)
    now = timezone.now()
    expired = 0
    stale = Upload.objects.filter(status__in=PENDING_UPLOAD_STATUSES, expires_at__lt=now).exclude(
        receiving_until__gt=now
    )
    for upload in stale:
        if Upload.objects.filter(pk=upload.pk, status=upload.status, expires_at__lt=now).update(
            status=UploadStatus.EXPIRED, detail="Expired before it was imported; the file was deleted."
        ):
            receive.HASHERS.forget(upload.pk)
            storage.remove_files(upload.user_id, upload.pk)
            expired += 1
    return {"settled": settled, "expired": expired}


def cancel(upload: Upload) -> None:
    """The person removes an upload that is not being imported: its row and its bytes go."""
    if upload.status == UploadStatus.IMPORTING:
        raise UploadProblem(f"{upload.filename} is being imported; it can be removed when the import ends.", status=409)
    upload.delete()  # the post_delete receiver removes the folder once the deletion is committed
