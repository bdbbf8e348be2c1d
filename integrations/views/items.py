"""Synced items: a searchable, paginated timeline with provenance; content sanitized on output."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.http import require_GET

from integrations.models import IntegrationType, SyncedItem
from integrations.views.common import owned, push_clean_url, render_page

PER_PAGE = 25


def _type_names(items) -> dict[str, str]:
    """slug -> display name for the page's items (one query): provenance reads "(IMAP Mail)",
    also for items whose integration was deleted, which keep only the slug."""
    slugs = {item.source_type for item in items if item.source_type}
    if not slugs:
        return {}
    return dict(IntegrationType.objects.filter(slug__in=slugs).values_list("slug", "display_name"))


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
    paginator = Paginator(queryset.order_by("-occurred_at", "-pk"), PER_PAGE)
    now = timezone.now()
    # Newest first puts a year of future recurrences on top: without an explicit page the list
    # opens at the page where today falls, upcoming items above a "today" line.
    upcoming = queryset.filter(occurred_at__gt=now).count()
    today_page = upcoming // PER_PAGE + 1
    page = paginator.get_page(request.GET.get("page") or today_page)
    # Remote images stay blocked (tracking pixels) except in the one item the user asked for.
    images_for = request.GET.get("images", "")
    page.object_list = list(page.object_list)  # evaluated once: the loop below annotates these rows
    names = _type_names(page.object_list)
    line_drawn = False
    for item in page.object_list:
        item.show_images = images_for == str(item.pk)
        item.source_type_name = names.get(item.source_type, item.source_type)
        # The "today" line goes above the first item that is not in the future.
        item.today_line = not line_drawn and upcoming > 0 and (item.occurred_at is None or item.occurred_at <= now)
        line_drawn = line_drawn or item.today_line
    context = {
        "integration": integration,
        "page": page,
        "items": page.object_list,
        "q": q,
        "show_deleted": show_deleted,
        "upcoming": upcoming,
        "today_page": today_page if today_page <= paginator.num_pages else None,
    }
    response = render_page(
        request, "integrations/items.html", "integrations/_items_results.html", context, htmx_target="items-results"
    )
    return push_clean_url(request, response)
