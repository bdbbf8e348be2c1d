"""My integrations: every instance with its status, last sync, item count and actions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from integrations.models import ACTIVE_JOB_STATUSES, Integration, SyncJob
from integrations.queries import integrations_for
from integrations.views.common import RowUrls, render_page

LIST_DEFERRED = (
    "config",
    "sync_cursor",
    "last_error",
    *(
        f"type__{name}"
        for name in (
            "details", "auth_schema", "source_schema", "output_schema", "oauth_scopes", "oauth_extra_params",
            "data_read", "data_written", "seed",
        )
    ),
)  # fmt: skip


@require_GET
@login_required
def mine(request):
    # The list never shows the blueprints' schemas or the sync state: not loading them halves the
    # time for 200 rows (every JSON column is decoded per row).
    integrations = list(integrations_for(request.user).defer(*LIST_DEFERRED))
    active_jobs = {
        job.integration_id: job
        for job in SyncJob.objects.filter(
            integration__in=Integration.objects.for_user(request.user), status__in=ACTIVE_JOB_STATUSES
        )
    }
    urls = RowUrls()
    icons = {}  # static() once per type, not per row (the manifest storage's lookup is not free)
    for integration in integrations:
        integration.active_job = active_jobs.get(integration.pk)
        integration.urls = urls.for_pk(integration.pk)
        icon = integration.type.icon
        if icon not in icons:
            icons[icon] = static(f"icons/{icon}")
        integration.icon_url = icons[icon]
    return render_page(request, "integrations/mine.html", None, {"integrations": integrations})
