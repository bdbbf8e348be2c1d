"""Mailchimp: one email campaign per delivery, built from the workflow's cards, for the chosen
audience; left as a draft (the default), scheduled, or sent at once.

    POST /campaigns {type: regular, recipients: {list_id}, settings: {subject_line, from_name,
                     reply_to, title}}
    PUT  /campaigns/{id}/content {html}
    POST /campaigns/{id}/actions/send, or /actions/schedule {schedule_time} (a quarter hour, UTC)

The data centre comes from the API key's suffix ("...-us21" -> https://us21.api.mailchimp.com/3.0),
with HTTP basic auth (any user name, the key as password). Errors are problem+json documents
({"title", "status", "detail", "errors": [{"field", "message"}]}): 401 is a refused key, 400 a
setting to fix (the field named when Mailchimp names it). When a step fails after the campaign
was created, the half-made draft is deleted so a retry does not leave duplicates behind. Merge
tags (*|...|*) in the cards' text are made inert: only the hub's own footer tags are evaluated.

Docs: https://mailchimp.com/developer/marketing/api/campaigns/,
https://mailchimp.com/developer/marketing/api/campaign-content/,
https://mailchimp.com/developer/marketing/docs/errors/, https://mailchimp.com/developer/marketing/api/ping/
"""

from __future__ import annotations

import contextlib
import datetime
import html
import re

from connectors.base import Connector, Delivery, OutgoingCard
from connectors.errors import AuthError, ConfigError, ConnectorError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, json_or_empty, merged_config, truncate

KEY_RE = re.compile(r"^[0-9a-f]{8,}-(?P<dc>[a-z]{2,4}\d{1,3})$")
FIELDS = {
    "recipients.list_id": "list_id",
    "settings.reply_to": "reply_to",
    "settings.from_name": "from_name",
    "settings.subject_line": "subject",
    "schedule_time": "schedule_time",
}
FOOTER = (
    '<p style="font-size:12px;color:#6b7280">You receive this because you subscribed to *|LIST:COMPANY|*. '
    '<a href="*|UNSUB|*">Unsubscribe</a> · <a href="*|UPDATE_PROFILE|*">Update your preferences</a></p>'
)


