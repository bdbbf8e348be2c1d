"""Slack output: an incoming webhook (type "slack"), or chat.postMessage with a bot token when
the integration was connected by OAuth (type "slack-bot", through the hub's generic OAuth flow:
its token provider supplies the bot token and, when the OAuth app sets one, the API base).

Each card becomes one message in Block Kit: a header with the title, sections with the text in
Slack's mrkdwn (converted from Markdown), and a context line with the link and tags; `text`
carries a plain fallback for notifications. Slack allows about one message per second per
channel: the blueprint's burst window (1 per 1 s) spaces the posts, and a 429's Retry-After is
waited out by the HTTP client.

Docs: https://api.slack.com/messaging/webhooks (webhook errors: 400 invalid_payload / no_text,
403 action_prohibited, 404 channel_not_found / no_service, 410 channel_is_archived, 500
rollup_error), https://api.slack.com/methods/chat.postMessage (HTTP 200 with {"ok": false,
"error": ...}; HTTP 429 + Retry-After when rate limited), https://api.slack.com/methods/auth.test
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from connectors.base import Connector, Delivery, OutgoingCard
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, deliver_each, json_or_empty, merged_config, truncate

HOOKS_DEFAULT = "https://hooks.slack.com"
API_DEFAULT = "https://slack.com/api"
HEADER_MAX, SECTION_MAX, BLOCKS_MAX, FALLBACK_MAX = 150, 3000, 50, 3000

WEBHOOK_ERRORS = {
    "no_service": (
        AuthError,
        "The Slack webhook was revoked or deleted.",
        "Create a new incoming webhook in Slack and paste its URL.",
    ),
    "no_service_id": (AuthError, "The Slack webhook address is incomplete.", "Paste the whole webhook URL from Slack."),
    "invalid_token": (
        AuthError,
        "Slack refused the webhook's token.",
        "Create a new incoming webhook in Slack and paste its URL.",
    ),
    "no_team": (
        AuthError,
        "The Slack workspace of this webhook no longer exists.",
        "Create a webhook in an existing workspace.",
    ),
    "team_disabled": (
        AuthError,
        "The Slack workspace of this webhook is disabled.",
        "Create a webhook in an active workspace.",
    ),
    "channel_not_found": (
        ConfigError,
        "The webhook's Slack channel no longer exists.",
        "Create a new webhook for an existing channel.",
    ),
    "channel_is_archived": (
        ConfigError,
        "The webhook's Slack channel is archived.",
        "Unarchive the channel, or create a webhook for another one.",
    ),
    "action_prohibited": (
        ConfigError,
        "The Slack workspace does not allow this webhook to post here.",
        "Ask a workspace admin to allow the app, or pick another channel.",
    ),
    "user_not_found": (ConfigError, "The user this webhook posts to does not exist.", "Create a new webhook in Slack."),
}
API_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission"}
API_CONFIG_ERRORS = {
    "channel_not_found": "Check the channel name or ID; for a private channel, invite the app first.",
    "not_in_channel": "Invite the app to the channel (type /invite @YourApp in it), then run again.",
    "is_archived": "Unarchive the channel, or choose another one.",
    "restricted_action": "A workspace setting stops the app from posting there; ask an admin.",
}
API_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}


def mrkdwn(markdown: str) -> str:
    """Markdown -> Slack mrkdwn: **b** -> *b*, *i* -> _i_, ~~s~~ -> ~s~, [t](u) -> <u|t>,
    headings -> bold lines, list bullets -> •; code is kept; & < > are escaped as Slack asks."""
    out = []
    for index, part in enumerate(re.split(r"(```.*?```)", markdown or "", flags=re.S)):
        out.append(_escape(part) if index % 2 else _inline_lines(part))
    return "".join(out).strip()


# Slack parses a plain @channel, @here or @everyone in mrkdwn (and in the fallback text that
# notifications show) as the mention itself; a word joiner after the @ keeps the word as it reads.
PLAIN_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.I)


def _escape(text: str) -> str:
    """Synced text as literal mrkdwn: & < > escaped as Slack asks (so "<!channel>" or "<@U123>"
    stays text) and group mentions written plainly defused: no card can ping a channel."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return PLAIN_MENTION.sub("@\u2060", text)


