"""Live item counts per integration (Integration.item_count): how many of its SyncedItem rows are
not tombstoned. Every path that creates, tombstones, revives or deletes items adjusts it with an
F() expression inside its own transaction, so lists and the API read one column instead of
counting over the items table. `manage.py recount_items` (and the admin action) rebuild it from
the rows, for operators."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from integrations.models import Integration, SyncedItem

CHUNK = 900  # below SQLite's bound-variable limit


def adjust(integration_id: int, delta: int) -> None:
    """Add `delta` live items (negative: removed). Call inside the transaction that changed them."""
    if delta:
        Integration.objects.filter(pk=integration_id).update(**adjustment(delta))


def adjustment(delta: int) -> dict:
    """adjust() as update() keywords, for a caller that updates the integration's row anyway."""
    return {"item_count": F("item_count") + delta} if delta else {}


def live_count_subquery():
    live = (
        SyncedItem.objects.filter(integration=OuterRef("pk"), deleted_at__isnull=True)
        .order_by()
        .values("integration")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(live), Value(0))


def recount(integrations=None) -> int:
    """Set item_count from the rows for these integrations (a queryset; default: all). One UPDATE
    with a correlated subquery per row (an index on the items' integration). Returns how many
    counters were wrong before."""
    queryset = Integration.objects.all() if integrations is None else integrations
    wrong = queryset.annotate(actual=live_count_subquery()).exclude(item_count=F("actual"))
    ids = list(wrong.values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        Integration.objects.filter(pk__in=ids[start : start + CHUNK]).update(item_count=live_count_subquery())
    return len(ids)
