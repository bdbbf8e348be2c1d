"""Small helpers shared by the cloud API connectors (GitHub, Open-Meteo, Perplexity, Slack,
Discord, Mailchimp, Notion, Airtable, generic webhooks).

API base URLs
    Every connector builds its provider URLs from `api_base(name, default)`. The hidden setting
    CONNECTOR_API_BASES (a dict, empty by default) replaces a default base, e.g.
        CONNECTOR_API_BASES = {"github": "http://127.0.0.1:8123"}
    The test suite uses it to point a connector at its contract fake (tests/fakes/); an operator
    could use it for GitHub Enterprise ("github": "https://ghe.example.com/api/v3"). Names:
    github, open_meteo, perplexity, slack (Web API), slack_hooks (incoming webhooks), discord,
    mailchimp (replaces https://<dc>.api.mailchimp.com/3.0), notion, airtable, ynab
    (https://api.ynab.com/v1), todoist (https://api.todoist.com/api/v1), trello
    (https://api.trello.com, without /1), google (every Google API base). An OAuth connection's app
    may set its own api_base_url (admin), which wins. An overridden host still goes through the
    SSRF guard like any other.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings

from connectors.base import Batch, Delivery
from connectors.errors import classify
from connectors.http import HttpClient


def api_base(name: str, default: str, ctx=None) -> str:
    """The provider API base every connector builds its URLs from: the OAuth app's api_base_url when
    the connection's token provider has one (set by staff in the admin), else
    CONNECTOR_API_BASES[name], else the provider's default."""
    tokens = getattr(ctx, "tokens", None)
    override = getattr(tokens, "api_base_url", "") if tokens is not None else ""
    override = override or (settings.CONNECTOR_API_BASES or {}).get(name)
    return str(override or default).rstrip("/")


def merged_config(connector, config: dict | None) -> dict:
    """The integration's settings overlaid with one workflow step's settings (the step wins)."""
    return {**(connector.config or {}), **{k: v for k, v in (config or {}).items() if v not in (None, "")}}


def json_or_empty(response) -> dict:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"_list": value}


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    text = text or ""
    return text if len(text) <= limit else text[: max(0, limit - len(ellipsis))].rstrip() + ellipsis


def same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def retrying_client(ctx) -> HttpClient:
    """A client like ctx.http (same guard, rate-limit windows, caps) that also retries POSTs on
    5xx and dropped connections. Only for calls that are safe to repeat: a request without side
    effects (Perplexity answers a question) or one the receiver can deduplicate (a webhook with an
    idempotency key). Close it with the connector."""
    return HttpClient(ctx.http.policy.derive(retry_unsafe=True))


def dumps(value) -> bytes:
    """Compact UTF-8 JSON; dates and datetimes as ISO 8601."""
    from django.core.serializers.json import DjangoJSONEncoder

    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


ANY_STATUS = range(100, 600)


def deliver_each(items, send_one, *, unit: str = "message", cards_in=None):
    """Send items one by one; send_one(item) returns the provider's id for it (or "").

    `delivered` counts cards, in order: an item carries one card unless cards_in(item) says how
    many (a Discord message packs several embeds, an Airtable request several records). When one
    item fails after others went out, the error (classified, whatever send_one raised) says how
    many were delivered and carries them as `error.delivery`, so the caller can record the partial
    result and retry only the rest instead of resending everything (which would post duplicates)."""
    items = list(items)
    delivery = Delivery()
    for done, item in enumerate(items):
        try:
            external_id = send_one(item)
        except Exception as exc:
            error = classify(exc)
            if done:
                error.message = f"{done} of {len(items)} {unit}s were delivered before this error: {error.message}"
                error.args = (error.message,)
            error.delivery = delivery
            if error is exc:
                raise
            raise error from exc
        delivery.delivered += cards_in(item) if cards_in else 1
        if external_id:
            delivery.external_ids.append(str(external_id))
    return delivery


class QueryAsSync:
    """For a direct-query source that can also sync on a schedule: each sync stores what a fresh
    query returns, keyed by the records' stable external ids, so unchanged records cost nothing
    (the engine's content hash) and new ones appear. By default nothing is deleted: a forecast
    day or a scraped entry that drops off the page stays in the history. A connector whose query
    lists a whole collection (a table, a database) sets mirrors_source = True: records gone from
    a complete listing are then deleted too; a listing cut at a cap sets self.truncated and
    deletes nothing. Mix in before Connector."""

    mirrors_source = False
    truncated = False

    def list_changes(self, cursor):
        records = self.query({})
        deletes = []
        if self.mirrors_source and not self.truncated:
            deletes = sorted(self.ctx.known_ids() - {r.external_id for r in records})
        yield Batch(items=records, deletes=deletes, cursor=cursor, total=len(records))

    def transform(self, raw):
        return raw
