"""My integrations: every instance with its status, last sync, item count and actions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_safe

from integrations.models import ACTIVE_JOB_STATUSES, Integration, SyncJob
from integrations.queries import integrations_for
from integrations.views.common import render_page
from integrations.views.rows import Rows

# Exactly what a row shows (integrations/views/rows.py): every other column, the blueprints' JSON
# schemas above all, cost more to decode than the rows take to render. A field read but not listed
# here is one query per row (tests/integrations/test_list_query_counts.py would see it).
LIST_FIELDS = (
    "name", "status", "status_detail", "account_identity", "last_synced_at", "last_used_at", "item_count",
    # the type's name and icon, and what can_sync and syncs_on_request read
    "type__display_name", "type__icon", "type__category", "type__is_available", "type__handler", "type__auth_kind",
)  # fmt: skip


@require_safe
@login_required
def mine(request):
    integrations = list(integrations_for(request.user).only(*LIST_FIELDS))
    active_jobs = {
        job.integration_id: job
        for job in SyncJob.objects.filter(
            integration__in=Integration.objects.for_user(request.user), status__in=ACTIVE_JOB_STATUSES
        )
    }
    rows = Rows(request, active_jobs).render(integrations)
    return render_page(request, "integrations/mine.html", None, {"integrations": integrations, "rows": rows})
