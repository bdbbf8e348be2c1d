"""How workflows depend on integrations: what the delete/disconnect warning lists (through the
integrations.dependents hook, registered in WorkflowsConfig.ready) and what happens to them when an
integration goes away or comes back (receivers of the lifecycle signals, in workflows.signals)."""

from django.db import transaction
from django.db.models import Q

from integrations.dependents import Dependent
from workflows.models import Workflow
from workflows.schedules import remove_schedule


def workflows_using(integration):
    return (
        Workflow.objects.filter(Q(sources__integration=integration) | Q(outputs__integration=integration))
        .distinct()
        .order_by("name")
    )


def as_dependent(workflow: Workflow) -> Dependent:
    return Dependent(
        pk=workflow.pk,
        name=workflow.name,
        url=workflow.get_absolute_url(),
        description=workflow.description,
        is_active=workflow.is_active,
        needs_attention=workflow.needs_attention,
        attention_reason=workflow.attention_reason,
    )


class WorkflowDependents:
    """The integrations.dependents provider for workflows."""

    def using(self, integration) -> list[Dependent]:
        return [as_dependent(workflow) for workflow in workflows_using(integration)]

    def needing_attention(self, user) -> list[Dependent]:
        flagged = Workflow.objects.filter(owner=user, needs_attention=True).order_by("name")
        return [as_dependent(workflow) for workflow in flagged]


def pause_workflows_using(integration, reason: str) -> int:
    return len(pause_dependents(integration, reason))


@transaction.atomic
def pause_dependents(integration, reason: str) -> list[Dependent]:
    """Pause and flag every workflow that uses the integration: never leave them silently broken.
    Their schedules are dropped too, so nothing fires until the user resumes them."""
    ids = list(workflows_using(integration).values_list("pk", flat=True))
    Workflow.objects.filter(pk__in=ids).update(is_active=False, needs_attention=True, attention_reason=reason[:500])
    for pk in ids:
        remove_schedule(pk)
    return [as_dependent(workflow) for workflow in Workflow.objects.filter(pk__in=ids).order_by("name")]


def offer_resume(integration) -> int:
    """The integration works again (reconnected, re-authenticated, resumed): the workflows paused
    because of it stop saying it is disconnected and say they can be resumed. They stay paused
    (the person decides; the integration page and notifications offer Resume). Returns how many."""
    from workflows.runner import attention_problems

    reason = f"{integration.name} works again. Resume this workflow to run it again."
    updated = 0
    flagged = workflows_using(integration).filter(needs_attention=True, is_active=False)
    for workflow in flagged.exclude(attention_reason=reason):
        if integration.name not in workflow.attention_reason or attention_problems(workflow):
            continue  # paused for another reason, or another of its integrations is still broken
        updated += Workflow.objects.filter(pk=workflow.pk).update(attention_reason=reason)
    return updated
