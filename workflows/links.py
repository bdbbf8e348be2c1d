"""How workflows depend on integrations: the delete/disconnect warning and what proceeding does."""

from django.db import transaction
from django.db.models import Q

from workflows.models import Workflow


def workflows_using(integration):
    return (
        Workflow.objects.filter(Q(sources__integration=integration) | Q(outputs__integration=integration))
        .distinct()
        .order_by("name")
    )


@transaction.atomic
def pause_workflows_using(integration, reason: str) -> int:
    """Pause and flag every workflow that uses the integration: never leave them silently broken.
    Their schedules are dropped too, so nothing fires until the user resumes them."""
    from workflows.schedules import remove_schedule

    ids = list(workflows_using(integration).values_list("pk", flat=True))
    count = Workflow.objects.filter(pk__in=ids).update(
        is_active=False, needs_attention=True, attention_reason=reason[:500]
    )
    for pk in ids:
        remove_schedule(pk)
    return count


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
