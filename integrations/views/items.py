"""Synced items: a searchable timeline with provenance, paged by keyset ("older than" / "newer
than", integrations.keyset) so a page deep into a big account costs what the first one costs;
content sanitized on output."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.utils import timezone
from django.views.decorators.http import require_safe

from integrations import keyset
from integrations.models import IntegrationType, SyncedItem
from integrations.views.common import owned, push_clean_url, render_page
from metacortex.middleware import SecurityHeadersMiddleware

PER_PAGE = 25
COUNT_CAP = 1000  # "1,000+ items": counting stops there (a LIMITed subquery), whatever the size
UPCOMING_SHOWN = 3  # the soonest upcoming items, above the today line of the opening page
SCOPE = "items"  # cursors of this list are signed for it alone
FIELD = "occurred_at"
LAST_PK = 2**63 - 1  # "at now": every row at this instant is older than (now, LAST_PK)
KIND = re.compile(r"^[a-z0-9_-]{1,32}$")


def _type_names(items) -> dict[str, str]:
    """slug -> display name for the page's items (one query): provenance reads "(IMAP Mail)",
    also for items whose integration was deleted, which keep only the slug."""
    slugs = {item.source_type for item in items if item.source_type}
    if not slugs:
        return {}
    return dict(IntegrationType.objects.filter(slug__in=slugs).values_list("slug", "display_name"))


def _opening_page(queryset, now) -> keyset.Page:
    """Where the list opens: at today. Newest first puts a year of future recurrences on top, so
    the opening page shows the few soonest upcoming items above a "today" line and the past below;
    "Newer" leads to the rest of the future."""
    soon = keyset.newer(queryset, FIELD, now, LAST_PK, UPCOMING_SHOWN + 1)
    shown = soon[:UPCOMING_SHOWN][::-1]
    past = keyset.older(queryset, FIELD, now, LAST_PK, PER_PAGE - len(shown) + 1)
    more = len(past) > PER_PAGE - len(shown)
    rows = shown + past[: PER_PAGE - len(shown)]
    return keyset.Page(
        rows,
        keyset.older_than(rows[-1], FIELD) if more else None,
        keyset.newer_than(rows[0], FIELD) if len(soon) > UPCOMING_SHOWN else None,
    )


@require_safe
@login_required
def items(request, pk=None):
    integration = owned(request, pk) if pk is not None else None
    queryset = SyncedItem.objects.for_user(request.user)
    if integration is not None:
        queryset = queryset.filter(integration=integration)
    kind = request.GET.get("kind", "").strip()
    kind = kind if KIND.match(kind) else ""
    if kind:
        queryset = queryset.filter(kind=kind)
    q = request.GET.get("q", "").strip()[:200]
    show_deleted = request.GET.get("deleted") == "1"
    if not show_deleted:
        queryset = queryset.live()
    found = None
    if q:
        # A search asks the full-text index for its matches first (at most COUNT_CAP + 1 ids, no
        # order: a bitmap of the GIN index; also the capped count). Up to the cap, the pages read
        # those rows by primary key: a cost bounded by the number of matches, where walking the
        # time index and testing every row would read all of the person's items when few or none
        # match. Past the cap, matches are common enough that walking the time index finds a
        # page of them soon.
        matched = queryset.matching(q)
        found = list(matched.order_by().values_list("pk", flat=True)[: COUNT_CAP + 1])
        queryset = queryset.filter(pk__in=found) if len(found) <= COUNT_CAP else matched
    cursor = request.GET.get("cursor", "")
    position = keyset.decode(cursor, SCOPE)
    now = timezone.now()
    rows = queryset.select_related("integration")
    page = _opening_page(rows, now) if position is None else keyset.page(rows, FIELD, position, PER_PAGE)
    if found is None:
        count, capped = keyset.capped_count(queryset, COUNT_CAP)
    else:
        count, capped = min(len(found), COUNT_CAP), len(found) > COUNT_CAP
    opening = position is None
    upcoming, upcoming_capped = (
        keyset.capped_count(queryset.filter(occurred_at__gt=now), COUNT_CAP) if opening and page.newer else (0, False)
    )
    # Remote images stay blocked (tracking pixels) except in the one item the user asked for.
    images_for = request.GET.get("images", "")
    names = _type_names(page.rows)
    previous_future = False
    for item in page.rows:
        item.show_images = images_for == str(item.pk)
        item.source_type_name = names.get(item.source_type, item.source_type)
        future = item.occurred_at is not None and item.occurred_at > now
        # The "today" line goes between the last upcoming item and the first one that is not.
        item.today_line = previous_future and not future
        previous_future = future
    context = {
        "integration": integration,
        "items": page.rows,
        "count": count,
        "count_capped": capped,
        "older_cursor": keyset.encode(page.older, SCOPE) if page.older else None,
        "newer_cursor": keyset.encode(page.newer, SCOPE) if page.newer else None,
        "newest_cursor": keyset.encode(keyset.Position(keyset.TOP), SCOPE),
        "opening": opening,
        "at_top": position is not None and position.direction == keyset.TOP,
        "bad_cursor": bool(cursor) and position is None,
        "q": q,
        "kind": kind,
        "show_deleted": show_deleted,
        "upcoming": upcoming,
        "upcoming_capped": upcoming_capped,
    }
    response = render_page(
        request, "integrations/items.html", "integrations/_items_results.html", context, htmx_target="items-results"
    )
    if any(item.show_images for item in page.rows):
        # The person asked to see this item's remote images: the policy lets the browser load them.
        response["Content-Security-Policy"] = SecurityHeadersMiddleware.POLICY.replace(
            "img-src 'self' data:", "img-src 'self' data: https: http:"
        )
    return push_clean_url(request, response)
