"""Manage one integration: its page, pause and resume, disconnect and delete (with the warning
about the workflows that use it, found through integrations.dependents)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from connectors.masking import mask_url
from integrations import dependents, lifecycle, schema
from integrations.health import health_for
from integrations.models import Actor, AuthKind, JobStatus, Status
from integrations.secrets import secrets_for
from integrations.sync import jobs as sync_jobs
from integrations.sync.schedules import next_run
from integrations.uploads import imports
from integrations.views.common import back, latest_items, owned, page_state


def settings_summary(integration) -> list[tuple[str, str, str]]:
    """(label, shown value, note) for each blueprint field: secrets as dots or scheme://host/… only."""
    stored = secrets_for(integration, actor=Actor.USER)
    rows = []
    for spec in integration.type.settings_schema:
        name, kind, note = spec["name"], spec["type"], ""
        if kind in schema.SECRET_TYPES:
            if not stored.get(name):
                shown = "not set"
            else:
                shown = mask_url(stored[name]) if kind == "secret_url" else "••••••••"
                note = "stored encrypted"
        else:
            value = (integration.config or {}).get(name, spec.get("default"))
            labels = schema.option_labels(spec)  # a choice reads as the form offered it: "SSL/TLS", not "ssl"
            if isinstance(value, list):
                shown = ", ".join(labels.get(str(v), str(v)) for v in value) or "—"
            elif isinstance(value, bool):
                shown = "yes" if value else "no"
            else:
                shown = "—" if value in (None, "") else labels.get(str(value), str(value))
        rows.append((spec.get("label", name), shown, note))
    return rows


@require_safe
@login_required
def detail(request, pk):
    integration = owned(request, pk)
    recent_jobs = list(integration.sync_jobs.all()[:8])
    context = {
        "integration": integration,
        "itype": integration.type,
        "recent_jobs": recent_jobs,
        "active_job": next((j for j in recent_jobs if j.is_active), None),
        "last_job": recent_jobs[0] if recent_jobs else None,
        "health": health_for(integration),
        "item_count": integration.item_count,  # kept live (integrations.counts)
        "recent_items": latest_items(integration),
        "settings_rows": settings_summary(integration),
        "next_run": next_run(integration) if integration.is_active else None,
        "workflows": dependents.using(integration),
        "activity": list(integration.audit_events.exclude(action="credential_access")[:8]),
        "page_actions": _page_actions(integration),
        "page_state": page_state(integration),
    }
    context.update(_daily_charts(request, integration))
    return render(request, "integrations/detail.html", context)


CHART_DAYS = (7, 30, 90, 365)


def _daily_charts(request, integration) -> dict:
    """The charts of daily values the connector declares (Apple Health: steps, sleep, heart rate),
    over 30 days unless ?days= asks for another of CHART_DAYS."""
    itype = integration.type
    if not (itype.is_source and itype.handler):
        return {}
    from connectors.errors import ConfigError

    try:
        connector = itype.connector_class()
    except ConfigError:  # a handler that is not registered: the page still opens
        return {}
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in CHART_DAYS else 30
    charts = connector.daily_charts(integration.items.all(), days)
    return {"daily_charts": charts, "chart_days": days, "chart_day_choices": CHART_DAYS} if charts else {}


def _page_actions(integration) -> list[tuple[str, str]]:
    """Buttons a connector adds to its integrations' pages (no per-type branches here)."""
    itype = integration.type
    if not (itype.is_available and itype.handler and integration.is_active):
        return []
    from integrations.sync.ports import HubUrls

    actions = list(itype.connector_class().page_actions(integration, HubUrls()))
    if imports.accepts_archives(itype):
        label = "Import a newer export" if itype.auth_kind == AuthKind.ARCHIVE else "Import an export"
        actions.append((label, reverse("integrations:import_export", args=[integration.pk])))
    return actions


@require_POST
@login_required
def pause(request, pk):
    integration = owned(request, pk)
    try:
        if lifecycle.pause(integration):
            messages.success(request, lifecycle.paused_detail(integration, named=True))
    except lifecycle.Refused as refused:
        messages.error(request, str(refused))
    return back(request, integration.get_absolute_url())


@require_POST
@login_required
def resume(request, pk):
    integration = owned(request, pk)
    try:
        status = lifecycle.resume(integration)
    except lifecycle.Refused as refused:
        messages.error(request, str(refused))
        status = None
    if status == Status.CONNECTED:
        messages.success(request, f"Resumed {integration.name}.")
    elif status is not None:
        # Resumed, but back to a state that still needs the user: say what to do.
        messages.warning(request, f"Resumed {integration.name}. {integration.status_detail}")
    return back(request, integration.get_absolute_url())


def _confirm_page(request, integration, action: str):
    context = {
        "integration": integration,
        "action": action,
        "workflows": dependents.using(integration),
        "item_count": integration.item_count,  # kept live (integrations.counts)
    }
    return render(request, "integrations/confirm_remove.html", context)


def _must_confirm(request, integration) -> bool:
    """A POST that did not come from the warning page, for an integration workflows depend on."""
    return request.POST.get("proceed") != "1" and bool(dependents.using(integration))


@require_http_methods(["GET", "POST"])
@login_required
def disconnect(request, pk):
    """Keep synced data, stop syncs, drop credentials."""
    integration = owned(request, pk)
    if request.method == "GET" or _must_confirm(request, integration):
        return _confirm_page(request, integration, "disconnect")
    if integration.status == Status.DISCONNECTED:
        messages.info(request, f"{integration.name} is already disconnected.")
        return redirect(integration)
    for job in integration.sync_jobs.filter(status=JobStatus.QUEUED):
        sync_jobs.cancel(job)
    paused = len(lifecycle.disconnect(integration))  # the workflows using it pause on its signal
    text = f"Disconnected {integration.name}: its credentials are deleted and its synced data is kept."
    if paused:
        text += f" {paused} workflow{'s' if paused != 1 else ''} using it {'were' if paused != 1 else 'was'} paused."
    messages.success(request, text)
    return redirect(integration)


@require_http_methods(["GET", "POST"])
@login_required
def delete(request, pk):
    """Remove the instance; its synced data too only when the user ticks it."""
    integration = owned(request, pk)
    if request.method == "GET" or _must_confirm(request, integration):
        return _confirm_page(request, integration, "delete")
    delete_data = request.POST.get("delete_data") == "1"
    name = integration.name
    paused = len(lifecycle.delete(integration, delete_data=delete_data))  # workflows pause on its signal
    text = f"Deleted {name}." + (
        " Its synced items were deleted too."
        if delete_data
        else " Its synced items are kept, with where they came from."
    )
    if paused:
        text += f" {paused} workflow{'s' if paused != 1 else ''} using it {'were' if paused != 1 else 'was'} paused."
    messages.success(request, text)
    return redirect(reverse("integrations:mine"))
