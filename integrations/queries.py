"""The user's view of the catalogue and of their own integrations, as querysets: the HTML pages
and the JSON API read the same ones (neither imports the other)."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from integrations.models import Category, Domain, Integration, IntegrationType, Status

CATEGORY_FILTERS = {
    # A type that is both a source and an output shows under either filter; "both" is exact.
    "source": Q(category__in=[Category.SOURCE, Category.BOTH]),
    "output": Q(category__in=[Category.OUTPUT, Category.BOTH]),
    "both": Q(category=Category.BOTH),
}


def catalogue_for(user, *, q: str = "", category: str = "", domain: str = "", available_only: bool = False):
    """Types matching the filters, each with `connected`: how many the user has connected (a
    disconnected one has no credentials left, so it does not count; None without a user). One
    query, whose subquery reads only this user's integrations (never a join over everyone's)."""
    types = IntegrationType.objects.all()
    if user is not None:
        live = [status for status in Status.values if status != Status.DISCONNECTED]
        mine = (
            Integration.objects.filter(user=user if user.is_authenticated else None, type=OuterRef("pk"))
            .filter(status__in=live)
            .order_by()
            .values("type")
            .annotate(n=Count("pk"))
            .values("n")
        )
        types = types.annotate(connected=Coalesce(Subquery(mine), Value(0)))
    for word in q.split()[:8]:
        types = types.filter(
            Q(display_name__icontains=word)
            | Q(description__icontains=word)
            | Q(domain__icontains=word)
            | Q(slug__icontains=word)
        )
    if category in CATEGORY_FILTERS:
        types = types.filter(CATEGORY_FILTERS[category])
    if domain in Domain.values:
        types = types.filter(domain=domain)
    if available_only:  # a connector, or a service the hub offers (Zapier, IFTTT)
        types = types.filter(Q(is_available=True) | ~Q(service_url=""))
    return types.order_by("-is_available", "sort_order", "display_name")


def integrations_for(user):
    """The user's integrations with their type: one query, whatever the number, reading only their
    rows (index on user) and never the items table (item_count is kept by the sync engine)."""
    return Integration.objects.for_user(user).select_related("type").order_by("name", "pk")
