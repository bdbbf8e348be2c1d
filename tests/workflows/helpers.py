"""Building workflows in tests the way the editor does, and two small test-only connectors.

The connectors are registered here, in the tests, under their own keys: they exercise the real
runner, the real HttpClient (rate limiter, 429 handling, SSRF guard) and real HTTP against the
local `feed_server` peer, without depending on any particular service's connector."""

from __future__ import annotations

from connectors.base import Connector, Delivery, Record
from connectors.registry import registry
from integrations import schema
from tests.factories import make_integration, make_type
from workflows import steps
from workflows.models import Workflow, WorkflowOutput, WorkflowSource


@registry.register("wf_test_query")
class JsonQuery(Connector):
    """A direct-query source: GET <url>?q=<query>, answer {"items": [{id, title, summary, url}]}."""

    def test_connection(self) -> str:
        return "test"

    def query(self, config: dict) -> list[Record]:
        answer = self.http.get(self.config["url"], params={"q": config.get("q", "")}).json()
        return [
            Record(
                external_id=str(item["id"]),
                kind="result",
                title=item["title"],
                summary=item.get("summary", ""),
                source_url=item.get("url", ""),
                data={k: v for k, v in item.items() if k not in ("title", "summary")},
            )
            for item in answer["items"]
        ]


@registry.register("wf_test_output")
class PostEachCard(Connector):
    """An output: POST every card as JSON to the integration's (secret) URL."""

    def test_connection(self) -> str:
        return "test"

    def send(self, cards: list, config: dict) -> Delivery:
        for card in cards:
            payload = {"title": card.title, "markdown": card.markdown, "html": card.html, "key": card.key}
            payload.update(tags=card.tags, data=card.data, config=config)
            self.http.post(self.secrets["url"], json=payload)
        keys = [c.key for c in cards]
        return Delivery(delivered=len(cards), detail=f"Posted {len(cards)} card(s).", external_ids=keys)


def query_type(**fields):
    defaults = dict(
        category="source",
        handler="wf_test_query",
        is_available=True,
        supports_scheduling=False,
        source_schema=[{"name": "q", "type": "text", "label": "Query", "default": ""}],
    )
    return make_type("wf-json", **{**defaults, **fields})


def output_type(**fields):
    defaults = dict(
        category="output",
        handler="wf_test_output",
        is_available=True,
        auth_kind="webhook_url",
        auth_schema=[{"name": "url", "type": "secret_url", "label": "URL", "required": True}],
        output_schema=[{"name": "channel", "type": "text", "label": "Channel"}],
        supports_scheduling=False,
        rate_limit_per_minute=None,
    )
    return make_type("wf-out", **{**defaults, **fields})


def query_integration(owner, url: str, name="Search", **type_fields):
    return make_integration(owner, query_type(**type_fields), name=name, config={"url": url})


def output_integration(owner, url: str, name="Hook", **type_fields):
    return make_integration(owner, output_type(**type_fields), name=name, secrets={"url": url})


def make_workflow(owner, name="Daily digest", **fields) -> Workflow:
    return Workflow.objects.create(owner=owner, name=name, **fields)


def add_source(workflow, integration, config=None, **fields) -> WorkflowSource:
    """A source step as the editor saves it: kind from the connector, config cleaned by its schema."""
    step = steps.source_step_for(integration)
    cleaned = schema.clean(step.schema(integration), config or {})
    assert cleaned.ok, cleaned.errors
    position = workflow.sources.count() + 1
    return WorkflowSource.objects.create(
        workflow=workflow, integration=integration, kind=step.kind, config=cleaned.values, position=position, **fields
    )


def add_output(workflow, integration, config=None, **fields) -> WorkflowOutput:
    step = steps.output_step_for(integration)
    cleaned = schema.clean(step.schema(integration), config or {})
    assert cleaned.ok, cleaned.errors
    position = workflow.outputs.count() + 1
    return WorkflowOutput.objects.create(
        workflow=workflow, integration=integration, config=cleaned.values, position=position, **fields
    )
