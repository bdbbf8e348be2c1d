"""The gallery: a card per integration type, live search, category and domain filters."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from integrations.models import AuthKind, Domain
from integrations.oauth.clients import configured_slugs
from integrations.queries import CATEGORY_FILTERS, catalogue_for
from integrations.views.common import push_clean_url, render_page

CATEGORY_CHOICES = [("", "All"), ("source", "Sources"), ("output", "Outputs"), ("both", "Source and output")]


@require_GET
@login_required
def gallery(request):
    q = request.GET.get("q", "").strip()[:100]
    category = request.GET.get("category", "")
    category = category if category in CATEGORY_FILTERS else ""
    domain = request.GET.get("domain", "")
    domain = domain if domain in Domain.values else ""
    available_only = request.GET.get("available") == "1"
    types = list(catalogue_for(request.user, q=q, category=category, domain=domain, available_only=available_only))
    configured = configured_slugs(types)
    for itype in types:
        # An OAuth type whose client the operator has not set up says so instead of a broken redirect.
        itype.needs_oauth_client = itype.auth_kind == AuthKind.OAUTH2 and itype.slug not in configured
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
