"""What the API answers. Built field by field: no model is dumped wholesale, so a secret can never
slip in. Credentials are reported only as stored or not."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse

from connectors.masking import mask_urls_in
from integrations import schema
from integrations.links import connect_url
from integrations.uploads.imports import accepts_archives


def type_json(itype) -> dict:
    return {
        "id": itype.pk,
        "slug": itype.slug,
        "name": itype.display_name,
        "category": itype.category,
        "domain": itype.domain,
        "description": itype.description,
        "auth_kind": itype.auth_kind,
        "available": itype.is_available,
        "state": itype.card_state,
        "unavailable_reason": itype.unavailable_reason if itype.card_state == "not_possible" else "",
        "alternatives": itype.alternatives if itype.card_state == "not_possible" else [],
        "connected": getattr(itype, "connected", None),
        "icon": static(f"icons/{itype.icon}"),
        "fields": {"auth": itype.auth_schema, "settings": itype.source_schema},
        "imports_archives": accepts_archives(itype),  # POST /api/v1/uploads, then /api/v1/imports
        "links": {
            "connect": reverse("api:connect", args=[itype.slug]) if itype.is_available else None,
            "page": connect_url(itype) if itype.is_available else None,
            "service": itype.service_url or None,  # Zapier, IFTTT: the page with the values to paste
        },
    }


_PK = 987654321  # a placeholder primary key, replaced in the reversed URLs


class IntegrationLinks:
    """An integration's links, reversed once (with a placeholder) instead of four reverse() per row."""

    def __init__(self):
        self.patterns = _link_patterns(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)

    def for_pk(self, pk: int) -> dict:
        value = str(int(pk))
        return {name: f"{before}{value}{after}" for name, (before, after) in self.patterns.items()}


@functools.lru_cache(maxsize=16)
def _link_patterns(script_prefix: str, urlconf) -> dict[str, tuple[str, str]]:
    """Each link as the text before and after the primary key, for the URLconf and script prefix
    reverse() uses (the arguments are the cache's key)."""
    marker = str(_PK)
    return {
        name: tuple(reverse(route, args=[_PK]).split(marker, 1))
        for name, route in (
            ("self", "api:integration"),
            ("sync", "api:sync"),
            ("disconnect", "api:disconnect"),
            ("page", "integrations:detail"),
        )
    }


@dataclass(frozen=True)
class TypeBrief:
    """What an integration's answer needs of its type (kept with the cached catalogue)."""

    slug: str
    name: str
    secret_fields: frozenset

    @classmethod
    def of(cls, itype) -> TypeBrief:
        secret = frozenset(s["name"] for s in itype.settings_schema if s["type"] in schema.SECRET_TYPES)
        return cls(itype.slug, itype.display_name, secret)


def _masked(text: str) -> str:
    return mask_urls_in(text) if text else ""  # most rows have none: no regex pass for nothing


_datetime = DjangoJSONEncoder().default


def _when(value) -> str | None:
    """A datetime as the answer writes it (DjangoJSONEncoder's form), formatted here so that a list
    of 200 is encoded without calling back into Python for each date."""
    return None if value is None else _datetime(value)


def integration_json(integration, *, links: IntegrationLinks | None = None, brief: TypeBrief | None = None) -> dict:
    """`links` and `brief` (else built from integration.type) let a list build them once.
    `integration` is a model instance or a row with the same attribute names (the list's)."""
    brief = brief or TypeBrief.of(integration.type)
    config = integration.config or {}
    if config and brief.secret_fields:
        config = {k: v for k, v in config.items() if k not in brief.secret_fields}
    data = {
        "id": integration.id,
        "name": integration.name,
        "type": brief.slug,
        "type_name": brief.name,
        "status": integration.status,
        "status_detail": _masked(integration.status_detail),
        "account_identity": integration.account_identity,
        "config": config,
        "sync_interval_minutes": integration.sync_interval_minutes,
        "last_synced_at": _when(integration.last_synced_at),
        "last_error": _masked(integration.last_error),
        "consecutive_failures": integration.consecutive_failures,
        "created_at": _when(integration.created_at),
        "links": (links or IntegrationLinks()).for_pk(integration.id),
        "item_count": integration.item_count,
    }
    if hasattr(integration, "has_credentials"):
        data["credentials_stored"] = bool(integration.has_credentials)
    return data


def job_json(job) -> dict:
    failed = job.status == "failed"
    return {
        "id": job.pk,
        "integration": job.integration_id,
        "kind": job.kind,
        "status": job.status,
        "active": job.is_active,
        "trigger": job.trigger,
        "queued_at": job.queued_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_seconds": job.duration.total_seconds() if job.duration else None,
        "progress": {"done": job.progress_done, "total": job.progress_total, "percent": job.percent},
        "counts": job.counts,
        "error": (
            {
                "class": job.error_class,
                "message": mask_urls_in(job.error_message),
                "remediation": mask_urls_in(job.remediation),
            }
            if failed
            else None
        ),
        "remediation": mask_urls_in(job.remediation) if job.remediation and not failed else "",
        "links": {"self": reverse("api:job", args=[job.pk]), "page": job.get_absolute_url()},
    }
