"""The sync monitor: Sync now, the self-updating progress bar, the job ledger, one job's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations.models import JobTrigger, SyncJob
from integrations.sync.jobs import SyncRefused, queue_sync
from integrations.views.common import owned, render_page


def _progress(request, integration, job, *, refused: str = ""):
    response = render(
        request,
        "integrations/_job_progress.html",
        {
            "integration": integration,
            "job": job,
            "refused": refused,
            "oob": bool(request.htmx),
            "on_job_page": request.GET.get("job_page") == "1",
        },
    )
    if job is not None and not job.is_active:
        response["HX-Trigger"] = "sync-finished"  # panels listening for it (the ledger) refresh
    return response


@require_POST
@login_required
def sync_now(request, pk):
    integration = owned(request, pk)
    try:
        job = queue_sync(integration, trigger=JobTrigger.MANUAL)
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


@require_GET
@login_required
def job_status(request, pk, job_pk):
    """The progress partial. While the job is active it asks to be polled again; once finished it
    comes back without hx-trigger, which stops the polling."""
    integration, job = _job(request, pk, job_pk)
    return _progress(request, integration, job)


@require_GET
@login_required
def job(request, pk, job_pk):
    integration, job = _job(request, pk, job_pk)
    return render(request, "integrations/job.html", {"integration": integration, "job": job})


@require_GET
@login_required
def ledger(request, pk):
    integration = owned(request, pk)
    if request.GET.get("compact") == "1":  # the detail page's panel, refreshed when a sync finishes
        context = {"integration": integration, "jobs": list(integration.sync_jobs.all()[:8]), "compact": True}
        return render(request, "integrations/_ledger.html", context)
    page = Paginator(integration.sync_jobs.all(), 25).get_page(request.GET.get("page"))
    context = {"integration": integration, "page": page, "jobs": page.object_list}
    return render_page(request, "integrations/ledger.html", "integrations/_ledger.html", context)