def _inline_lines(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        bullet = re.match(r"^(\s*)[-*+]\s+(.*)$", line)
        if heading:
            lines.append(f"\x02{_inline(heading.group(1))}\x02")
        elif bullet:
            lines.append(f"{bullet.group(1)}• {_inline(bullet.group(2))}")
        else:
            lines.append(_inline(line))
    return "\n".join(lines).replace("\x02", "*")


def _inline(text: str) -> str:
    codes: list[str] = []

    def keep(match):
        codes.append(match.group(0))
        return f"\x00{len(codes) - 1}\x00"

    text = re.sub(r"`[^`\n]+`", keep, text)
    text = _escape(text)
    text = re.sub(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)", lambda m: keep_link(m, codes), text)
    text = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", "\x02\\2\x02", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"_\1_", text)
    text = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"~\1~", text)
    text = text.replace("\x02", "*")
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


def keep_link(match, codes: list[str]) -> str:
    label, url = match.group(1), match.group(2).replace("|", "%7C")
    codes.append(f"<{url}|{label}>")
    return f"\x00{len(codes) - 1}\x00"


def _cut_at(text: str) -> int:
    """Where to cut text longer than a section: at most SECTION_MAX characters, never inside a
    link or mention (<...>) or an escaped character (&amp;), at a space when one is near."""
    cut = SECTION_MAX
    opened = text.rfind("<", 0, cut)
    if opened > text.rfind(">", 0, cut) and opened > 0:
        cut = opened
    amp = text.rfind("&", max(0, cut - 5), cut)
    if amp > 0 and ";" not in text[amp:cut]:
        cut = amp
    space = text.rfind(" ", 0, cut)
    return space + 1 if space > cut - 200 else cut


def _sections(text: str) -> list[str]:
    chunks, current = [], ""
    for paragraph in text.split("\n\n"):
        while len(paragraph) > SECTION_MAX:  # one enormous paragraph: cut it
            if current:
                chunks.append(current)
                current = ""
            cut = _cut_at(paragraph)
            chunks.append(paragraph[:cut])
            paragraph = paragraph[cut:]
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) > SECTION_MAX:
            chunks.append(current)
            current = paragraph
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def message_for(card: OutgoingCard) -> dict:
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(card.title or "Update", HEADER_MAX)}}
    ]
    body = mrkdwn(card.markdown)
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in _sections(body)]
    context = []
    if card.url:
        context.append(f"<{card.url.replace('|', '%7C')}|Open link>")
    if card.tags:
        context.append(" ".join(f"`{_escape(t)}`" for t in card.tags))
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    if len(blocks) > BLOCKS_MAX:
        # Slack refuses more than 50 blocks: the text is cut, and its last shown block says so.
        kept = blocks[: BLOCKS_MAX - (2 if context else 1)]
        left = sum(len(b["text"]["text"]) for b in blocks[len(kept) :] if b["type"] == "section")
        where = " Open the link below for all of it." if card.url else ""
        note = f"_… cut here: {left:,} more characters did not fit in one Slack message.{where}_"
        tail = [blocks[-1]] if context else []
        blocks = [*kept, {"type": "section", "text": {"type": "mrkdwn", "text": note}}, *tail]
    plain = re.sub(r"[*_~`]", "", card.markdown or "")
    # The fallback is mrkdwn too (and is what notifications show): escaped like the blocks.
    fallback = _escape(truncate(f"{card.title}\n{plain}".strip(), FALLBACK_MAX))
    return {"text": fallback, "blocks": blocks}


