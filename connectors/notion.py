"""Notion: workflow results written as new pages, and pages read from shared databases.

Output: POST /v1/pages under a database (the card title in its title property) or a page, with
the card's Markdown as blocks (headings, paragraphs, bulleted and numbered items, quotes, code,
dividers; bold, italic, code, strike-through and links inside). Notion takes at most 100
blocks per request and 2,000 characters per text object: the first 100 blocks go with the page,
the rest are appended with PATCH /v1/blocks/{page_id}/children. When a "delivery key" property
is configured (a text column of the database), each card's idempotency key is written there and
a card whose key is already in the database is not created again.

Source: POST /v1/databases/{id}/query for each configured database (or POST /v1/search for every
page shared with the integration), one record per page with its properties as text.

Errors ({"object": "error", "status", "code", "message"}): unauthorized -> AuthError;
object_not_found / restricted_resource -> share the page with the integration; validation_error
-> the message, e.g. a wrong title property; rate_limited (429 + Retry-After) is waited out.

Docs: https://developers.notion.com/reference/post-page,
https://developers.notion.com/reference/patch-block-children,
https://developers.notion.com/reference/post-database-query, https://developers.notion.com/reference/post-search,
https://developers.notion.com/reference/request-limits, https://developers.notion.com/reference/status-codes
"""

from __future__ import annotations

import datetime
import re

from connectors.base import Connector, Delivery, OutgoingCard, Record
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, api_base, deliver_each, json_or_empty, merged_config

NOTION_VERSION = "2022-06-28"
TEXT_MAX, RICH_MAX, BLOCKS_PER_REQUEST, PAGES_MAX = 2000, 100, 100, 500
INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`|\[(?P<label>[^\]\n]+)\]\((?P<url>https?://[^)\s]+)\)|\*\*(?P<bold>.+?)\*\*"
    r"|~~(?P<strike>.+?)~~|(?<![\w*])\*(?P<italic>[^*\n]+?)\*(?![\w*])|(?<!\w)_(?P<italic2>[^_\n]+?)_(?!\w)"
)


def rich_text(text: str) -> list[dict]:
    """Inline Markdown -> Notion rich text objects, each at most 2,000 characters."""
    parts, position = [], 0
    for match in INLINE.finditer(text):
        if match.start() > position:
            parts.append((text[position : match.start()], {}, None))
        if match.group("code"):
            parts.append((match.group("code"), {"code": True}, None))
        elif match.group("label"):
            parts.append((match.group("label"), {}, match.group("url")))
        elif match.group("bold"):
            parts.append((match.group("bold"), {"bold": True}, None))
        elif match.group("strike"):
            parts.append((match.group("strike"), {"strikethrough": True}, None))
        else:
            parts.append((match.group("italic") or match.group("italic2"), {"italic": True}, None))
        position = match.end()
    if position < len(text):
        parts.append((text[position:], {}, None))
    objects = []
    for content, marks, url in parts:
        for start in range(0, len(content), TEXT_MAX):
            item: dict = {"type": "text", "text": {"content": content[start : start + TEXT_MAX]}}
            if url:
                item["text"]["link"] = {"url": url}
            if marks:
                item["annotations"] = marks
            objects.append(item)
    return objects[:RICH_MAX]


def _block(kind: str, text: str, **extra) -> dict:
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text), **extra}}


def markdown_blocks(markdown: str) -> list[dict]:
    blocks, paragraph, code, fence_lang = [], [], None, ""

    def flush():
        if paragraph:
            text = "\n".join(paragraph)
            # A paragraph longer than 100 rich text objects allow is split into several.
            for start in range(0, len(text), TEXT_MAX * 50):
                blocks.append(_block("paragraph", text[start : start + TEXT_MAX * 50]))
            paragraph.clear()

    for line in (markdown or "").split("\n"):
        if code is not None:
            if line.strip().startswith("```"):
                text = "\n".join(code)
                chunks = [text[i : i + TEXT_MAX] for i in range(0, len(text), TEXT_MAX)] or [""]
                rich = [{"type": "text", "text": {"content": c}} for c in chunks][:RICH_MAX]
                blocks.append(
                    {
                        "object": "block",
                        "type": "code",
                        "code": {"rich_text": rich, "language": fence_lang or "plain text"},
                    }
                )
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*$", stripped)
        bullet = re.match(r"^[-*+]\s+(.*)$", stripped)
        numbered = re.match(r"^\d+[.)]\s+(.*)$", stripped)
        if stripped.startswith("```"):
            flush()
            code, fence_lang = [], stripped[3:].strip().lower()
        elif not stripped:
            flush()
        elif heading:
            flush()
            blocks.append(_block(f"heading_{min(len(heading.group(1)), 3)}", heading.group(2)))
        elif re.fullmatch(r"(-{3,}|\*{3,}|_{3,})", stripped):
            flush()
            blocks.append({"object": "block", "type": "divider", "divider": {}})
        elif bullet:
            flush()
            blocks.append(_block("bulleted_list_item", bullet.group(1)))
        elif numbered:
            flush()
            blocks.append(_block("numbered_list_item", numbered.group(1)))
        elif stripped.startswith(">"):
            flush()
            blocks.append(_block("quote", stripped.lstrip(">").strip()))
        else:
            paragraph.append(stripped)
    if code is not None:  # an unclosed fence keeps its text
        paragraph.extend(code)
    flush()
    return blocks


