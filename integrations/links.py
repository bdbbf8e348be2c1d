"""Where a person goes for an integration: to connect a type, to fix an instance. Shared by the HTML
pages, their template tags and the JSON API."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import AuthKind, Integration, Status


def fix_url(integration: Integration) -> str:
    """Where the user fixes what is wrong with an integration."""
    if integration.status == Status.NEEDS_REAUTH:
        if integration.type.auth_kind == AuthKind.OAUTH2:
            return reverse("oauth:consent", args=[integration.type.slug]) + f"?integration={integration.pk}"
        return reverse("integrations:edit", args=[integration.pk]) + "#auth"
    return reverse("integrations:detail", args=[integration.pk])


def connect_url(itype) -> str:
    if itype.auth_kind == AuthKind.OAUTH2:
        return reverse("oauth:consent", args=[itype.slug])
    return reverse("integrations:connect", args=[itype.slug])
