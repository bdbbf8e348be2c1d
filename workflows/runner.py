"""Running a workflow: sources make cards, outputs deliver them. Plain functions: the django-q2
tasks (workflows.tasks) and the tests call these directly.

One run = one Execution. Before anything is fetched, every step's integration is checked: one
that was deleted, needs re-auth, is paused or disconnected pauses the workflow and flags it with
a reason naming the integration and what to do (it is not tried, and the schedule stops firing,
instead of failing silently every run). Then:
- each source step runs in turn; a failing one is recorded (its ConnectorError message and
  remediation) and the others go on; cards made in a run where a source failed are partial and
  carry the failure summary;
- the cards are stored together with the sources' new memory ("seen until") and, per output whose
  card filter picks them, a pending row of the delivery ledger (workflows.delivery), in one
  transaction: what a source has seen is never lost, even when an output then fails;
- each output sends its pending cards, this run's and those earlier runs could not deliver,
  rendered in the sandbox, through its connector; the connector's HttpClient applies the
  blueprint's rate limits and waits out 429s; a failing output is recorded, its undelivered
  cards stay pending for the next run, and the other outputs go on.
Status: success (nothing failed), partial (something failed, something got through), failure.
"""

from __future__ import annotations

import logging
import time

from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.errors import AUTH, CONFIG, ConfigError, classify
from integrations import lifecycle
from integrations.models import Integration, Status
from integrations.timezones import zone_for
from workflows import delivery, schedules, steps
from workflows.models import ACTIVE_EXECUTION_STATUSES, Card, Execution, ExecutionStatus, Workflow, WorkflowSource
from workflows.steps.base import Run

log = logging.getLogger(__name__)


# -- integration health ------------------------------------------------------------------------------
def integration_problem(integration, role: str) -> str | None:
    """Why a step's integration cannot be used, with what to do; None when it is fine."""
    if integration is None:
        return (
            f"The integration of one of its {role} steps was deleted: "
            f"remove that step or choose another integration, then resume the workflow."
        )
    name = f"“{integration.name}” ({integration.type.display_name})"
    if integration.status == Status.NEEDS_REAUTH:
        return f"{name} needs you to sign in again: re-authenticate it, then resume this workflow."
    if integration.status == Status.PAUSED:
        return f"{name} is paused: resume it, then resume this workflow."
    if integration.status == Status.DISCONNECTED:
        return f"{name} was disconnected: reconnect it or replace the step, then resume this workflow."
    if not (integration.type.is_available and integration.type.handler):
        return f"{name} is not available any more: replace the step, then resume this workflow."
    return None


def attention_problems(workflow: Workflow) -> list[str]:
    problems = []
    for role, qs in (("source", workflow.sources), ("output", workflow.outputs)):
        for step in qs.select_related("integration__type"):
            problem = integration_problem(step.integration, role)
            if problem and problem not in problems:
                problems.append(problem)
    return problems


def flag(workflow: Workflow, reason: str):
    """Pause and flag: the schedule stops (signals), the list and detail pages say why."""
    workflow.is_active, workflow.needs_attention, workflow.attention_reason = False, True, reason[:500]
    workflow.save(update_fields=["is_active", "needs_attention", "attention_reason", "updated_at"])


def resume(workflow: Workflow) -> list[str]:
    """Turn a paused workflow back on, unless an integration is still unusable (returned)."""
    problems = attention_problems(workflow)
    if problems:
        return problems
    workflow.is_active, workflow.needs_attention, workflow.attention_reason = True, False, ""
    workflow.save(update_fields=["is_active", "needs_attention", "attention_reason", "updated_at"])
    return []


# -- executions -----------------------------------------------------------------------------------------
def expire_stale(workflow: Workflow) -> int:
    stale = [e.pk for e in workflow.executions.filter(status__in=ACTIVE_EXECUTION_STATUSES) if e.is_stale]
    return Execution.objects.filter(pk__in=stale).update(
        status=ExecutionStatus.FAILURE,
        finished_at=timezone.now(),
        errors=[_note("The worker running this stopped before it finished.", "Run the workflow again.")],
    )


def start_execution(workflow: Workflow, trigger: str = "manual") -> tuple[Execution, bool]:
    """(the queued execution, True), or (the one already queued or running, False)."""
    expire_stale(workflow)
    try:
        with transaction.atomic():
            return Execution.objects.create(workflow=workflow, trigger=trigger, status=ExecutionStatus.QUEUED), True
    except IntegrityError:
        current = workflow.executions.filter(status__in=ACTIVE_EXECUTION_STATUSES).first()
        if current is None:  # it finished between the insert and this read
            return start_execution(workflow, trigger)
        return current, False