@registry.register("slack")
class SlackConnector(Connector):
    @property
    def uses_bot(self) -> bool:
        return self.ctx.tokens is not None or bool(getattr(self.ctx.credential, "access_token", None))

    @property
    def bot_token(self) -> str:
        if self.ctx.tokens is not None:
            return self.ctx.tokens.access_token()
        return self.ctx.credential.access_token

    @property
    def api(self) -> str:
        override = ""
        if self.ctx.tokens is not None:
            try:  # the OAuth app's API base, when the operator set one
                override = self.ctx.tokens.api_base_url or ""
            except ConfigError:  # no OAuth app any more: the stored bot token still works
                override = ""
        return override.rstrip("/") if override else api_base("slack", API_DEFAULT)

    def webhook_url(self) -> str:
        url = (self.secrets.get("url") or "").strip()
        prefix = api_base("slack_hooks", HOOKS_DEFAULT) + "/services/"
        if not url.startswith(prefix) or len(urlsplit(url).path.strip("/").split("/")) != 4:
            raise ConfigError(
                "That is not a Slack incoming webhook address.",
                field="url",
                remediation="Paste the webhook URL Slack shows under Incoming Webhooks: https://hooks.slack.com/services/...",
            )
        return url

    def test_connection(self) -> str:
        if self.uses_bot:
            data = self._api("auth.test", {})
            return f"{data.get('user', 'app')} in {data.get('team', 'Slack')}"
        parts = urlsplit(self.webhook_url()).path.strip("/").split("/")
        return f"Incoming webhook {parts[1]}/{parts[2]} (address checked; no message was sent)"

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        if self.uses_bot:
            channel = (settings.get("channel") or "").strip()
            if not channel:
                raise ConfigError("Choose the Slack channel to post to.", field="channel")
            delivery = deliver_each(cards, lambda card: self._post_api(channel, card))
            delivery.detail = f"Posted to {channel}."
            return delivery
        url = self.webhook_url()
        username = (settings.get("username") or "").strip()
        delivery = deliver_each(cards, lambda card: self._post_webhook(url, card, username))
        delivery.detail = (
            f"Posted through the webhook{' to ' + settings['channel'] if settings.get('channel') else ''}."
        )
        return delivery

    def _post_webhook(self, url: str, card: OutgoingCard, username: str) -> str:
        payload = message_for(card)
        if username:
            payload["username"] = username  # only legacy webhooks honour it
        response = self.http.post(url, json=payload, ok=ANY_STATUS, allow_redirects=False)
        if response.status_code == 200:
            return card.key
        code = (response.text or "").strip().split()[0] if (response.text or "").strip() else ""
        if code in WEBHOOK_ERRORS:
            kind, message, remediation = WEBHOOK_ERRORS[code]
            raise kind(
                f"{message.rstrip('.')} (HTTP {response.status_code} {code}).", remediation=remediation, field="url"
            )
        if response.status_code == 429:
            raise RateLimited("Slack kept rate limiting the webhook.", retry_after=retry_after_seconds(response))
        if response.status_code >= 500:
            raise TransientError(f"Slack had an error (HTTP {response.status_code}{' ' + code if code else ''}).")
        raise ConfigError(
            f"Slack refused the message (HTTP {response.status_code} {truncate(code, 60)}).",
            remediation="This is likely a bug in the hub's message layout; report it with the workflow's name.",
        )

    def _post_api(self, channel: str, card: OutgoingCard) -> str:
        payload = {"channel": channel, **message_for(card), "unfurl_links": False}
        data = self._api("chat.postMessage", payload)
        return f"{data.get('channel', channel)}:{data.get('ts', '')}"

    def _api(self, method: str, payload: dict) -> dict:
        response = self.http.post(
            f"{self.api}/{method}",
            json=payload,
            headers={"Authorization": f"Bearer {self.bot_token}"},
            ok=ANY_STATUS,
        )
        data = json_or_empty(response)
        if response.status_code == 200 and data.get("ok"):
            return data
        error = data.get("error") or f"HTTP {response.status_code}"
        if response.status_code == 429 or error == "ratelimited":
            raise RateLimited("Slack kept rate limiting the app.", retry_after=retry_after_seconds(response))
        if error in API_AUTH_ERRORS:
            raise AuthError(
                f"Slack refused the app's token ({error}).",
                remediation="Reconnect Slack: the app was removed or its token revoked.",
            )
        if error == "missing_scope":
            raise AuthError(
                "The Slack app is missing the chat:write permission.",
                remediation="Reconnect Slack and allow the app to send messages.",
            )
        if error in API_CONFIG_ERRORS:
            raise ConfigError(
                f"Slack could not post there ({error}).", field="channel", remediation=API_CONFIG_ERRORS[error]
            )
        if error in API_TRANSIENT or response.status_code >= 500:
            raise TransientError(f"Slack had a temporary problem ({error}).")
        raise ConfigError(f"Slack refused the message ({truncate(error, 60)}).")
