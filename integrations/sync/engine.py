"""The run loop: claim a job, stream the connector's batches into the database, checkpoint the
cursor with each batch, and apply the error policy of connectors.errors in this one place.

The engine is the one retry layer of a sync (the outbound path of a job does not retry): a
transient failure resumes from the last checkpoint after an exponential backoff with jitter, at
most SYNC_MAX_TRANSIENT_RETRIES times and within SYNC_RETRY_BUDGET seconds lost to failures
(failed attempts since their last progress, plus the backoffs). A rate limit is waited out exactly
as long as the provider asked; one longer than SYNC_MAX_WAIT holds the job until then and gives
the worker back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from connectors.errors import AUTH, INTERNAL, ITEM, RATE_LIMIT, TRANSIENT, ConnectorError, classify, internal_error
from connectors.http import backoff_delay
from integrations.models import SyncJob
from integrations.sync import jobs
from integrations.sync.ports import HubOutage
from integrations.sync.run import JobRun

__all__ = ["run_job"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncJob], None]
OUTAGE_POLL = 2.0  # seconds between two tries while the hub's own Redis is down


def run_job(
    job_id: int, *, worker: str | None = None, on_progress: ProgressCallback | None = None, sleep=time.sleep
) -> SyncJob | None:
    """Run (or take over) a queued job. Returns the finished job (or the held one), or None if
    another worker has it."""
    # The claim, the job's start (or cancellation) and the credential's audited read: one commit.
    with transaction.atomic():
        run = JobRun.claim(job_id, worker or jobs.worker_id(), on_progress)
        reason = _refusal(run) if run is not None else None
        if reason:
            run.cancel(reason)  # paused, disconnected or refused since it was queued: the user's choice wins
        elif run is not None:
            run.start()
    if run is None:
        log.info("Sync job %s is not claimable (finished, held, or another worker is on it)", job_id)
        return None
    if reason:
        return run.finished()
    try:
        with run:
            _run_with_retries(run, sleep)
    except jobs.LostOwnership:
        log.warning("Sync job %s was taken over by another worker; stopping here", job_id)
        return None
    except KeyboardInterrupt:
        # Only a command in the foreground gets one (django-q's workers ignore SIGINT).
        run.interrupt()
        raise
    return run.finished()


def _refusal(run: JobRun) -> str | None:
    try:
        return jobs.refusal_reason(run.integration)
    except ConnectorError:
        return None  # a broken handler: the run meets it again and fails the job with its message


class RetryBudget:
    """How much retrying one job may do: bounded tries, and a bounded time lost to failures."""

    def __init__(self):
        self.tries = 0
        self.lost = 0.0
        self.outage = 0.0

    def delay_before_retry(self, error: ConnectorError, lost: float) -> float | None:
        """Seconds to wait before the next attempt, or None: give up."""
        if isinstance(error, HubOutage):
            # Our own Redis is down: wait for it (up to SYNC_MAX_WAIT in all), as often as it takes.
            delay = min(OUTAGE_POLL, backoff_delay(0))
            self.outage += lost + delay
            return delay if self.outage <= settings.SYNC_MAX_WAIT else None
        if self.tries >= settings.SYNC_MAX_TRANSIENT_RETRIES:
            return None
        if error.error_class == RATE_LIMIT:
            # Exactly what the provider asked, never earlier; its waits are not our failures' time.
            delay = error.retry_after if error.retry_after is not None else backoff_delay(self.tries)
        elif error.error_class == TRANSIENT:
            delay = backoff_delay(self.tries)
            self.lost += lost
            if self.lost + delay > settings.SYNC_RETRY_BUDGET:
                return None
            self.lost += delay
        else:
            return None
        self.tries += 1
        return delay


def _run_with_retries(run: JobRun, sleep) -> None:
    budget = RetryBudget()
    while True:
        try:
            _stream(run)
        except Exception as exc:  # noqa: BLE001  (every failure is classified and recorded below)
            error = _classified(run, exc)
            if error.error_class == RATE_LIMIT and (error.retry_after or 0) > settings.SYNC_MAX_WAIT:
                run.hold(error.retry_after, error)
                return
            delay = budget.delay_before_retry(error, lost=run.seconds_since_progress())
            if delay is None:
                run.fail(error)
                return
            log.info("Sync job %s: %s Resuming from the checkpoint in %.1f s.", run.job.pk, error, delay)
            run.wait(delay, sleep)
            continue
        run.succeed()
        return


def _classified(run: JobRun, exc: Exception) -> ConnectorError:
    error = classify(exc)  # an unrecognised exception is logged there with its traceback
    if error.error_class == ITEM:
        # Bad data is only an item error inside transform(); out here it is a bug.
        log.exception("Sync job %s hit an unexpected error", run.job.pk)
        error = internal_error(exc)
    return error


def _stream(run: JobRun) -> None:
    """One attempt: the connector's batches from the checkpoint on, each stored with its cursor."""
    ctx = run.context()
    connector = run.integration.type.connector_class()(ctx)
    bug_logged = False
    try:
        for batch in connector.list_changes(run.job.cursor_after):
            records, item_errors = [], [_item_error(e) for e in batch.errors]
            unmapped: set[str] = set()
            for raw in batch.items:
                try:
                    record = connector.transform(raw)
                except Exception as exc:
                    error = classify(exc, report=False)
                    if error.error_class in (AUTH, RATE_LIMIT):
                        raise
                    if error.error_class == INTERNAL and not bug_logged:
                        # A bug in transform() fails every record alike: one traceback per sync is enough.
                        log.error("Sync job %s: transform() failed on a record", run.job.pk, exc_info=exc)
                        bug_logged = True
                    item_errors.append(_item_error(error, raw))
                    continue
                unmapped.update(record.unmapped)
                records.append(record)
            if batch.notices:
                run.add_notices(batch.notices)
            run.checkpoint(records, batch, item_errors)
            run.keep_unmapped(unmapped)
    finally:
        connector.close()
        ctx.http.close()


def _item_error(error: ConnectorError, raw=None) -> dict:
    external_id = getattr(error, "external_id", "") or _guess_id(raw)
    return {"external_id": external_id[:300], "error": str(error)[:500]}


def _guess_id(raw, depth: int = 0) -> str:
    """The raw item's own id, for the error that names it: at its top level, or one level down
    (many connectors pass {"calendar": ..., "event": {"id": ...}})."""
    for attr in ("external_id", "id", "uid"):
        value = raw.get(attr) if isinstance(raw, dict) else getattr(raw, attr, None)
        if value and isinstance(value, str | int):
            return str(value)
    if depth == 0 and isinstance(raw, dict):
        for value in raw.values():
            if isinstance(value, dict) and (found := _guess_id(value, depth=1)):
                return found
    return ""