def run_workflow(workflow: Workflow, trigger: str = "manual") -> Execution | None:
    execution, created = start_execution(workflow, trigger)
    if not created:
        log.info("Workflow %s is already running (execution %s); not starting another", workflow.pk, execution.pk)
        return None
    return run_execution(execution.pk)


def run_execution(execution_id: int) -> Execution | None:
    """Claim a queued execution (queued -> running, exactly once) and run it."""
    won = Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED).update(
        status=ExecutionStatus.RUNNING
    )
    if not won:
        return None
    execution = Execution.objects.select_related("workflow__owner").get(pk=execution_id)
    # Cards and mails show times in the owner's zone, as their pages do; a worker has no request.
    with timezone.override(zone_for(execution.workflow.owner)):
        _Run(execution).run()
    return Execution.objects.filter(pk=execution_id).first()  # None: the workflow was deleted meanwhile


class _Run:
    def __init__(self, execution: Execution):
        self.execution = execution
        self.workflow = execution.workflow
        self.errors: list[dict] = []
        self.steps: list[dict] = []
        self.reauth: list[str] = []
        self.started = time.monotonic()
        self.run_info = Run(workflow=self.workflow, trigger=execution.trigger, now=timezone.now(), execution=execution)

    def run(self):
        try:
            status = self._run()
        except Exception as exc:
            if self._deleted():  # its cards could not be stored (their workflow is gone): nothing to report
                return
            log.exception("Workflow %s execution %s crashed", self.workflow.pk, self.execution.pk)
            self.errors.append(_error("run", None, "Run", classify(exc, report=False)))  # logged just above
            self._finish(ExecutionStatus.FAILURE)
            raise
        self._finish(status)

    def _run(self) -> str:
        problems = attention_problems(self.workflow)
        if problems:
            flag(self.workflow, " ".join(problems))
            self.errors.extend(
                _note(problem, "The workflow was paused; nothing was fetched or sent.") for problem in problems
            )
            return ExecutionStatus.FAILURE
        sources = list(self.workflow.sources.select_related("integration__type"))
        if not sources:
            self.errors.append(_note("This workflow has no sources.", "Add a source step, then run it again."))
            return ExecutionStatus.FAILURE
        outputs = list(self.workflow.outputs.select_related("integration__type"))
        failed_sources = self._collect(sources, outputs)
        tried, failed_outputs, delivered = self._deliver(outputs)
        if self.reauth:
            flag(self.workflow, " ".join(self.reauth))
        if not failed_sources and not failed_outputs:
            return ExecutionStatus.SUCCESS
        sources_ok = failed_sources < len(sources)
        outputs_ok = not tried or failed_outputs < tried
        if (sources_ok and outputs_ok) or delivered:
            return ExecutionStatus.PARTIAL
        return ExecutionStatus.FAILURE

    # -- sources ------------------------------------------------------------------------------------
    def _collect(self, sources: list[WorkflowSource], outputs) -> int:
        made, failures = [], []
        for source in sources:
            label = str(source.integration)
            step = steps.source_step(source)
            try:
                collected = step.collect(source, self.run_info)
            except Exception as exc:  # noqa: BLE001 - one failing source never stops the others
                error = classify(exc)
                self._failed("source", source, label, error)
                failures.append({"source": label, "message": error.message, "text": f"{label}: {error.message}"})
                continue
            made.append((source, collected))
            self.steps.append(_step("source", source.pk, label, "ok", collected.detail))
            _touch(source.integration)
        # The cards, what the sources have now seen, and what each output owes: all or nothing.
        with transaction.atomic():
            cards = []
            for source, collected in made:
                for draft in collected.drafts:
                    data = dict(draft.data)
                    if failures:
                        data["failures"] = failures
                    cards.append(
                        Card.objects.create(
                            workflow=self.workflow,
                            execution=self.execution,
                            source=source,
                            source_label=draft.source_label[:200],
                            title=draft.title[:300] or "(untitled)",
                            data=data,
                            content=draft.content,
                            request=draft.request,
                            tags=draft.tags,
                            is_partial=bool(failures),
                        )
                    )
                if collected.state is not None:
                    WorkflowSource.objects.filter(pk=source.pk).update(state=collected.state)
            delivery.record_pending(outputs, cards)
        return len(failures)

    # -- outputs ------------------------------------------------------------------------------------
    def _deliver(self, outputs) -> tuple[int, int, int]:
        """(outputs that had cards to send, those that failed, messages delivered)."""
        tried = failed = delivered = 0
        for output in outputs:
            label = str(output.integration)
            outcome = delivery.deliver_output(output, workflow=self.workflow, execution=self.execution)
            self.execution.cards_sent += outcome.sent
            delivered += outcome.sent
            if outcome.retry_at is not None:
                schedules.schedule_retry(self.workflow, outcome.retry_at)
            if outcome.status in ("skipped", "waiting"):
                self.steps.append(_step("output", output.pk, label, outcome.status, outcome.detail))
                continue
            tried += 1
            if outcome.error is not None:
                failed += 1
                self._failed("output", output, label, outcome.error, remediation=outcome.remediation,
                             detail=outcome.detail)  # fmt: skip
                continue
            self.steps.append(_step("output", output.pk, label, "ok", outcome.detail))
            _touch(output.integration)
        return tried, failed, delivered

    def _failed(self, role: str, step, label: str, error, *, remediation: str | None = None, detail: str = ""):
        log.warning("Workflow %s %s %s failed (%s): %s", self.workflow.pk, role, step.pk, error.error_class, error)
        self.errors.append(_error(role, step.pk, label, error, remediation=remediation))
        self.steps.append(_step(role, step.pk, label, "failed", detail or error.message))
        if error.error_class == AUTH and step.integration is not None:
            integration = Integration.objects.get(pk=step.integration.pk)
            if integration.status != Status.NEEDS_REAUTH:
                lifecycle.needs_reauth(integration, f"{error.message} {error.remediation}")
            problem = integration_problem(integration, role)
            if problem and problem not in self.reauth:
                self.reauth.append(problem)

    def _finish(self, status: str):
        execution = self.execution
        execution.status = status
        execution.finished_at = timezone.now()
        execution.duration_ms = int((time.monotonic() - self.started) * 1000)
        execution.cards_made = execution.cards.count()
        execution.errors = self.errors
        execution.steps = self.steps
        fields = ["status", "finished_at", "duration_ms", "cards_made", "cards_sent", "errors", "steps"]
        # An update, not save(): a workflow deleted during its run took this row with it.
        Execution.objects.filter(pk=execution.pk).update(**{name: getattr(execution, name) for name in fields})
        Workflow.objects.filter(pk=self.workflow.pk).update(last_run_at=execution.started_at)

    def _deleted(self) -> bool:
        if Workflow.objects.filter(pk=self.workflow.pk).exists():
            return False
        log.info("Workflow %s was deleted while execution %s ran; nothing more was stored or sent",
                 self.workflow.pk, self.execution.pk)  # fmt: skip
        return True


