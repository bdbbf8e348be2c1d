"""The gallery: a card per integration type, live search, category and domain filters."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_safe

from integrations.models import AuthKind, CardState, Domain
from integrations.oauth.clients import configured_slugs
from integrations.queries import CATEGORY_FILTERS, catalogue_for
from integrations.views.common import push_clean_url, render_page

CATEGORY_CHOICES = [("", "All"), ("source", "Sources"), ("output", "Outputs"), ("both", "Source and output")]


# The gallery's order: what can be used now first, what never can last (stable: catalogue order within).
_RANK = {CardState.AVAILABLE: 0, CardState.SERVICE: 1, CardState.COMING_SOON: 3, CardState.NOT_POSSIBLE: 4}


def with_availability(types) -> list:
    """One notion of "available", for the signed-out home page, the gallery and its filter: the
    connector works (is_available) and, for an OAuth type, the operator registered a client.
    Sets `needs_oauth_client`, `connectable` (a connect form or sign-in works here), `usable`
    (connectable, or a service the hub offers) and `state` on each type; usable ones come first,
    then those not configured here, then coming soon, then not possible."""
    types = list(types)
    configured = configured_slugs(types)
    for itype in types:
        itype.state = itype.card_state
        # An OAuth type whose client the operator has not set up says so instead of a broken redirect.
        itype.needs_oauth_client = (
            itype.is_available and itype.auth_kind == AuthKind.OAUTH2 and itype.slug not in configured
        )
        itype.connectable = itype.is_available and not itype.needs_oauth_client
        itype.usable = itype.connectable or itype.state == CardState.SERVICE
    return sorted(types, key=lambda itype: 2 if itype.needs_oauth_client else _RANK[itype.state])


@require_safe
@login_required
def gallery(request):
    q = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    category = category if category in CATEGORY_FILTERS else ""
    domain = request.GET.get("domain", "")
    domain = domain if domain in Domain.values else ""
    available_only = request.GET.get("available") == "1"
    types = with_availability(
        catalogue_for(request.user, q=q, category=category, domain=domain, available_only=available_only)
    )
    if available_only:
        types = [itype for itype in types if itype.usable]
    context = {
        "types": types,
        "q": q,
        "category": category,
        "domain": domain,
        "available_only": available_only,
        "filtered": bool(q or category or domain or available_only),
        "category_choices": CATEGORY_CHOICES,
        "domain_choices": Domain.choices,
    }
    response = render_page(
        request,
        "integrations/gallery.html",
        "integrations/_gallery_results.html",
        context,
        htmx_target="gallery-results",
    )
    return push_clean_url(request, response)
