"""Output step: pick the run's cards (card filter), render them with the output's template in the
sandbox, and hand OutgoingCards to the connector's send(). Config = the blueprint's output_schema.

Bundling: "digest" renders all the picked cards into one message (the template sees `cards`);
"each" renders one message per card (the template sees `card`). Keys are stable per card and
output (per run and output for a digest), so a retried delivery never duplicates.
"""

from __future__ import annotations

from django.utils import timezone

from connectors.base import OutgoingCard
from integrations import schema as schema_language
from integrations.sync.context import build_context
from workflows import templating
from workflows.cards import http_url, template_card
from workflows.steps.base import connector_class, public_fields

DEFAULT_TITLES = {"digest": "{{ workflow.name }} · {{ today|date }}", "each": "{{ card.title }}"}
DEFAULT_TEMPLATES = {
    ("digest", "markdown"): """{% for card in cards %}
### {{ card.title }}{% if card.partial %} (partial){% endif %}

{{ card.content }}
{% endfor %}
{% if failures %}
_Not everything could be fetched: {{ failures|map(attribute="text")|join("; ") }}_
{% endif %}
""",
    ("each", "markdown"): """{{ card.content }}
{% if card.partial %}
_Partial: {{ card.failures|map(attribute="text")|join("; ") }}_
{% endif %}
""",
    ("digest", "html"): """{% for card in cards %}
<h3>{{ card.title }}{% if card.partial %} (partial){% endif %}</h3>
{{ card.content|markdown }}
{% endfor %}
{% if failures %}
<p><em>Not everything could be fetched: {{ failures|map(attribute="text")|join("; ") }}</em></p>
{% endif %}
""",
    ("each", "html"): """{{ card.content|markdown }}
{% if card.partial %}
<p><em>Partial: {{ card.failures|map(attribute="text")|join("; ") }}</em></p>
{% endif %}
""",
}


class Deliver:
    kind = "deliver"
    label = "Deliver"

    def schema(self, integration) -> list[dict]:
        """The settings an output step asks for: not those that follow its Send choice."""
        return [spec for spec in self.full_schema(integration) if not spec.get("follows_bundle")]

    def full_schema(self, integration) -> list[dict]:
        return public_fields(integration.type.output_schema)

    def initial(self, integration) -> dict:
        return {}

    def describe(self, output) -> str:
        parts = [output.get_bundle_display()]
        card_filter = output.card_filter or {}
        if card_filter.get("tags"):
            parts.append("tags " + ", ".join(card_filter["tags"]))
        if card_filter.get("sources"):
            parts.append(f"{len(card_filter['sources'])} source(s) only")
        if output.template.strip():
            parts.append("custom template")
        return "; ".join(parts)

    def default_template(self, output) -> str:
        return DEFAULT_TEMPLATES[(output.bundle, output.template_format)]

    def default_title(self, output) -> str:
        return DEFAULT_TITLES[output.bundle]

    # -- composing ------------------------------------------------------------------------------------
    def select(self, output, cards: list) -> list:
        card_filter = output.card_filter or {}
        tags, sources = set(card_filter.get("tags") or []), set(card_filter.get("sources") or [])
        return [
            card
            for card in cards
            if (not tags or tags & set(card.tags or [])) and (not sources or card.source_id in sources)
        ]

    def compose(self, output, cards: list, *, workflow, execution=None, failures=None) -> list[OutgoingCard]:
        """OutgoingCards for these cards; raises templating.TemplateProblem when the template fails."""
        now = timezone.now()
        base = {
            "workflow": {"id": workflow.pk, "name": workflow.name},
            "run": {"id": getattr(execution, "pk", None), "trigger": getattr(execution, "trigger", "preview")},
            "now": now,
            "today": timezone.localdate(now),
            "failures": list(failures or []),
        }
        html = output.template_format == "html"
        body = output.template if output.template.strip() else self.default_template(output)
        title = output.title.strip() or self.default_title(output)
        run_key = getattr(execution, "pk", None) or "preview"
        if output.bundle == "each":
            result = []
            for card in cards:
                context = {**base, "card": template_card(card), "cards": [template_card(card)]}
                rendered = templating.render(body, context, html=html)
                result.append(
                    OutgoingCard(
                        title=templating.render_line(title, context) or _one_line(card.title),
                        markdown=rendered.markdown,
                        html=rendered.html,
                        data={"workflow": workflow.name, **_card_data(card)},
                        tags=list(card.tags or []),
                        url=http_url((card.data or {}).get("url", "") if isinstance(card.data, dict) else ""),
                        key=f"workflow-{workflow.pk}-card-{card.pk}-output-{output.pk}",
                    )
                )
            return result
        context = {**base, "cards": [template_card(card) for card in cards]}
        rendered = templating.render(body, context, html=html)
        tags = sorted({tag for card in cards for tag in card.tags or []})
        return [
            OutgoingCard(
                title=templating.render_line(title, context) or _one_line(workflow.name),
                markdown=rendered.markdown,
                html=rendered.html,
                data={"workflow": workflow.name, "cards": [_card_data(card) for card in cards]},
                tags=tags,
                key=f"workflow-{workflow.pk}-run-{run_key}-output-{output.pk}",
            )
        ]

    def deliver(self, output, outgoing: list[OutgoingCard], *, purpose: str):
        integration = output.integration
        full = self.full_schema(integration)
        values = schema_language.clean(full, output.config or {}).values
        for spec in full:  # one setting: "Send: one message with all the cards" is one webhook request
            if isinstance(spec.get("follows_bundle"), dict) and output.bundle in spec["follows_bundle"]:
                values[spec["name"]] = spec["follows_bundle"][output.bundle]
        ctx = build_context(integration, purpose=purpose)
        connector = connector_class(integration)(ctx)
        try:
            return connector.send(outgoing, values)
        finally:
            connector.close()
            ctx.http.close()


def _one_line(text: str) -> str:
    """A fallback title as render_line makes them: one line (a mail subject cannot hold a line break)."""
    return " ".join((text or "").split())[:300]


def _card_data(card) -> dict:
    data = card.data if isinstance(card.data, dict) else {}
    return {
        "title": card.title,
        "markdown": card.content,
        "entries": data.get("entries", []),
        "tags": list(card.tags or []),
        "source": card.source_label,
        "partial": card.is_partial,
    }
