"""Helpers shared by the web views: ownership, HTMX-aware rendering, safe redirects."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from integrations import keyset
from integrations.models import Integration, Status


def push_clean_url(request, response):
    """Tell HTMX which address to show after a live search: the filters that are set, without the
    empty ones the form sends along (?q=calendar, not ?q=calendar&category=&domain=)."""
    if request.htmx:
        kept = [(key, value) for key, values in request.GET.lists() for value in values if value.strip()]
        response["HX-Push-Url"] = request.path + (f"?{urlencode(kept)}" if kept else "")
    return response


def latest_items(integration, limit: int = 5) -> list:
    """What happened most recently, not a year of future recurrences: items up to now, newest first,
    undated ones after the dated ones (on PostgreSQL too), read by keyset as the items page does."""
    from django.utils import timezone

    return keyset.older(integration.items.live(), "occurred_at", timezone.now(), 2**63 - 1, limit)


def page_state(integration) -> str:
    """What the top of an integration's page is drawn for: its actions (Sync now or not), its banner
    (re-authenticate, failing, error, paused, disconnected) and its schedule. A sync that ends in
    another state (refused credentials) changes them, which the in-place refresh cannot show."""
    if integration.status in (Status.PENDING, Status.CONNECTED, Status.SYNCING):
        return "failing" if integration.is_failing else "working"
    return str(integration.status)


def owned(request, pk) -> Integration:
    """The user's own integration, or 404: another user's integration does not exist for them."""
    return get_object_or_404(Integration.objects.for_user(request.user).select_related("type"), pk=pk)


def render_page(
    request, template: str, partial: str | None, context: dict, *, htmx_target: str | None = None, status=200
):
    """The partial for an HTMX request (aimed at `htmx_target` when given), the full page otherwise."""
    use_partial = partial and request.htmx and not request.htmx.boosted
    if use_partial and htmx_target and request.htmx.target != htmx_target:
        use_partial = False
    response = render(request, partial if use_partial else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def next_url(request, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, {request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def back(request, default: str):
    return redirect(next_url(request, default))


_PK = 987654321
ROW_ACTIONS = ("detail", "edit", "items", "sync_now", "pause", "resume", "disconnect", "delete")


class RowUrls:
    """The per-integration links of a list, reversed once per request instead of once per row
    (200 rows x 9 links of reverse() was half the page's render time)."""

    def __init__(self, names=ROW_ACTIONS):
        self.patterns = {name: reverse(f"integrations:{name}", args=[_PK]) for name in names}

    def for_pk(self, pk: int) -> dict:
        marker, value = str(_PK), str(int(pk))
        return {name: url.replace(marker, value) for name, url in self.patterns.items()}
