"""Delivering cards through an output, with the delivery ledger (models.CardDelivery).

When a run stores its cards it also writes, in the same transaction, one pending ledger row per
card and output whose card filter picks it. Each output then delivers every pending row it has,
this run's and those an earlier run could not deliver, so a failed send is never lost:
- a success marks the rows sent (with the receiver's id when it gives one per message);
- a failure part-way marks what the connector says it delivered first (`error.delivery`) as sent,
  and the rest stays pending for the next run, under the same idempotency key (a digest is
  re-sent per run that made its cards, since its key names that run), so nothing is duplicated;
- a rate limit longer than the hub waits in one go (SYNC_MAX_WAIT) defers the rows until the time
  the receiver asked for (a one-off run is scheduled then);
- a card the receiver refuses (an item error), or one that failed MAX_ATTEMPTS times for a reason
  that needs the user (settings, a bug), is marked failed: the execution log offers to retry it.
Credentials being refused never give up: the workflow is paused until re-authenticated, and its
pending cards go out on the first run after.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from connectors.errors import AUTH, ITEM, RATE_LIMIT, TRANSIENT, ConfigError, ConnectorError, classify
from workflows import steps, templating
from workflows.models import Bundle, CardDelivery, DeliveryStatus

MAX_ATTEMPTS = 5
PATIENT_CLASSES = (AUTH, RATE_LIMIT, TRANSIENT)  # retried on every run without giving up
PENDING_FIX = "The {n} card(s) not delivered stay pending: the next run delivers them (or press Run now)."
GAVE_UP_FIX = (
    "Gave up on {n} card(s) after {max} attempts: fix the problem, then use “Retry failed deliveries” "
    "in the execution log."
)
REFUSED_FIX = "That card is marked failed; fix it, then use “Retry failed deliveries” in the execution log."
# What the sync engine says about these classes ("the next sync ...") is not true of a workflow.
WORKFLOW_FIXES = {
    TRANSIENT: "The service had a temporary problem.",
    RATE_LIMIT: "The service asked us to slow down.",
    ITEM: "The service refused this card.",
}


@dataclass
class Outcome:
    """What one output did in one run, for the execution log."""

    status: str  # ok | failed | waiting | skipped
    detail: str
    sent: int = 0  # messages the connector reported delivered (also before a failure)
    error: ConnectorError | None = None
    remediation: str = ""
    retry_at: datetime.datetime | None = None  # the receiver asked us to come back then


class _BatchFailed(Exception):
    def __init__(self, error: ConnectorError, sent: int, remediation: str, retry_at=None):
        super().__init__(error.message)
        self.error, self.sent, self.remediation, self.retry_at = error, sent, remediation, retry_at


def record_pending(outputs, cards) -> int:
    """The ledger rows for freshly made cards: call it in the transaction that stores them."""
    select = steps.OUTPUT_STEP.select
    rows = [CardDelivery(output=output, card=card) for output in outputs for card in select(output, cards)]
    CardDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def retry_failed(workflow) -> int:
    """Failed deliveries become pending again, with a fresh count of attempts; the next run sends them."""
    return CardDelivery.objects.filter(output__workflow=workflow, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, attempts=0, not_before=None, updated_at=timezone.now()
    )


def outstanding(workflow):
    """What has not been delivered yet: pending and failed rows, oldest card first."""
    return (
        CardDelivery.objects.filter(output__workflow=workflow)
        .exclude(status=DeliveryStatus.SENT)
        .select_related("card", "output__integration__type")
        .order_by("card_id", "output_id")
    )


def outstanding_counts(workflow) -> dict[str, int]:
    rows = outstanding(workflow).order_by().values("status").annotate(n=Count("pk"))
    counts = {DeliveryStatus.PENDING: 0, DeliveryStatus.FAILED: 0}
    counts.update({row["status"]: row["n"] for row in rows})
    return {"pending": counts[DeliveryStatus.PENDING], "failed": counts[DeliveryStatus.FAILED]}


def deliver_output(output, *, workflow, execution) -> Outcome:
    """Send this output's pending cards, oldest first; stop at the first failing send."""
    now = timezone.now()
    pending = list(
        output.deliveries.filter(status=DeliveryStatus.PENDING).select_related("card__execution").order_by("card_id")
    )
    if not pending:
        return Outcome("skipped", "No cards to deliver.")
    hold = max((row.not_before for row in pending if row.not_before and row.not_before > now), default=None)
    if hold is not None:  # the receiver asked us to wait: nothing goes to it before then, new cards neither
        detail = f"{len(pending)} card(s) wait until {_clock(hold)}, as the service asked; they go out then."
        return Outcome("waiting", detail, retry_at=hold)
    earlier = sum(1 for row in pending if row.card.execution_id != execution.pk)
    sent, details = 0, []
    for batch_execution, rows in _batches(output, pending, execution):
        try:
            delivery = _send(output, rows, workflow=workflow, execution=batch_execution)
        except _BatchFailed as failed:
            if failed.retry_at is not None:
                output.deliveries.filter(status=DeliveryStatus.PENDING).update(not_before=failed.retry_at)
            before = f"Delivered {sent} message(s), then: " if sent else ""  # earlier sends; the error tells its own
            sent += failed.sent
            return Outcome(
                "failed", before + failed.error.message, sent=sent, error=failed.error,
                remediation=failed.remediation, retry_at=failed.retry_at,
            )  # fmt: skip
        sent += delivery.delivered
        details.append(delivery.detail or f"Delivered {delivery.delivered} message(s).")
    detail = " ".join(dict.fromkeys(details))
    if earlier:
        detail += f" Included {earlier} card(s) an earlier run could not deliver."
    return Outcome("ok", detail, sent=sent)


