"""Helpers of the workflow views: ownership (404 for anything not yours) and HTMX-aware rendering."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers

from integrations.models import Integration
from workflows import steps
from workflows.models import Workflow


def owned_workflow(request, pk) -> Workflow:
    return get_object_or_404(Workflow.objects.filter(owner=request.user), pk=pk)


def render_page(request, template: str, partial: str | None, context: dict, *, status=200):
    """The partial for an HTMX request, the full page otherwise (every flow works without JS)."""
    use_partial = partial and request.htmx and not request.htmx.boosted
    response = render(request, partial if use_partial else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def eligible_integrations(user, role: str) -> list[Integration]:
    """The user's own integrations that can serve as a source (or an output) step."""
    test = steps.can_be_source if role == "source" else steps.can_be_output
    integrations = Integration.objects.for_user(user).select_related("type").order_by("name", "pk")
    return [integration for integration in integrations if test(integration)]
