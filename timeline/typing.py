"""A stored record as its kind: the connector's own mapping (connectors.kinds.typed_record)."""

from __future__ import annotations

from connectors.kinds import Typed, typed_record
from connectors.registry import registry


class Handlers:
    """Connector classes by type slug, looked up once per batch."""

    def __init__(self):
        self._by_slug: dict[str, type | None] = {}

    def for_item(self, item):
        slug = item.source_type
        if slug not in self._by_slug:
            from integrations.models import IntegrationType

            handler = IntegrationType.objects.filter(slug=slug).values_list("handler", flat=True).first()
            self._by_slug[slug] = registry._classes.get(handler) if handler and handler in registry else None
        return self._by_slug[slug]


def typed_for(item, handlers: Handlers) -> Typed:
    return typed_record(handlers.for_item(item), item)
