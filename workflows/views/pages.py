"""Workflow list, create/edit, detail (the editor's home), delete, run now and resume."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from integrations.views.common import next_url
from workflows import delivery, runner, schedules, steps
from workflows.forms import WorkflowForm
from workflows.models import Execution, Workflow
from workflows.tasks import queue_execution
from workflows.views.common import owned_workflow


@require_safe
@login_required
def workflow_list(request):
    workflows = list(Workflow.objects.filter(owner=request.user).prefetch_related("sources", "outputs"))
    next_runs = schedules.next_run_map(workflows)
    last = {}
    for execution in Execution.objects.filter(workflow__in=workflows).order_by("workflow_id", "-started_at", "-pk"):
        last.setdefault(execution.workflow_id, execution)
    for workflow in workflows:
        workflow.next_run = next_runs.get(workflow.pk)
        workflow.last_execution = last.get(workflow.pk)
    return render(request, "workflows/list.html", {"workflows": workflows})


@require_http_methods(["GET", "POST"])
@login_required
def edit(request, pk=None):
    """Create (no pk) or edit a workflow's name, description, schedule and active switch."""
    workflow = owned_workflow(request, pk) if pk else Workflow(owner=request.user)
    form = WorkflowForm(request.POST or None, instance=workflow, owner=request.user)
    if request.method == "POST" and form.is_valid():
        creating = workflow.pk is None
        turning_on = form.cleaned_data["is_active"] and workflow.needs_attention
        if turning_on and (problems := runner.attention_problems(workflow)):
            form.add_error("is_active", "It cannot run yet: " + " ".join(problems))
        else:
            try:
                with transaction.atomic():
                    workflow = form.save(commit=False)
                    if turning_on:
                        workflow.needs_attention, workflow.attention_reason = False, ""
                    workflow.save()
            except IntegrityError:
                # The name check passed, then a second press of Save (or another tab) took the name
                # first: the unique constraint is the last word, answered like the form's own check.
                if creating:
                    workflow.pk = None
                form.add_error("name", "You already have a workflow with that name.")
                context = {"form": form, "workflow": workflow, "presets": schedules.PRESETS}
                return render(request, "workflows/edit.html", context)
            if creating:
                messages.success(request, f"Created {workflow.name}. Now add its sources and outputs.")
            else:
                messages.success(request, f"Saved {workflow.name}.")
            return redirect(workflow)
    context = {"form": form, "workflow": workflow, "presets": schedules.PRESETS}
    return render(request, "workflows/edit.html", context)


@require_safe
@login_required
def detail(request, pk):
    workflow = owned_workflow(request, pk)
    sources = list(workflow.sources.select_related("integration__type"))
    outputs = list(workflow.outputs.select_related("integration__type"))
    for source in sources:
        step = steps.source_step(source)
        source.kind_label = step.label
        source.summary = step.describe(source) if source.integration else ""
        source.problem = runner.integration_problem(source.integration, "source")
    for output in outputs:
        output.summary = steps.OUTPUT_STEP.describe(output)
        output.problem = runner.integration_problem(output.integration, "output")
    context = {
        "workflow": workflow,
        "sources": sources,
        "outputs": outputs,
        **stats_context(workflow),
        **runs_context(workflow),
        **cards_context(workflow),
    }
    return render(request, "workflows/detail.html", context)


def stats_context(workflow) -> dict:
    return {
        "next_run": schedules.next_run(workflow),
        "schedule_label": dict(schedules.PRESETS).get(workflow.schedule, ""),
    }


@require_safe
@login_required
def stats_partial(request, pk):
    """The detail page's summary (next run, last run, card count), reloaded when a run ends."""
    workflow = owned_workflow(request, pk)
    context = {"workflow": workflow, **stats_context(workflow), **cards_context(workflow)}
    return render(request, "workflows/_stats.html", context)


def cards_context(workflow) -> dict:
    return {"recent_cards": list(workflow.cards.all()[:3]), "card_count": workflow.cards.count()}


def runs_context(workflow, limit: int = 5) -> dict:
    runs = list(workflow.executions.all()[:limit])
    polling = any(run.is_active and not run.is_stale for run in runs)
    return {"runs": runs, "polling": polling, "undelivered": delivery.outstanding_counts(workflow)}


@require_safe
@login_required
def runs_partial(request, pk):
    """The detail page's "Recent runs" box; polled while a run is queued or running."""
    workflow = owned_workflow(request, pk)
    context = {"workflow": workflow, **runs_context(workflow)}
    response = render(request, "workflows/_runs.html", context)
    if request.GET.get("was_polling") and not context["polling"]:
        response["HX-Trigger"] = "workflow-ran"  # the cards box reloads itself
    return response


@require_safe
@login_required
def recent_cards_partial(request, pk):
    workflow = owned_workflow(request, pk)
    context = {
        "workflow": workflow,
        "recent_cards": list(workflow.cards.all()[:4]),
        "card_count": workflow.cards.count(),
    }
    return render(request, "workflows/_recent_cards.html", context)


@require_POST
@login_required
def run_now(request, pk):
    return queue_run(request, owned_workflow(request, pk))


def queue_run(request, workflow, back: str | None = None):
    """Queue a run (it also sends every pending delivery) and say so; the runs box for HTMX."""
    problems = runner.attention_problems(workflow)
    if problems:
        runner.flag(workflow, " ".join(problems))
        messages.error(request, "It cannot run: " + " ".join(problems))
    else:
        execution, created = runner.start_execution(workflow, "manual")
        if created:
            transaction.on_commit(lambda: queue_execution(execution))
            messages.success(request, f"Run #{execution.pk} queued: it starts as soon as a worker is free.")
        else:
            messages.info(request, f"Run #{execution.pk} is already {execution.get_status_display().lower()}.")
    if request.htmx:
        context = {"workflow": workflow, **runs_context(workflow), "flash": True}
        return render(request, "workflows/_runs.html", context)
    return redirect(back or workflow.get_absolute_url())


@require_POST
@login_required
def resume(request, pk):
    workflow = owned_workflow(request, pk)
    problems = runner.resume(workflow)
    if problems:
        messages.error(request, "It cannot resume yet: " + " ".join(problems))
    else:
        messages.success(request, f"Resumed {workflow.name}.")
    return redirect(next_url(request, workflow.get_absolute_url()))  # e.g. back to the integration


@require_POST
@login_required
def pause(request, pk):
    workflow = owned_workflow(request, pk)
    workflow.is_active = False
    workflow.save(update_fields=["is_active", "updated_at"])
    messages.success(request, f"Paused {workflow.name}: it will not run on schedule until you resume it.")
    return redirect(workflow)


@require_http_methods(["GET", "POST"])
@login_required
def delete(request, pk):
    workflow = owned_workflow(request, pk)
    if request.method == "POST":
        name = workflow.name
        workflow.delete()
        messages.success(request, f"Deleted {name}, its cards and its run history.")
        return redirect(reverse("workflows:list"))
    return render(request, "workflows/confirm_delete.html", {"workflow": workflow})


@require_safe
@login_required
def cron_preview(request):
    expression = " ".join(request.GET.get("schedule", "").split())
    problem = schedules.cron_problem(expression)
    runs = [] if problem else schedules.next_runs(expression, 3)
    return render(request, "workflows/_cron_preview.html", {"problem": problem, "runs": runs, "expression": expression})