def page_id_from(value: str) -> str:
    """A Notion ID from an ID or a page address (the 32 hex digits at its end), dashed."""
    match = re.search(
        r"([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})(?:\?|$|#)",
        (value or "").strip(),
    )
    if not match:
        raise ConfigError(
            "That is not a Notion page or database ID.",
            field="parent_id",
            remediation="Copy the 32-character ID at the end of the page's web address (or the whole address).",
        )
    return "-".join(match.groups()).lower()


def _plain(rich: list) -> str:
    return "".join(part.get("plain_text") or part.get("text", {}).get("content", "") for part in rich or [])


def property_text(prop: dict) -> str | float | bool | list | None:
    kind = prop.get("type")
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return _plain(value)
    if kind in ("select", "status"):
        return (value or {}).get("name")
    if kind == "multi_select":
        return [v.get("name") for v in value or []]
    if kind == "date":
        return (value or {}).get("start")
    if kind == "people":
        return [p.get("name") or p.get("id") for p in value or []]
    if kind == "formula":
        return (value or {}).get((value or {}).get("type"))
    if kind == "relation":
        return [r.get("id") for r in value or []]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@registry.register("notion")
class NotionConnector(QueryAsSync, Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"notion_page": "note"}
    # Notion limits each integration (the token the person created) to about three requests a
    # second on average (developers.notion.com/reference/request-limits).
    rate_limit_scope = "token"
    mirrors_source = True  # pages deleted or unshared in Notion are deleted here on the next sync

    @property
    def base(self) -> str:
        return api_base("notion", "https://api.notion.com")

    def _call(self, method: str, path: str, **kwargs) -> dict:
        token = self.secrets.get("token")
        if not token:
            raise AuthError("No Notion integration token is set.", field="token")
        headers = {"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION}
        response = self.http.request(method, f"{self.base}/v1{path}", headers=headers, ok=ANY_STATUS, **kwargs)
        data = json_or_empty(response)
        if response.status_code == 200:
            return data
        raise self._error(response, data)

    def test_connection(self) -> str:
        me = self._call("GET", "/users/me")
        workspace = (me.get("bot") or {}).get("workspace_name")
        return f"{me.get('name') or 'Notion integration'}{f' in {workspace}' if workspace else ''}"

    # Output ------------------------------------------------------------------------------------

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        parent_id = page_id_from(settings.get("parent_id", ""))
        in_database = (settings.get("parent_type") or "database") == "database"
        title_property = (settings.get("title_property") or "Name").strip() if in_database else "title"
        key_property = (settings.get("key_property") or "").strip() if in_database else ""
        skipped = []

        def create(card: OutgoingCard) -> str:
            if key_property and card.key and (existing := self._find_by_key(parent_id, key_property, card.key)):
                skipped.append(existing)
                return existing
            properties = {title_property: {"title": rich_text(card.title or "Untitled")}}
            if key_property and card.key:
                properties[key_property] = {"rich_text": [{"type": "text", "text": {"content": card.key[:TEXT_MAX]}}]}
            blocks = markdown_blocks(card.markdown)
            if card.url:
                blocks.append(_block("paragraph", f"[Source]({card.url})"))
            parent = {"database_id": parent_id} if in_database else {"page_id": parent_id}
            page = self._call(
                "POST",
                "/pages",
                json={"parent": parent, "properties": properties, "children": blocks[:BLOCKS_PER_REQUEST]},
            )
            for start in range(BLOCKS_PER_REQUEST, len(blocks), BLOCKS_PER_REQUEST):
                self._call(
                    "PATCH",
                    f"/blocks/{page['id']}/children",
                    json={"children": blocks[start : start + BLOCKS_PER_REQUEST]},
                )
            return page["id"]

        delivery = deliver_each(cards, create, unit="page")
        created = delivery.delivered - len(skipped)
        delivery.detail = f"{created} page{'s' if created != 1 else ''} created"
        if skipped:
            delivery.detail += f"; {len(skipped)} already there (same delivery key), not duplicated"
        delivery.detail += "."
        return delivery

    def _find_by_key(self, database_id: str, key_property: str, key: str) -> str | None:
        found = self._call(
            "POST",
            f"/databases/{database_id}/query",
            json={"filter": {"property": key_property, "rich_text": {"equals": key}}, "page_size": 1},
        )
        results = found.get("results") or []
        return results[0]["id"] if results else None

    # Source ------------------------------------------------------------------------------------

    def query(self, config: dict) -> list[Record]:
        settings = merged_config(self, config)
        databases = settings.get("databases") or []
        if isinstance(databases, str):
            databases = [d for d in re.split(r"[\s,]+", databases) if d]
        pages = []
        if databases:
            for database in databases:
                pages += self._pages(f"/databases/{page_id_from(database)}/query", {})
        else:
            pages = self._pages("/search", {"filter": {"property": "object", "value": "page"}})
        return [self._record(page) for page in pages]

    def _pages(self, path: str, body: dict) -> list[dict]:
        pages, cursor = [], None
        while True:
            data = self._call(
                "POST", path, json={**body, "page_size": 100, **({"start_cursor": cursor} if cursor else {})}
            )
            pages += [r for r in data.get("results") or [] if r.get("object") == "page"]
            cursor = data.get("next_cursor")
            if not data.get("has_more"):
                return pages
            if not cursor:  # more was announced but cannot be fetched: the listing is incomplete
                self.truncated = True
                return pages
            if len(pages) >= PAGES_MAX:
                self.truncated = True
                return pages[:PAGES_MAX]
            self.ctx.heartbeat()

    def _record(self, page: dict) -> Record:
        properties = {name: property_text(prop) for name, prop in (page.get("properties") or {}).items()}
        title = next(
            (_plain(p.get("title")) for p in (page.get("properties") or {}).values() if p.get("type") == "title"), ""
        )
        edited = page.get("last_edited_time")
        return Record(
            external_id=page["id"],
            kind="notion_page",
            title=title or "Untitled",
            occurred_at=datetime.datetime.fromisoformat(edited.replace("Z", "+00:00")) if edited else None,
            source_url=page.get("url", ""),
            version=edited or "",
            data={"properties": properties, "parent": page.get("parent"), "archived": page.get("archived", False)},
        )

    # Errors ------------------------------------------------------------------------------------

    def _error(self, response, data: dict):
        status, code = response.status_code, self.quote(data.get("code", ""), 60)
        message = self.quote(data.get("message", ""))
        if status == 401 or code == "unauthorized":
            return AuthError(
                "Notion refused the integration token.",
                field="token",
                remediation="Copy the token again from notion.so/profile/integrations (it changes if regenerated).",
            )
        if code in ("object_not_found", "restricted_resource") or status in (403, 404):
            return ConfigError(
                f"Notion cannot reach that page or database ({message or code}).",
                field="parent_id",
                remediation="Share the page or database with your integration (••• menu, Connections); check the ID.",
            )
        if status == 429 or code == "rate_limited":
            return RateLimited("Notion kept asking us to slow down.", retry_after=retry_after_seconds(response))
        if status >= 500 or code == "conflict_error":
            return TransientError(f"Notion had a temporary problem ({code or f'HTTP {status}'}).")
        field = "title_property" if "property" in message.lower() else None
        return ConfigError(f"Notion did not accept the page: {message or code or f'HTTP {status}'}", field=field)
