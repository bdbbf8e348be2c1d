"""django-q2 task entry points: thin wrappers around workflows.runner, which tests call directly.
Results carry ids and statuses only, never configuration or content."""

from __future__ import annotations

from workflows.models import Workflow
from workflows.runner import run_execution as run
from workflows.runner import run_workflow
from workflows.schedules import ensure_schedule, rearm, remove_schedule


def run_execution(execution_id: int) -> dict:
    """ "Run now": the view created the queued Execution; a worker runs it here."""
    execution = run(execution_id)
    if execution is None:
        return {"execution": execution_id, "ran": False}
    _tell_automations(execution)
    return {"execution": execution.pk, "ran": True, "status": execution.status}


def _tell_automations(execution):
    """New cards: sent to the owner's Zaps and named to IFTTT (timeline.tasks.tell_automations)."""
    if execution.cards_made:
        from timeline.tasks import tell_automations

        tell_automations(execution.workflow.owner_id, "new_card")


def run_scheduled(workflow_id: int, trigger: str = "schedule") -> dict:
    """Run by each workflow's CRON Schedule, and by its one-off retry (trigger "retry"). A paused or
    deleted workflow is skipped (and its schedule dropped), so a workflow paused behind the
    scheduler's back never runs."""
    workflow = Workflow.objects.filter(pk=workflow_id).first()
    if workflow is None:
        remove_schedule(workflow_id)
        return {"workflow": workflow_id, "skipped": "deleted"}
    if not workflow.is_active:
        ensure_schedule(workflow)
        return {"workflow": workflow_id, "skipped": "paused"}
    if trigger == "schedule":
        rearm(workflow)  # the next run in the owner's zone, not the one django-q2 computed
    execution = run_workflow(workflow, trigger=trigger)
    if execution is None:
        return {"workflow": workflow_id, "skipped": "already running"}
    _tell_automations(execution)
    return {"workflow": workflow_id, "execution": execution.pk, "status": execution.status}


def queue_execution(execution) -> str:
    from django_q.tasks import async_task

    return async_task(
        "workflows.tasks.run_execution", execution.pk, task_name=f"workflow-run-{execution.pk}", group="workflows"
    )
