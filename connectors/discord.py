"""Discord output: execute a channel webhook, with embeds.

Cards become embeds (title, description in Discord's own Markdown, link, tags and due date as
fields), packed ten to a message and at most 6,000 characters of embed text per message, as
Discord requires; with embeds off, each card is one plain message of at most 2,000 characters.
Mentions are never parsed (allowed_mentions), so a card cannot ping @everyone.

Rate limits: the blueprint's burst window (5 per 2 s) and 30 per minute space the posts. A 429
is waited out by the HTTP client when it has a Retry-After header; when only the JSON body says
how long ({"retry_after": 0.53, "global": false}), the client has already retried on its own
backoff, so the connector then sleeps the body's retry_after and tries once more.

Docs: https://discord.com/developers/docs/resources/webhook#execute-webhook,
https://discord.com/developers/docs/resources/webhook#get-webhook-with-token,
https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from django.conf import settings as django_settings

from connectors.base import Connector, Delivery, OutgoingCard
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, deliver_each, json_or_empty, merged_config, truncate

WEBHOOK_RE = re.compile(r"^https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/[\w-]+/?$")
EMBEDS_PER_MESSAGE, EMBED_TOTAL, CONTENT_MAX = 10, 6000, 2000
TITLE_MAX, DESCRIPTION_MAX, FIELD_VALUE_MAX = 256, 4096, 1024
COLOR = 0x4F46E5


CUT_NOTE = "… (cut: the rest did not fit in a Discord message)"


def cut(text: str, limit: int) -> str:
    """Text within Discord's limit; when it had to be cut, its end says so."""
    text = text or ""
    return text if len(text) <= limit else text[: max(0, limit - len(CUT_NOTE))].rstrip() + CUT_NOTE


def embed_for(card: OutgoingCard) -> dict:
    embed: dict = {"title": truncate(card.title or "Update", TITLE_MAX), "color": COLOR}
    if card.markdown:
        embed["description"] = cut(card.markdown, DESCRIPTION_MAX)
    if card.url:
        embed["url"] = card.url
    fields = []
    if card.tags:
        fields.append({"name": "Tags", "value": truncate(", ".join(card.tags), FIELD_VALUE_MAX), "inline": True})
    if card.due:
        fields.append({"name": "Due", "value": _when(card.due), "inline": True})
    if fields:
        embed["fields"] = fields
    if isinstance(card.due, datetime.datetime):
        embed["timestamp"] = card.due.isoformat()
    return embed


def _when(value) -> str:
    if isinstance(value, datetime.datetime):
        return f"<t:{int(value.timestamp())}:f>"  # rendered in each reader's own time zone
    return value.isoformat()


def checked_username(name: str) -> str:
    """The display name a webhook posts under: at most 80 characters, and never containing
    "discord" or "clyde", which Discord refuses (docs: Webhook, Create Webhook)."""
    if found := re.search("clyde|discord", name, re.I):
        raise ConfigError(
            f"The display name “{truncate(name, 80)}” cannot contain “{found.group(0)}”: Discord refuses it.",
            field="username",
            remediation="Choose another display name for the posts (or leave it empty to use the webhook's own).",
        )
    return truncate(name, 80)


def embed_size(embed: dict) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def pack(embeds: list[dict]) -> list[list[dict]]:
    """Embeds grouped into messages: at most 10 each and 6,000 characters of embed text."""
    messages, current, size = [], [], 0
    for embed in embeds:
        length = embed_size(embed)
        if current and (len(current) == EMBEDS_PER_MESSAGE or size + length > EMBED_TOTAL):
            messages.append(current)
            current, size = [], 0
        current.append(embed)
        size += length
    if current:
        messages.append(current)
    return messages


def plain_message(card: OutgoingCard) -> str:
    """At most 2,000 characters: the title (as an embed's, at most 256), the text cut to what is left
    with a note when cut, and the link, which leads to the whole of it."""
    link = f"\n<{card.url}>" if card.url and len(card.url) <= CONTENT_MAX // 2 else ""
    head = f"**{truncate(card.title, TITLE_MAX)}**\n" if card.title else ""
    return head + cut(card.markdown, CONTENT_MAX - len(head) - len(link)) + link


