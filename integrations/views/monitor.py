"""The sync monitor: Sync now, the self-updating progress bar, the job ledger, one job's page."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from integrations.health import health_for
from integrations.models import JobKind, JobTrigger, SyncJob
from integrations.sync.jobs import SyncRefused, queue_sync, upload_only_reason
from integrations.views.common import latest_items, owned, page_state, render_page

RECENT_ITEMS = 5


def _progress(request, integration, job, *, refused: str = ""):
    on_job_page = request.GET.get("job_page") == "1"
    finished = job is not None and not job.is_active
    if finished and request.htmx:
        # The integration was read before the job: re-read what the out-of-band swaps show, in case
        # the job's last commit landed in between (item_count is kept live, integrations.counts).
        integration.refresh_from_db(fields=["status", "status_detail", "last_synced_at", "item_count"])
    context = {
        "integration": integration,
        "job": job,
        "refused": refused,
        # The badge, last sync and item count of the page around the bar follow (out-of-band);
        # the job page shows none of them.
        "oob": bool(request.htmx) and not on_job_page,
        "on_job_page": on_job_page,
        # The job page's own panels (status, start and end times, records that failed) follow.
        "job_page_oob": bool(request.htmx) and on_job_page,
        "item_count": integration.item_count if finished and request.htmx else None,
    }
    response = render(request, "integrations/_job_progress.html", context)
    if finished:
        response["HX-Trigger"] = "sync-finished"  # the detail page's panels refresh (see ledger)
    return response


def _requested_kind(request) -> tuple[str | None, dict, str]:
    """(job kind, options, problem) from the form: Sync now (incremental when a cursor exists),
    Re-sync everything (full: the cursor is ignored) or Backfill from a date."""
    kind = request.POST.get("kind", "")
    if kind == JobKind.FULL:
        return JobKind.FULL, {}, ""
    if kind == JobKind.BACKFILL:
        try:
            since = datetime.date.fromisoformat(request.POST.get("since", "").strip())
        except ValueError:
            return None, {}, "Choose the date to backfill from (a day like 2024-01-31)."
        if since > timezone.localdate():
            return None, {}, "The backfill date is in the future: choose a day in the past."
        return JobKind.BACKFILL, {"since": since.isoformat()}, ""
    return None, {}, ""


@require_POST
@login_required
def sync_now(request, pk):
    integration = owned(request, pk)
    kind, options, problem = _requested_kind(request)
    problem = upload_only_reason(integration) or problem
    if problem:
        if request.htmx:
            return _progress(request, integration, None, refused=problem)
        messages.error(request, problem)
        return redirect(integration)
    try:
        job = queue_sync(integration, kind=kind, options=options, trigger=JobTrigger.MANUAL)
        if kind and job.kind != kind:
            raise SyncRefused(
                f"another sync ({job.get_kind_display().lower()}) is already {job.get_status_display().lower()}; "
                "try again once it has finished."
            )
    except SyncRefused as exc:
        if request.htmx:
            return _progress(request, integration, None, refused=f"Cannot sync {integration.name}: {exc}")
        messages.error(request, f"Cannot sync {integration.name}: {exc}")
        return redirect(integration)
    if request.htmx:
        return _progress(request, integration, job)
    return redirect(job)


def _job(request, pk, job_pk):
    integration = owned(request, pk)
    return integration, get_object_or_404(SyncJob.objects.filter(integration=integration), pk=job_pk)


@require_safe
@login_required
def job_status(request, pk, job_pk):
    """The progress partial. While the job is active it asks to be polled again; once finished it
    comes back without hx-trigger, which stops the polling."""
    integration, job = _job(request, pk, job_pk)
    return _progress(request, integration, job)


@require_safe
@login_required
def job(request, pk, job_pk):
    integration, job = _job(request, pk, job_pk)
    return render(request, "integrations/job.html", {"integration": integration, "job": job})


@require_safe
@login_required
def ledger(request, pk):
    integration = owned(request, pk)
    if request.GET.get("compact") == "1":
        # The detail page asks for this when a sync finishes: its ledger, plus its health and
        # latest items as out-of-band swaps, so the whole page is current in one request. When the
        # sync changed what the top of the page is drawn for (credentials refused: no Sync now, a
        # Re-authenticate banner, a stopped schedule), the page is reloaded instead.
        if request.htmx and request.GET.get("shown", page_state(integration)) != page_state(integration):
            return HttpResponseClientRefresh()
        context = {
            "integration": integration,
            "jobs": list(integration.sync_jobs.all()[:8]),
            "compact": True,
            "health": health_for(integration),
            "recent_items": latest_items(integration, RECENT_ITEMS),
            "item_count": integration.item_count,  # kept live (integrations.counts)
        }
        return render(request, "integrations/_detail_refresh.html", context)
    page = Paginator(integration.sync_jobs.all(), 25).get_page(request.GET.get("page"))
    context = {"integration": integration, "page": page, "jobs": page.object_list}
    return render_page(request, "integrations/ledger.html", "integrations/_ledger.html", context)