def _batches(output, rows, current):
    """The sends that re-create the pending messages. One message per card: a single send. A digest:
    one send per run that made the cards, oldest first, so a retried digest has its first key."""
    if output.bundle != Bundle.DIGEST:
        return [(current, rows)]
    by_run: dict[int, list] = {}
    for row in rows:
        by_run.setdefault(row.card.execution_id or current.pk, []).append(row)
    return [(group[0].card.execution or current, group) for _, group in sorted(by_run.items())]


def _send(output, rows, *, workflow, execution):
    step = steps.OUTPUT_STEP
    cards = [row.card for row in rows]
    parts = [[row] for row in rows] if output.bundle == Bundle.EACH else [rows]  # rows per message, as composed
    try:
        outgoing = step.compose(output, cards, workflow=workflow, execution=execution, failures=_failures(cards))
    except templating.TemplateProblem as exc:
        problem = ConfigError(
            f"The template could not be rendered: {exc}",
            remediation="Fix the output's template; its preview shows the problem.",
        )
        raise _failed(parts, problem, sent=0) from None
    for part, message in zip(parts, outgoing, strict=True):
        for row in part:
            row.key = message.key[:200]
    try:
        delivery = step.deliver(output, outgoing, purpose=f"workflow {workflow.pk} output {output.pk}")
    except Exception as exc:  # recorded on the ledger and the execution; the other outputs go on
        error = classify(exc)
        partial = getattr(error, "delivery", None) or getattr(exc, "delivery", None)
        taken = min(partial.delivered, len(parts)) if partial else 0
        _mark_sent(parts[:taken], partial.external_ids if partial else [])
        raise _failed(parts[taken:], error, sent=partial.delivered if partial else 0) from exc
    _mark_sent(parts, delivery.external_ids)
    return delivery


def _mark_sent(parts, external_ids):
    ids = list(external_ids) if len(external_ids) == len(parts) else []  # only when it is one id per message
    now, rows = timezone.now(), []
    for index, part in enumerate(parts):
        for row in part:
            row.status, row.sent_at, row.attempts = DeliveryStatus.SENT, now, row.attempts + 1
            row.external_id = str(ids[index])[:300] if ids else ""
            row.error_class, row.last_error, row.not_before = "", "", None
            rows.append(row)
    _save(rows)


def _failed(parts, error: ConnectorError, *, sent: int) -> _BatchFailed:
    """Record the failure on the rows not delivered; the error to report, with what happens next."""
    now, rows = timezone.now(), [row for part in parts for row in part]
    retry_at = None
    if error.error_class == RATE_LIMIT:
        wait = getattr(error, "retry_after", None)
        retry_at = now + datetime.timedelta(seconds=max(1.0, float(wait))) if wait else None
    refused = {row.pk for row in parts[0]} if error.error_class == ITEM and parts else set()
    gave_up = []
    for row in rows:
        row.attempts += 1
        row.error_class, row.last_error, row.not_before = error.error_class, error.message[:1000], retry_at
        if row.pk in refused or (error.error_class not in PATIENT_CLASSES and row.attempts >= MAX_ATTEMPTS):
            row.status = DeliveryStatus.FAILED
            gave_up.append(row)
    _save(rows)
    still = len(rows) - len(gave_up)
    fixes = [_base_fix(error)]
    if retry_at is not None and still:
        fixes.append(f"The {still} card(s) not delivered stay pending and go out after {_clock(retry_at)}.")
    elif still:
        fixes.append(PENDING_FIX.format(n=still))
    if refused:
        fixes.append(REFUSED_FIX)
    elif gave_up:
        fixes.append(GAVE_UP_FIX.format(n=len(gave_up), max=MAX_ATTEMPTS))
    return _BatchFailed(error, sent, " ".join(fix for fix in fixes if fix), retry_at)


def _base_fix(error: ConnectorError) -> str:
    remediation = (error.remediation or "").strip()
    if error.error_class in WORKFLOW_FIXES and remediation == type(error).default_remediation:
        return WORKFLOW_FIXES[error.error_class]
    return remediation


def _save(rows):
    fields = ["status", "attempts", "key", "external_id", "error_class", "last_error", "not_before", "sent_at"]
    for row in rows:
        row.updated_at = timezone.now()
    CardDelivery.objects.bulk_update(rows, [*fields, "updated_at"], batch_size=500)


def _failures(cards) -> list[dict]:
    """The source failures the cards carry, once each (what the template's `failures` lists)."""
    seen = {}
    for card in cards:
        for failure in (card.data or {}).get("failures", []) if isinstance(card.data, dict) else []:
            if isinstance(failure, dict):
                seen.setdefault(failure.get("text", ""), failure)
    return list(seen.values())


def _clock(when) -> str:
    local = timezone.localtime(when)
    return f"{local:%H:%M:%S}" if local.date() == timezone.localdate() else f"{local:%a %d %b %H:%M}"
