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

from markdown_it import MarkdownIt

from connectors.base import Connector, Delivery, OutgoingCard, Record
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, api_base, deliver_each, json_or_empty, merged_config

NOTION_VERSION = "2022-06-28"
TEXT_MAX, RICH_MAX, BLOCKS_PER_REQUEST, PAGES_MAX = 2000, 100, 100, 500
# CommonMark plus ~~strike-through~~ (GFM), parsed by markdown-it: its token stream, not regular
# expressions, decides what is a heading, a list item, code or emphasis. Raw HTML stays text.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough"])
MARKS = {"strong": "bold", "em": "italic", "s": "strikethrough"}
LIST_ITEM = {"bullet_list": "bulleted_list_item", "ordered_list": "numbered_list_item"}


def _text_objects(parts: list[tuple[str, dict, str | None]]) -> list[dict]:
    """(text, annotations, link) runs -> Notion text objects of at most 2,000 characters; adjacent
    runs with the same annotations and link are joined first."""
    merged: list[list] = []
    for content, marks, url in parts:
        if not content:
            continue
        if merged and merged[-1][1] == marks and merged[-1][2] == url:
            merged[-1][0] += content
        else:
            merged.append([content, marks, url])
    objects = []
    for content, marks, url in merged:
        for start in range(0, len(content), TEXT_MAX):
            item: dict = {"type": "text", "text": {"content": content[start : start + TEXT_MAX]}}
            if url:
                item["text"]["link"] = {"url": url}
            if marks:
                item["annotations"] = dict(marks)
            objects.append(item)
    return objects


def _inline_runs(children) -> list[tuple[str, dict, str | None]]:
    """markdown-it inline tokens -> (text, annotations, link) runs."""
    runs, marks, links = [], {}, []
    for token in children or []:
        kind = token.type
        if kind.endswith("_open") and kind[: -len("_open")] in MARKS:
            marks = {**marks, MARKS[kind[: -len("_open")]]: True}
        elif kind.endswith("_close") and kind[: -len("_close")] in MARKS:
            marks = {k: v for k, v in marks.items() if k != MARKS[kind[: -len("_close")]]}
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            links.append(href if href.startswith(("http://", "https://")) else None)
        elif kind == "link_close":
            links.pop() if links else None
        elif kind == "code_inline":
            runs.append((token.content, {**marks, "code": True}, links[-1] if links else None))
        elif kind in ("softbreak", "hardbreak"):
            runs.append(("\n", marks, links[-1] if links else None))
        elif kind == "image" or token.content:  # Notion text cannot hold an image: its description stays
            runs.append((token.content, marks, links[-1] if links else None))
    return runs


def rich_text(text: str) -> list[dict]:
    """Inline Markdown -> Notion rich text objects, each at most 2,000 characters."""
    children = MARKDOWN.parseInline(text or "")[0].children if text else []
    return _text_objects(_inline_runs(children))[:RICH_MAX]


def _blocks_of(kind: str, objects: list[dict], **extra) -> list[dict]:
    """One block, or several when the text needs more than the 100 rich text objects a block takes."""
    chunks = [objects[i : i + RICH_MAX] for i in range(0, len(objects), RICH_MAX)] or [[]]
    return [{"object": "block", "type": kind, kind: {"rich_text": chunk, **extra}} for chunk in chunks]


def _code_block(token) -> dict:
    text = token.content.removesuffix("\n")
    chunks = [text[i : i + TEXT_MAX] for i in range(0, len(text), TEXT_MAX)] or [""]
    rich = [{"type": "text", "text": {"content": chunk}} for chunk in chunks][:RICH_MAX]
    language = (token.info or "").strip().split(" ")[0].lower() or "plain text"
    return {"object": "block", "type": "code", "code": {"rich_text": rich, "language": language}}


def markdown_blocks(markdown: str) -> list[dict]:
    """Markdown -> Notion blocks: headings (1 to 3), paragraphs, bulleted and numbered items (nested
    ones flattened, after their parent), quotes, code and dividers. The paragraphs of one list item
    or quote stay one block, their lines apart."""
    blocks: list[dict] = []
    # The open headings, list items and quotes: [block type, text runs not yet written].
    open_blocks: list[list] = []
    lists: list[str] = []

    def add(runs):
        if not open_blocks:
            blocks.extend(_blocks_of("paragraph", _text_objects(runs)))
            return
        kept = open_blocks[-1][1]
        kept += ([("\n", {}, None)] if kept else []) + runs

    def flush(entry):
        if entry[1]:
            blocks.extend(_blocks_of(entry[0], _text_objects(entry[1])))
            entry[1] = []

    for token in MARKDOWN.parse(markdown or ""):
        kind = token.type
        if kind == "heading_open":
            open_blocks.append([f"heading_{min(int(token.tag[1]), 3)}", []])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if open_blocks:
                flush(open_blocks[-1])  # the parent item comes before its nested items
            lists.append(LIST_ITEM[kind[: -len("_open")]])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            open_blocks.append([lists[-1], []])
        elif kind == "blockquote_open":
            open_blocks.append(["quote", []])
        elif kind in ("heading_close", "list_item_close", "blockquote_close"):
            flush(open_blocks.pop())
        elif kind == "inline":
            add(_inline_runs(token.children))
        elif kind in ("fence", "code_block"):
            if open_blocks:  # code inside an item or a quote stays its text, as code
                add([(token.content.removesuffix("\n"), {"code": True}, None)])
            else:
                blocks.append(_code_block(token))
        elif kind == "hr":
            blocks.append({"object": "block", "type": "divider", "divider": {}})
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
                link = card.url if card.url.startswith(("http://", "https://")) else None
                blocks += _blocks_of("paragraph", _text_objects([("Source", {}, link)]))
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
        guard = PageGuard("Notion")
        while True:
            data = self._call(
                "POST", path, json={**body, "page_size": 100, **({"start_cursor": cursor} if cursor else {})}
            )
            # A page in the trash is gone for the person; search can still list it, flagged (in_trash,
            # or its older alias archived): it is left out, so the sync deletes it here.
            pages += [
                r
                for r in data.get("results") or []
                if r.get("object") == "page" and not r.get("in_trash") and not r.get("archived")
            ]
            if not data.get("has_more"):
                return pages
            cursor = guard.follow(data.get("next_cursor"))
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
