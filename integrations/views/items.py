"""Synced items: a searchable, paginated timeline with provenance; content sanitized on output."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.views.decorators.http import require_GET

from integrations.models import SyncedItem
from integrations.views.common import owned, render_page

PER_PAGE = 25


@require_GET
@login_required
def items(request, pk=None):
    integration = owned(request, pk) if pk is not None else None
    queryset = SyncedItem.objects.for_user(request.user).select_related("integration")
    if integration is not None:
        queryset = queryset.filter(integration=integration)
    q = request.GET.get("q", "").strip()[:200]
    for word in q.split()[:8]:
        queryset = queryset.filter(Q(title__icontains=word) | Q(summary__icontains=word))
    show_deleted = request.GET.get("deleted") == "1"
    if not show_deleted:
        queryset = queryset.filter(deleted_at__isnull=True)
    page = Paginator(queryset.order_by("-occurred_at", "-pk"), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "integration": integration,
        "page": page,
        "items": page.object_list,
        "q": q,
        "show_deleted": show_deleted,
    }
    return render_page(
        request, "integrations/items.html", "integrations/_items_results.html", context, htmx_target="items-results"
    )