def _touch(integration):
    if integration is not None:
        Integration.objects.filter(pk=integration.pk).update(last_used_at=timezone.now())


def _error(step: str, step_id, label: str, error, *, remediation: str | None = None) -> dict:
    if remediation is None:
        remediation = getattr(error, "remediation", "") or ""
    return {
        "step": step,
        "step_id": step_id,
        "label": label,
        "error_class": getattr(error, "error_class", CONFIG),
        "message": getattr(error, "message", str(error))[:1000],
        "remediation": remediation.strip()[:500],
    }


def _note(message: str, remediation: str = "") -> dict:
    return {"step": "run", "step_id": None, "label": "Workflow", "error_class": CONFIG, "message": message,
            "remediation": remediation}  # fmt: skip


def _step(step: str, step_id, label: str, status: str, detail: str) -> dict:
    return {"step": step, "step_id": step_id, "label": label, "status": status, "detail": (detail or "")[:500]}


# -- refresh and preview ------------------------------------------------------------------------------
def refresh_card(card: Card) -> Card:
    """Re-run just the source that made this card, with the request stored on it."""
    source = card.source
    if source is None:
        raise ConfigError("The source step that made this card was removed.", remediation="Run the workflow again.")
    problem = integration_problem(source.integration, "source")
    if problem:
        raise ConfigError(problem, remediation="Fix the integration first.")
    drafts = steps.source_step(source).recollect(card, source)
    if not drafts:
        card.content = "_Nothing is there any more._\n"
        card.data = {**(card.data or {}), "entries": [], "count": 0, "more": 0}
    else:
        draft = drafts[0]
        card.content, card.data = draft.content, {**draft.data, "failures": []}
        card.is_partial = False
    card.refreshed_at = timezone.now()
    card.save(update_fields=["content", "data", "is_partial", "refreshed_at"])
    return card


def preview_cards(workflow: Workflow, limit: int = 10) -> list[Card]:
    """The cards of the last run that made any (what a template editor previews against)."""
    last = workflow.executions.filter(cards_made__gt=0).order_by("-started_at", "-pk").first()
    if last is not None:
        cards = list(last.cards.order_by("pk")[:limit])
        if cards:
            return cards
    return list(reversed(workflow.cards.order_by("-created_at", "-pk")[:limit]))
