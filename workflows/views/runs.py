"""The execution log (with what is still waiting to be delivered), one execution's details (polled
while it runs), retrying failed deliveries, and the card list."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from connectors.errors import classify
from workflows import delivery, runner
from workflows.models import CardDelivery
from workflows.templating import markdown_to_html
from workflows.views.common import owned_workflow, render_page
from workflows.views.pages import queue_run

SHOWN_UNDELIVERED = 50


@require_safe
@login_required
def executions(request, pk):
    workflow = owned_workflow(request, pk)
    page = Paginator(workflow.executions.all(), 25).get_page(request.GET.get("page"))
    polling = any(e.is_active and not e.is_stale for e in page.object_list)
    context = {"workflow": workflow, "page": page, "polling": polling, **undelivered_context(workflow)}
    return render_page(request, "workflows/executions.html", "workflows/_executions_table.html", context)


def undelivered_context(workflow) -> dict:
    return {
        "undelivered": list(delivery.outstanding(workflow)[:SHOWN_UNDELIVERED]),
        "undelivered_counts": delivery.outstanding_counts(workflow),
    }


@require_safe
@login_required
def execution(request, pk, eid):
    workflow = owned_workflow(request, pk)
    run = get_object_or_404(workflow.executions, pk=eid)
    cards = list(run.cards.order_by("pk"))
    for card in cards:
        card.html = markdown_to_html(card.content)
    deliveries = CardDelivery.objects.filter(card__execution=run).select_related("card", "output__integration__type")
    context = {
        "workflow": workflow,
        "run": run,
        "cards": cards,
        "deliveries": list(deliveries.order_by("card_id", "output_id")),
        "polling": run.is_active and not run.is_stale,
    }
    return render_page(request, "workflows/execution.html", "workflows/_execution_body.html", context)


@require_POST
@login_required
def retry_deliveries(request, pk):
    """Failed deliveries become pending again, and a run is queued to send them (with the pending ones)."""
    workflow = owned_workflow(request, pk)
    count = delivery.retry_failed(workflow)
    if count:
        messages.info(request, f"{count} failed deliver{'y' if count == 1 else 'ies'} will be tried again.")
    return queue_run(request, workflow, back=reverse("workflows:executions", args=[workflow.pk]))


@require_safe
@login_required
def cards(request, pk):
    workflow = owned_workflow(request, pk)
    page = Paginator(workflow.cards.select_related("execution"), 20).get_page(request.GET.get("page"))
    for card in page.object_list:
        card.html = markdown_to_html(card.content)
    return render(request, "workflows/cards.html", {"workflow": workflow, "page": page})


@require_POST
@login_required
def card_refresh(request, pk, cid):
    workflow = owned_workflow(request, pk)
    card = get_object_or_404(workflow.cards.select_related("source__integration__type"), pk=cid)
    error = None
    try:
        runner.refresh_card(card)
    except Exception as exc:  # noqa: BLE001 - shown to the user, classified like any connector error
        problem = classify(exc)
        error = f"{problem.message} {problem.remediation}".strip()
    if request.htmx:
        card.html = markdown_to_html(card.content)
        return render(request, "workflows/_card.html", {"workflow": workflow, "card": card, "error": error})
    if error:
        messages.error(request, f"Could not refresh “{card.title}”: {error}")
    else:
        messages.success(request, f"Refreshed “{card.title}”.")
    return redirect("workflows:cards", pk=workflow.pk)
