"""One running sync job, owned by this worker from its claim to its ending.

A JobRun holds everything that is "this job, now": the claim, the heartbeat, the checkpoint with
each stored batch, the connector's notices and unmapped fields, the waits between retries, and
the one ending (succeeded or partial, failed, cancelled, or held until the provider allows). Every
write is conditional on the job still being ours: a worker that lost it (its heartbeat went stale
and another took it over) gets LostOwnership and stops without writing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from connectors.errors import AUTH, CONFIG, ITEM, ConnectorError
from connectors.http import heartbeat_every, sleep_with_heartbeat
from integrations import lifecycle
from integrations.models import Actor, Integration, JobKind, JobStatus, Status, SyncJob
from integrations.secrets import credential_for
from integrations.sync import jobs
from integrations.sync.bookkeeping import bookkeeping_transaction
from integrations.sync.context import UNREAD, build_context
from integrations.sync.jobs import LostOwnership
from integrations.sync.upsert import BatchResult, store_batch

log = logging.getLogger(__name__)
# Integration.status_detail's length: a job's notices can say more, and are shown whole on the job page.
STATUS_DETAIL_MAX = 500

# Statuses a sync may move to "syncing". Paused, disconnected and needs-re-auth ones are never
# touched: a job queued before the user paused must not undo the pause.
SYNCABLE_STATUSES = (Status.PENDING, Status.CONNECTED, Status.ERROR, Status.SYNCING)


class JobRun:
    def __init__(self, job: SyncJob, worker: str, on_progress=None):
        self.job = job
        self.worker = worker
        self.on_progress = on_progress
        self.integration: Integration = job.integration
        self.unmapped: set[str] = set(job.unmapped_fields or [])
        self.progress_mark = time.monotonic()  # the last sign that the source answers
        self._pulse: Pulse | None = None
        self._credential = UNREAD  # read by start(), in the claim's transaction, for the first attempt
        self._integration_cursor = self.integration.sync_cursor  # as stored, kept in step by checkpoint()
        self._final = False  # succeed() knows the job's final row: finished() need not read it again

    # -- claim ------------------------------------------------------------------------------
    @classmethod
    def claim(cls, job_id: int, worker: str, on_progress=None) -> JobRun | None:
        """Claim the job. Inside a transaction (the engine's), the claim commits with the job's
        start or cancellation: one commit where there were four."""
        job = jobs.claim(job_id, worker)
        return cls(job, worker, on_progress) if job is not None else None

    def _mine(self):
        return SyncJob.objects.filter(pk=self.job.pk, worker=self.worker, status=JobStatus.RUNNING)

    def start(self) -> None:
        """Fix where this job starts (first attempt) or say it resumes, show "syncing", and read
        (and audit) the credential for the first attempt. Writes only what changes."""
        job = self.job
        if job.attempts == 1:
            start = None if job.kind in (JobKind.FULL, JobKind.BACKFILL) else self.integration.sync_cursor
            if (job.cursor_before, job.cursor_after) != (start, start):  # a full sync's are None already
                self._mine().update(cursor_before=start, cursor_after=start)
            job.cursor_before = job.cursor_after = start
        else:
            log.warning("Sync job %s resumed by %s from its checkpoint (attempt %s)", job.pk, self.worker, job.attempts)
        # Read with the claim: "syncing" already (a takeover) has nothing to change.
        if self.integration.status != Status.SYNCING:
            Integration.objects.filter(pk=self.integration.pk, status__in=SYNCABLE_STATUSES).update(
                status=Status.SYNCING
            )
        try:
            self._credential = credential_for(self.integration, actor=Actor.TASK, purpose=self._purpose)
        except DatabaseError:
            raise
        except Exception:  # noqa: BLE001  (e.g. undecryptable: the attempt reads it again and fails the job with it)
            self._credential = UNREAD

    # -- while it runs ------------------------------------------------------------------------
    def __enter__(self):
        # The caller's open transaction (a test's) would hide the job from the pulse's own connection.
        if not connection.in_atomic_block:
            self._pulse = Pulse(self.job.pk, self.worker)
            self._pulse.start()
        return self

    def __exit__(self, *exc):
        if self._pulse is not None:
            self._pulse.stop()

    def heartbeat(self) -> None:
        if self._pulse is not None:
            if self._pulse.lost.is_set():
                raise LostOwnership(f"job {self.job.pk} was taken over by another worker")
            return  # the pulse beats for us
        if not self._mine().update(heartbeat_at=timezone.now()):
            raise LostOwnership(f"job {self.job.pk} was taken over by another worker")

    @property
    def _purpose(self) -> str:
        return f"sync job {self.job.pk}"

    def context(self):
        """The connector's context for one attempt: the job's heartbeat, no retries of its own.
        A retry reads the credential again (a token may have been refreshed meanwhile)."""
        credential, self._credential = self._credential, UNREAD
        return build_context(
            self.integration,
            purpose=self._purpose,
            options=self.job.options,
            on_heartbeat=self.heartbeat,
            in_job=True,
            credential=credential,
        )

    @property
    def advances_integration_cursor(self) -> bool:
        # A backfill imports history; it moves the integration's own cursor only if it has none.
        return self.job.kind != JobKind.BACKFILL or self.integration.sync_cursor is None

    def checkpoint(self, records: list, batch, item_errors: list[dict]) -> BatchResult:
        """Store one batch with its cursor, in one transaction: the job resumes from here."""
        if self._stores_nothing(records, batch, item_errors):
            self.progress_mark = time.monotonic()
            return BatchResult()
        advance = self.advances_integration_cursor
        result = store_batch(
            self.job,
            self.worker,
            self.integration,
            records,
            deletes=batch.deletes,
            item_errors=item_errors,
            cursor=batch.cursor,
            total=batch.total,
            reset_prefix=batch.reset_prefix,
            advance_integration_cursor=advance,
        )
        self.job.cursor_after = batch.cursor
        if advance:
            self._integration_cursor = batch.cursor
        if batch.total is not None:
            self.job.progress_total = batch.total
        self.progress_mark = time.monotonic()
        if self.on_progress:
            self.job.refresh_from_db()
            self.on_progress(self.job)
        return result

    def _stores_nothing(self, records: list, batch, item_errors: list[dict]) -> bool:
        """A batch without records, deletions, errors or a reset whose cursor and total are those
        already stored (a no-change re-sync's one batch): storing it would commit nothing new, and
        the job resumes from the same checkpoint either way."""
        if records or batch.deletes or item_errors or batch.reset_prefix is not None:
            return False
        if batch.cursor != self.job.cursor_after or batch.total not in (None, self.job.progress_total or 0):
            return False
        return not self.advances_integration_cursor or batch.cursor == self._integration_cursor

    def add_notices(self, notices: list[str]) -> None:
        """Keep a connector's notices on the job (in its remediation, which the job page and the
        ledger show), once each; the job then ends partial."""
        current = SyncJob.objects.filter(pk=self.job.pk).values_list("remediation", flat=True).first() or ""
        new = [notice for notice in notices if notice and notice not in current]
        if new:
            SyncJob.objects.filter(pk=self.job.pk).update(remediation=" ".join([current, *new]).strip()[:4000])

    def keep_unmapped(self, fields: set[str]) -> None:
        new = sorted(fields - self.unmapped)
        if new:
            # Logged once per sync, and kept on the job: nothing is dropped silently.
            log.info("Sync job %s kept unmapped source fields in data: %s", self.job.pk, ", ".join(new))
            self.unmapped |= fields
            self.job.unmapped_fields = sorted(self.unmapped)
            SyncJob.objects.filter(pk=self.job.pk).update(unmapped_fields=self.job.unmapped_fields)

    def seconds_since_progress(self) -> float:
        return time.monotonic() - self.progress_mark

    def wait(self, seconds: float, sleep=time.sleep) -> None:
        """Wait before the next attempt, heartbeating (SYNC_MAX_WAIT is longer than SYNC_STALE_AFTER)."""
        sleep_with_heartbeat(seconds, self.heartbeat, sleep)
        self.job.refresh_from_db(fields=["cursor_after"])
        self.progress_mark = time.monotonic()

    # -- endings ------------------------------------------------------------------------------
    def cancel(self, reason: str) -> None:
        """The integration was paused, disconnected or refused since the job was queued."""
        log.info("Sync job %s cancelled: %s", self.job.pk, reason)
        self._mine().update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            error_message="Cancelled before it started: the integration changed after this sync was queued.",
            remediation=reason,
        )

    @transaction.atomic
    def succeed(self) -> None:
        job, now = self.job, timezone.now()
        # The whole row: with the values written below it is the job's final state (finished()).
        job.refresh_from_db(fields=[f.attname for f in SyncJob._meta.concrete_fields if not f.primary_key])
        notices = job.remediation  # what add_notices recorded while the job ran
        status = JobStatus.PARTIAL if job.failed or notices else JobStatus.SUCCEEDED
        remediation = notices
        if job.failed:
            skipped = f"{job.failed} record(s) could not be read and were skipped; the rest was imported."
            remediation = f"{skipped} {notices}".strip()
        elif not job.seen and not notices and (job.options or {}).get("archive_paths"):
            # An import that found nothing at all (a file with only its header row, an export of an
            # empty account): said, so "succeeded" with nothing new is not a riddle.
            remediation = (
                "The uploaded file held no records to import. If you expected some, check that it is the "
                "export this integration reads (its upload page says which file), not an empty one."
            )
        final = dict(
            status=status,
            finished_at=now,
            heartbeat_at=now,
            progress_total=job.progress_done,  # read above, in this transaction; only this worker adds to it
            remediation=remediation,
            error_class=ITEM if job.failed else "",
        )
        if not self._mine().update(**final):
            raise LostOwnership(f"job {job.pk} was taken over by another worker")
        for name, value in final.items():
            setattr(job, name, value)
        self._final = True
        # One UPDATE. Only "syncing" (our own mark) becomes "connected": a pause, disconnect or
        # re-auth made while the job ran stays as the user (or the provider) left it.
        ours = Q(status=Status.SYNCING)
        Integration.objects.filter(pk=self.integration.pk).update(
            last_synced_at=now,
            last_error="",
            consecutive_failures=0,
            status=Case(When(ours, then=Value(Status.CONNECTED)), default=F("status")),
            status_detail=Case(When(ours, then=Value(_detail(remediation))), default=F("status_detail")),
        )

    def fail(self, error: ConnectorError) -> None:
        now, message, integration = timezone.now(), str(error), self.integration
        log.warning("Sync job %s failed (%s): %s", self.job.pk, error.error_class, message)
        with transaction.atomic():
            owned = self._mine().update(
                status=JobStatus.FAILED,
                finished_at=now,
                heartbeat_at=now,
                error_class=error.error_class,
                error_message=message[:2000],
                remediation=error.remediation,
            )
            if not owned:
                # Another worker took the job over: the integration's state is its business now.
                raise LostOwnership(f"job {self.job.pk} was taken over by another worker")
            integration.refresh_from_db()
            if error.error_class == AUTH and integration.status not in (Status.PAUSED, Status.DISCONNECTED):
                lifecycle.needs_reauth(integration, f"{message} {error.remediation}")
            else:
                integration.record_failure(message, counts=not error.operator_problem)
                if integration.status == Status.SYNCING:
                    detail = error.remediation if error.error_class == CONFIG else f"{message} {error.remediation}"
                    integration.set_status(Status.ERROR, detail)

    def hold(self, seconds: float, error: ConnectorError) -> None:
        """The provider asked for a wait longer than SYNC_MAX_WAIT: give the worker back, keep the job
        (and its checkpoint) queued until the time the provider named, and book its resumption."""
        when = timezone.now() + timedelta(seconds=seconds)
        note = (
            f"{error} The service asked us to wait until {when:%Y-%m-%d %H:%M} UTC; "
            "this sync resumes then by itself, from where it stopped."
        )
        log.info("Sync job %s held until %s (Retry-After %.0f s)", self.job.pk, when.isoformat(), seconds)
        with transaction.atomic():
            if not self._mine().update(status=JobStatus.QUEUED, not_before=when, error_message=note[:2000]):
                raise LostOwnership(f"job {self.job.pk} was taken over by another worker")
            Integration.objects.filter(pk=self.integration.pk, status=Status.SYNCING).update(
                status=Status.CONNECTED, status_detail=_detail(note)
            )
            jobs.book_resume(self.job, when)

    def interrupt(self) -> None:
        """The operator stopped the command running this job (Ctrl-C): end it as cancelled, keeping
        what was stored, rather than leave it "running" for a worker to take over once stale and
        finish the sync the operator had just stopped."""
        note = (
            "Stopped with Ctrl-C by the operator. The records stored until then are kept; the next sync "
            "recognises them and adds nothing twice."
        )
        now = timezone.now()
        with transaction.atomic():
            if not self._mine().update(
                status=JobStatus.CANCELLED, finished_at=now, heartbeat_at=now, error_message=note
            ):
                return  # no longer ours: the state is another worker's business
            Integration.objects.filter(pk=self.integration.pk, status=Status.SYNCING).update(
                status=Status.CONNECTED, status_detail=_detail(note)
            )
        self._final = True

    def finished(self) -> SyncJob:
        if not self._final:
            self.job.refresh_from_db()
        if self.on_progress:
            self.on_progress(self.job)
        return self.job


class Pulse(threading.Thread):
    """The job's heartbeat, beaten by a thread of the worker's own process every quarter of
    SYNC_STALE_AFTER. It lives and dies with the process, so a stale heartbeat means exactly "the
    worker is gone", even while the job's thread is blocked in one long read (two OUTBOUND_TIMEOUTs
    can exceed SYNC_STALE_AFTER); when the job is no longer ours it raises the `lost` flag, which
    the job's thread checks at its next heartbeat() and stops."""

    def __init__(self, job_id: int, worker: str):
        super().__init__(name=f"sync-job-{job_id}-pulse", daemon=True)
        self.job_id, self.worker = job_id, worker
        self.lost = threading.Event()
        self._done = threading.Event()

    def run(self):
        try:
            while not self._done.wait(heartbeat_every()):
                try:
                    # Lost in a database crash, a beat only makes the job look stale sooner: a
                    # takeover is safe by design (integrations.sync.bookkeeping).
                    with bookkeeping_transaction():
                        beaten = SyncJob.objects.filter(
                            pk=self.job_id, worker=self.worker, status=JobStatus.RUNNING
                        ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    log.warning("Sync job %s: heartbeat not written (database busy or down)", self.job_id)
                    continue
                if not beaten and not self._done.is_set():
                    self.lost.set()
                    return
        finally:
            connection.close()

    def stop(self):
        self._done.set()
        self.join(timeout=10)


def _detail(text: str) -> str:
    """Integration.status_detail holds 500 characters (PostgreSQL refuses more; SQLite would not)."""
    text = text or ""
    return text if len(text) <= STATUS_DETAIL_MAX else text[: STATUS_DETAIL_MAX - 1] + "…"