def next_quarter_hour(value: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """The next "HH:MM" (UTC, minutes 00/15/30/45) at least five minutes from now."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value or "")
    if not match or int(match.group(1)) > 23 or int(match.group(2)) not in (0, 15, 30, 45):
        raise ConfigError(
            "Mailchimp schedules on a quarter hour: give a time such as 09:00, 09:15, 09:30 or 09:45 (UTC).",
            field="schedule_time",
        )
    now = now or datetime.datetime.now(datetime.UTC)
    when = now.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)
    return when if when >= now + datetime.timedelta(minutes=5) else when + datetime.timedelta(days=1)


def inert_merge_tags(fragment: str) -> str:
    """Mailchimp evaluates every *|TAG|* in a campaign when it sends it (a subscriber's address,
    conditions, *|FEEDBLOCK:url|* pulling in another site's feed). Text synced from elsewhere must
    not be able to write one: its bars become the entity &#124;, which reads (and links) the same."""
    return fragment.replace("*|", "*&#124;").replace("|*", "&#124;*")


def campaign_html(cards: list[OutgoingCard], subject: str) -> str:
    parts = [f'<h1 style="font-family:sans-serif">{html.escape(subject)}</h1>']
    for card in cards:
        title = html.escape(card.title)
        if card.url:
            title = f'<a href="{html.escape(card.url, quote=True)}">{title}</a>'
        body = card.html or "".join(f"<p>{html.escape(p)}</p>" for p in (card.markdown or "").split("\n\n") if p)
        parts.append(inert_merge_tags(f'<h2 style="font-family:sans-serif">{title}</h2>{body}'))
    parts.append(FOOTER)
    return "\n".join(parts)


@registry.register("mailchimp")
class MailchimpConnector(Connector):
    @property
    def base(self) -> str:
        key = (self.secrets.get("api_key") or "").strip()
        match = KEY_RE.match(key)
        if not match:
            raise ConfigError(
                "A Mailchimp API key ends with its data centre, e.g. 0123456789abcdef-us21.",
                field="api_key",
                remediation="Copy the whole key from Profile, Extras, API keys.",
            )
        return api_base("mailchimp", f"https://{match.group('dc')}.api.mailchimp.com/3.0")

    @property
    def data_centre(self) -> str:
        match = KEY_RE.match((self.secrets.get("api_key") or "").strip())
        return match.group("dc") if match else "?"

    def _call(self, method: str, path: str, **kwargs):
        base = self.base
        response = self.http.request(
            method, f"{base}{path}", auth=("metacortex", self.secrets["api_key"].strip()), ok=ANY_STATUS, **kwargs
        )
        if response.status_code >= 300:
            raise self._error(response)
        return json_or_empty(response)

    def test_connection(self) -> str:
        self._call("GET", "/ping")
        list_id = (self.config.get("list_id") or "").strip()
        if list_id:
            audience = self._call("GET", f"/lists/{list_id}", params={"fields": "id,name"})
            return f"Mailchimp {self.data_centre}, audience {audience.get('name', list_id)}"
        lists = self._call("GET", "/lists", params={"fields": "lists.id,lists.name,total_items", "count": 100})
        count = lists.get("total_items", len(lists.get("lists", [])))
        return f"Mailchimp {self.data_centre} ({count} audience{'s' if count != 1 else ''})"

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        for name, label in (
            ("list_id", "Audience ID"),
            ("from_name", "From name"),
            ("reply_to", "Reply-to"),
            ("subject", "Subject"),
        ):
            if not str(settings.get(name) or "").strip():
                raise ConfigError(f"{label} is required for a Mailchimp campaign.", field=name)
        if not cards:
            return Delivery(detail="Nothing to send: no campaign was created.")
        mode = settings.get("send_mode") or "draft"
        when = next_quarter_hour(settings.get("schedule_time", "")) if mode == "schedule" else None
        subject = truncate(settings["subject"].strip(), 150)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        campaign = self._call(
            "POST",
            "/campaigns",
            json={
                "type": "regular",
                "recipients": {"list_id": settings["list_id"].strip()},
                "settings": {
                    "subject_line": subject,
                    "from_name": settings["from_name"].strip(),
                    "reply_to": settings["reply_to"].strip(),
                    "title": truncate(f"{subject} ({stamp}, MetaCortex)", 100),
                },
            },
        )
        campaign_id = campaign["id"]
        try:
            self._call("PUT", f"/campaigns/{campaign_id}/content", json={"html": campaign_html(cards, subject)})
            if mode == "send_now":
                self._call("POST", f"/campaigns/{campaign_id}/actions/send")
                detail = "Campaign sent."
            elif mode == "schedule":
                schedule_time = when.isoformat().replace("+00:00", "Z")
                self._call("POST", f"/campaigns/{campaign_id}/actions/schedule", json={"schedule_time": schedule_time})
                detail = f"Campaign scheduled for {when:%Y-%m-%d %H:%M} UTC."
            else:
                detail = "Draft campaign saved in Mailchimp for you to review and send."
        except ConnectorError:
            self._discard(campaign_id)
            raise
        return Delivery(delivered=len(cards), detail=detail, external_ids=[campaign_id])

    def _discard(self, campaign_id: str):
        with contextlib.suppress(ConnectorError):  # best effort: the error that matters is being raised
            self._call("DELETE", f"/campaigns/{campaign_id}")

    def _error(self, response) -> ConnectorError:
        status, problem = response.status_code, json_or_empty(response)
        title, detail = self.quote(problem.get("title") or f"HTTP {status}", 120), problem.get("detail", "")
        errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
        if status == 401:
            return AuthError(
                f"Mailchimp refused the API key ({title}).",
                field="api_key",
                remediation="Create a new key under Profile, Extras, API keys; keep its -usNN ending.",
            )
        if status == 429:
            return RateLimited("Mailchimp kept asking us to slow down.", retry_after=retry_after_seconds(response))
        if status >= 500:
            return TransientError(f"Mailchimp had an error (HTTP {status}).")
        field = FIELDS.get(errors[0].get("field", "")) if errors else None
        said = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors) if errors else detail
        return ConfigError(f"Mailchimp refused the campaign: {title}. {self.quote(said, 300)}".strip(), field=field)
