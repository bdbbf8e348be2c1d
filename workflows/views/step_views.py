"""Adding, editing and removing source and output steps, and the template editor's live preview.
Config fields come from the step kind's schema (workflows.steps); nothing here knows a kind."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from workflows import runner, steps, templating
from workflows.forms import OutputStepForm, SourceStepForm, StepConfigForm, split_tags
from workflows.models import Card, WorkflowOutput, WorkflowSource
from workflows.views.common import eligible_integrations, owned_workflow, render_page


def _chosen_integration(request, role: str, current=None):
    """The integration picked in the form (the user's own and eligible), else the step's current one."""
    raw = request.POST.get("integration") or request.GET.get("integration")
    if not raw:
        return current
    try:
        pk = int(raw)
    except ValueError:
        raise Http404 from None
    if current is not None and pk == current.pk:
        return current
    for integration in eligible_integrations(request.user, role):
        if integration.pk == pk:
            return integration
    raise Http404("No such integration of yours can be used here.")


def _next_position(queryset) -> int:
    return (queryset.aggregate(top=Max("position"))["top"] or 0) + 1


# -- sources ------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@login_required
def source_form(request, pk, sid=None):
    workflow = owned_workflow(request, pk)
    source = get_object_or_404(workflow.sources.select_related("integration__type"), pk=sid) if sid else None
    integration = _chosen_integration(request, "source", source.integration if source else None)
    context = {
        "workflow": workflow,
        "source": source,
        "integration": integration,
        "choices": eligible_integrations(request.user, "source"),
    }
    if integration is None:  # step 1: pick the integration
        return render_page(request, "workflows/source_form.html", "workflows/_source_fields.html", context)
    step = steps.source_step(source) if source and integration == source.integration else None
    step = step or steps.source_step_for(integration)
    initial = source.config if source and source.integration == integration else step.initial(integration)
    data = request.POST if request.method == "POST" else None
    config_form = StepConfigForm(step.schema(integration), initial_config=initial, data=data)
    meta_form = SourceStepForm(data, initial=_source_initial(source))
    context.update(step=step, config_form=config_form, meta_form=meta_form)
    if request.method == "POST" and config_form.is_valid() and meta_form.is_valid():
        if source is None:
            source = WorkflowSource(workflow=workflow, position=_next_position(workflow.sources))
        if source.integration_id != integration.pk:
            source.state = {}  # a different integration: "new since last run" starts over
        source.integration, source.kind, source.config = integration, step.kind, config_form.values
        source.title = meta_form.cleaned_data["title"]
        source.tags = meta_form.cleaned_data["tags"]
        source.one_card_per_item = meta_form.cleaned_data["one_card_per_item"]
        source.save()
        messages.success(request, f"Saved the source {integration.name}.")
        return redirect(workflow)
    status = 400 if request.method == "POST" else 200
    return render_page(request, "workflows/source_form.html", "workflows/_source_fields.html", context, status=status)


def _source_initial(source) -> dict | None:
    if source is None:
        return None
    return {"title": source.title, "tags": ", ".join(source.tags), "one_card_per_item": source.one_card_per_item}


@require_POST
@login_required
def source_remove(request, pk, sid):
    workflow = owned_workflow(request, pk)
    source = get_object_or_404(workflow.sources, pk=sid)
    label = str(source.integration or "the deleted integration")
    source.delete()
    messages.success(request, f"Removed the source {label}. Its cards are kept.")
    return redirect(workflow)


# -- outputs ------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@login_required
def output_form(request, pk, oid=None):
    workflow = owned_workflow(request, pk)
    output = get_object_or_404(workflow.outputs.select_related("integration__type"), pk=oid) if oid else None
    integration = _chosen_integration(request, "output", output.integration if output else None)
    sources = list(workflow.sources.select_related("integration__type"))
    context = {
        "workflow": workflow,
        "output": output,
        "integration": integration,
        "choices": eligible_integrations(request.user, "output"),
    }
    if integration is None:
        return render_page(request, "workflows/output_form.html", "workflows/_output_fields.html", context)
    step = steps.output_step_for(integration)
    initial = output.config if output and output.integration == integration else step.initial(integration)
    data = request.POST if request.method == "POST" else None
    config_form = StepConfigForm(step.schema(integration), initial_config=initial, data=data)
    meta_form = OutputStepForm(data, initial=_output_initial(output), sources=sources)
    preview = _preview(workflow, _unsaved_output(workflow, output, data)) if request.method == "GET" else None
    context.update(step=step, config_form=config_form, meta_form=meta_form, preview=preview)
    if request.method == "POST" and config_form.is_valid() and meta_form.is_valid():
        if output is None:
            output = WorkflowOutput(workflow=workflow, position=_next_position(workflow.outputs))
        output.integration, output.config = integration, config_form.values
        output.card_filter = meta_form.card_filter()
        for name in ("bundle", "template_format", "title", "template"):
            setattr(output, name, meta_form.cleaned_data[name])
        problem = _template_problem(workflow, output)
        if problem:
            meta_form.add_error("template", problem)
        else:
            output.save()
            messages.success(request, f"Saved the output {integration.name}.")
            return redirect(workflow)
    if request.method == "POST":
        context["preview"] = _preview(workflow, _unsaved_output(workflow, output, data))
    status = 400 if request.method == "POST" else 200
    return render_page(request, "workflows/output_form.html", "workflows/_output_fields.html", context, status=status)


def _output_initial(output) -> dict | None:
    if output is None:
        return None
    card_filter = output.card_filter or {}
    return {
        "bundle": output.bundle,
        "template_format": output.template_format,
        "title": output.title,
        "template": output.template,
        "filter_tags": ", ".join(card_filter.get("tags", [])),
        "filter_sources": [str(pk) for pk in card_filter.get("sources", [])],
    }


def _unsaved_output(workflow, output, data) -> WorkflowOutput:
    """A WorkflowOutput built from the submitted fields (never saved), for the preview."""
    draft = WorkflowOutput(workflow=workflow, pk=output.pk if output else None)
    source = data if data is not None else (_output_initial(output) or {})
    bundle = source.get("bundle") or "digest"
    template_format = source.get("template_format") or "markdown"
    draft.bundle = bundle if bundle in ("digest", "each") else "digest"
    draft.template_format = template_format if template_format in ("markdown", "html") else "markdown"
    draft.title = str(source.get("title") or "")[:300]
    draft.template = str(source.get("template") or "")
    draft.card_filter = _draft_card_filter(workflow, source)
    return draft


def _draft_card_filter(workflow, fields) -> dict:
    """The card filter as typed (tags, ticked sources), read like OutputStepForm.card_filter()."""
    tags = split_tags(str(fields.get("filter_tags") or ""))
    ticked = fields.getlist("filter_sources") if hasattr(fields, "getlist") else fields.get("filter_sources") or []
    own = set(workflow.sources.values_list("pk", flat=True))
    sources = [int(pk) for pk in ticked if str(pk).isdigit() and int(pk) in own]
    return {**({"tags": tags} if tags else {}), **({"sources": sources} if sources else {})}


def _template_problem(workflow, output) -> str | None:
    """Render against the last cards (or one sample card) before saving: a broken template is
    refused here, not discovered at 7 a.m. by the scheduled run."""
    cards = runner.preview_cards(workflow) or [_sample_card(workflow)]
    try:
        with templating.shared_budget():  # a web request: every card's message within one budget
            steps.OUTPUT_STEP.compose(output, cards, workflow=workflow)
    except templating.TemplateProblem as exc:
        return str(exc)
    return None


def _sample_card(workflow):
    return Card(workflow=workflow, pk=0, title="Sample card", content="- [An item](https://example.com) — a summary\n")


def _preview(workflow, output) -> dict:
    """What this output would send of the last run's cards: only those its card filter picks."""
    cards = runner.preview_cards(workflow)
    sample = not cards
    if cards:
        cards = steps.OUTPUT_STEP.select(output, cards)
        if not cards:
            return {"nothing": True, "sample": False}
    cards = cards or [_sample_card(workflow)]
    try:
        with templating.shared_budget():  # a web request, at every keystroke: one budget for all the cards
            outgoing = steps.OUTPUT_STEP.compose(output, cards, workflow=workflow)
    except templating.TemplateProblem as exc:
        return {"error": str(exc), "sample": sample}
    except Exception:  # noqa: BLE001 - the preview never turns into a 500
        return {"error": "The preview failed unexpectedly; check the template.", "sample": sample}
    return {"messages": outgoing[:5], "total": len(outgoing), "sample": sample}


@require_POST
@login_required
def preview(request, pk, oid=None):
    """HTMX: render the template being edited against the last cards, errors inline."""
    workflow = owned_workflow(request, pk)
    output = get_object_or_404(workflow.outputs, pk=oid) if oid else None
    draft = _unsaved_output(workflow, output, request.POST)
    return render(request, "workflows/_preview.html", {"preview": _preview(workflow, draft)})


@require_POST
@login_required
def output_remove(request, pk, oid):
    workflow = owned_workflow(request, pk)
    output = get_object_or_404(workflow.outputs, pk=oid)
    label = str(output.integration or "the deleted integration")
    output.delete()
    messages.success(request, f"Removed the output {label}.")
    return redirect(workflow)
