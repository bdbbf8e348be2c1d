"""Source step that asks the service at run time (GitHub search, weather, a scraped page,
Perplexity): the connector's query(config), with config validated against the blueprint's
source_schema. The integration's own settings are the starting values of a new step."""

from __future__ import annotations

from integrations import schema as schema_language
from integrations.sync.context import build_context
from workflows.cards import Entry, drafts_for
from workflows.steps.base import Collected, connector_class, public_fields

MAX_ENTRIES = 200


class DirectQuery:
    kind = "direct_query"
    label = "Live query"

    def accepts(self, connector_cls) -> bool:
        return connector_cls.can_query()

    def schema(self, integration) -> list[dict]:
        return public_fields(integration.type.source_schema)

    def initial(self, integration) -> dict:
        names = {spec["name"] for spec in self.schema(integration)}
        return {k: v for k, v in (integration.config or {}).items() if k in names}

    def describe(self, source) -> str:
        if source.integration is None:
            return ""
        labels = {s["name"]: s.get("label", s["name"]) for s in self.schema(source.integration)}
        config = source.config or {}
        shown = [f"{labels[k]}: {v}" for k, v in config.items() if k in labels and v not in ("", None, [])]
        return "; ".join(shown[:4]) or "Default settings"

    def default_title(self, source) -> str:
        return source.integration.name if source.integration else "Deleted integration"

    def query(self, integration, config: dict, *, purpose: str) -> list[Entry]:
        values = schema_language.clean(self.schema(integration), config).values  # defaults for missing keys
        ctx = build_context(integration, purpose=purpose)
        connector = connector_class(integration)(ctx)
        try:
            records = connector.query(values)
        finally:
            connector.close()
            ctx.http.close()
        return [Entry.from_record(record) for record in records or []]

    def collect(self, source, run) -> Collected:
        integration, config = source.integration, dict(source.config or {})
        entries = self.query(integration, config, purpose=f"workflow {source.workflow_id} source {source.pk}")
        more = max(0, len(entries) - MAX_ENTRIES)
        entries = entries[:MAX_ENTRIES]
        request = {"kind": self.kind, "source": source.pk, "integration": integration.pk, "config": config}
        drafts = drafts_for(
            entries, title=source.title or self.default_title(source), per_entry=source.one_card_per_item,
            request=request, tags=source.tags, label=str(integration), more=more,
        )  # fmt: skip
        return Collected(drafts=drafts, detail=f"{len(entries) + more} result(s)")

    def recollect(self, card, source) -> list:
        request = card.request or {}
        entries = self.query(source.integration, request.get("config") or {}, purpose=f"refresh of card {card.pk}")
        if request.get("external_id"):
            entries = [e for e in entries if e.external_id == request["external_id"]]
        return drafts_for(
            entries[:MAX_ENTRIES], title=card.title, per_entry=bool(request.get("external_id")), request=request,
            tags=card.tags, label=card.source_label, more=max(0, len(entries) - MAX_ENTRIES),
        )  # fmt: skip