@registry.register("discord")
class DiscordConnector(Connector):
    def webhook_url(self) -> str:
        url = (self.secrets.get("url") or "").strip().rstrip("/")
        override = api_base("discord", "https://discord.com/api")
        local = re.match(re.escape(override) + r"(?:/v\d+)?/webhooks/\d+/[\w-]+$", url)
        if not (WEBHOOK_RE.match(url) or local):
            raise ConfigError(
                "That is not a Discord webhook address.",
                field="url",
                remediation="Copy the URL from the channel's Integrations, Webhooks: https://discord.com/api/webhooks/...",
            )
        return url

    def test_connection(self) -> str:
        # Get Webhook with Token reads the webhook without posting anything.
        response = self.http.get(self.webhook_url(), ok=ANY_STATUS)
        self._check(response)
        data = json_or_empty(response)
        return f"{data.get('name') or 'Webhook'} (channel {data.get('channel_id', '?')}; no message was sent)"

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        url = self.webhook_url()
        base: dict = {"allowed_mentions": {"parse": []}}
        if username := str(settings.get("username") or "").strip():
            base["username"] = checked_username(username)
        if settings.get("use_embeds", True) in (False, "false", "False", "0"):
            payloads = [{**base, "content": plain_message(card)} for card in cards]
        else:
            zone = self.ctx.zone()  # a due time without a zone is the person's own hour
            dated = [
                dataclasses.replace(c, due=c.due.replace(tzinfo=zone))
                if isinstance(c.due, datetime.datetime) and c.due.tzinfo is None
                else c
                for c in cards
            ]
            payloads = [{**base, "embeds": group} for group in pack([embed_for(c) for c in dated])]
        # One message packs several embeds: count cards, so a retry after a failure part-way
        # resends only the cards whose message did not go out.
        delivery = deliver_each(
            payloads, lambda payload: self._execute(url, payload), cards_in=lambda p: len(p.get("embeds") or []) or 1
        )
        delivery.detail = f"{len(payloads)} message{'s' if len(payloads) != 1 else ''} posted."
        return delivery

    def _execute(self, url: str, payload: dict) -> str:
        response = self.http.post(url, params={"wait": "true"}, json=payload, ok=ANY_STATUS, allow_redirects=False)
        if response.status_code == 429:
            wait = _body_retry_after(response)
            if wait is not None and wait <= django_settings.SYNC_MAX_WAIT and not response.headers.get("Retry-After"):
                self.http.policy.sleep(wait)
                response = self.http.post(
                    url, params={"wait": "true"}, json=payload, ok=ANY_STATUS, allow_redirects=False
                )
        self._check(response)
        return str(json_or_empty(response).get("id", ""))

    def _check(self, response):
        status = response.status_code
        if 200 <= status < 300:
            return
        data = json_or_empty(response)
        message, code = data.get("message", ""), data.get("code")
        if status == 404 or code == 10015:
            raise AuthError(
                "The Discord webhook was deleted (Unknown Webhook).",
                field="url",
                remediation="Create a new webhook in the channel's settings and paste its URL.",
            )
        if status == 401 or code == 50027:
            raise AuthError(
                "Discord refused the webhook's token (Invalid Webhook Token).",
                field="url",
                remediation="The webhook URL was changed or regenerated: paste the current one.",
            )
        if status == 429:
            wait = retry_after_seconds(response)
            raise RateLimited(
                "Discord kept rate limiting the webhook.",
                retry_after=_body_retry_after(response) if wait is None else wait,
            )
        if status >= 500:
            raise TransientError(f"Discord had an error (HTTP {status}).")
        detail = _first_error(data.get("errors")) or message or f"HTTP {status}"
        raise ConfigError(
            f"Discord refused the message: {self.quote(detail)}",
            remediation="This is likely a bug in the hub's message layout; report it with the workflow's name.",
        )


def _body_retry_after(response) -> float | None:
    value = json_or_empty(response).get("retry_after")
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def _first_error(errors, path: str = "") -> str:
    """Discord nests field errors: {"embeds": {"0": {"description": {"_errors": [{"message": ...}]}}}}."""
    if not isinstance(errors, dict):
        return ""
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list) and value:
            return f"{path or 'body'}: {value[0].get('message', '')}"
        found = _first_error(value, f"{path}.{key}" if path else key)
        if found:
            return found
    return ""
