"""Contract fake of the Notion API (pages, block children, database query, search, users/me).

Follows
- https://developers.notion.com/reference/post-page: POST /v1/pages with parent {"database_id"}
  or {"page_id"}, properties (a database row needs its title property; a child page only
  "title"), children of at most 100 blocks.
- https://developers.notion.com/reference/patch-block-children: PATCH /v1/blocks/{id}/children,
  at most 100 blocks.
- https://developers.notion.com/reference/request-limits: rich text content <= 2000 characters,
  arrays <= 100 items; 429 rate_limited with Retry-After.
- https://developers.notion.com/reference/post-database-query and /post-search: page_size,
  start_cursor -> {"object": "list", "results", "has_more", "next_cursor"}; rich_text "equals"
  filters. A page moved to the trash (https://developers.notion.com/reference/trash-page) carries
  "in_trash": true (and its older alias "archived": true); the search index still lists it for
  a while (search is eventually consistent, and takes filter.in_trash), so trash() keeps it in
  search answers with those flags set.
- https://developers.notion.com/reference/status-codes: {"object": "error", "status", "code",
  "message"} with unauthorized (401), restricted_resource (403), object_not_found (404, "Could
  not find database with ID: ... Make sure the relevant pages and databases are shared with your
  integration."), validation_error (400), missing_version (400).
"""

from __future__ import annotations

import uuid

from tests.fakes.contract import ContractFake

TOKEN = "ntn_fake_integration_token"
DATABASE_ID = "8a1f0e3c-5b2d-4c6e-9f70-1a2b3c4d5e6f"
PAGE_ID = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def title_value(text: str) -> list[dict]:
    return [{"type": "text", "text": {"content": text, "link": None}, "plain_text": text, "annotations": {}}]


class NotionFake(ContractFake):
    ROUTES = [
        ("GET", r"/v1/users/me", "me"),
        ("POST", r"/v1/pages", "create_page"),
        ("PATCH", r"/v1/blocks/(?P<block_id>[\w-]+)/children", "append"),
        ("POST", r"/v1/databases/(?P<database_id>[\w-]+)/query", "query_database"),
        ("POST", r"/v1/search", "search"),
    ]

    def __init__(self):
        super().__init__()
        self.schema = {"Name": "title", "Delivery key": "rich_text", "Status": "select", "Due": "date"}
        self.shared_pages = {PAGE_ID}
        # Not the contract: an answer that says has_more but carries no next_cursor (a listing
        # that cannot go on). Tests set it to prove nothing is then taken for deleted.
        self.lose_next_cursor = False
        self.pages: dict[str, dict] = {}  # id -> page (with "children" and "parent")
        self.can_insert = True

    def _error(self, status: int, code: str, message: str):
        body = {"object": "error", "status": status, "code": code, "message": message, "request_id": str(uuid.uuid4())}
        return self.json(body, status=status)

    def _refused(self, request):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "unauthorized", "API token is invalid.")
        if not request.headers.get("Notion-Version"):
            return self._error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, "
                "instead was `undefined`.",
            )
        return None

    def add_row(self, title: str, *, status: str = "", key: str = "", edited: str = "2026-03-01T10:00:00.000Z"):
        page_id = str(uuid.uuid4())
        properties = {"Name": {"id": "title", "type": "title", "title": title_value(title)}}
        properties["Status"] = {"id": "s", "type": "select", "select": {"name": status} if status else None}
        properties["Delivery key"] = {"id": "k", "type": "rich_text", "rich_text": title_value(key) if key else []}
        self.pages[page_id] = {
            "object": "page",
            "id": page_id,
            "parent": {"type": "database_id", "database_id": DATABASE_ID},
            "properties": properties,
            "url": f"https://www.notion.so/{page_id.replace('-', '')}",
            "last_edited_time": edited,
            "archived": False,
            "in_trash": False,
            "children": [],
        }
        return page_id

    def trash(self, page_id: str):
        """The person moves the page to Notion's trash: a database query no longer lists it; search
        still does, flagged."""
        self.pages[page_id].update(archived=True, in_trash=True)

    def me(self, request, seen):
        if refused := self._refused(request):
            return refused
        return self.json(
            {
                "object": "user",
                "id": "b0b0b0b0-0000-4000-8000-000000000001",
                "name": "MetaCortex",
                "type": "bot",
                "bot": {"owner": {"type": "workspace", "workspace": True}, "workspace_name": "Acme"},
            }
        )

    def create_page(self, request, seen):
        if refused := self._refused(request):
            return refused
        body = seen.json or {}
        parent = body.get("parent") or {}
        properties = body.get("properties") or {}
        if "database_id" in parent:
            if parent["database_id"] != DATABASE_ID:
                return self._not_found("database", parent["database_id"])
            for name in properties:
                if name not in self.schema:
                    return self._error(400, "validation_error", f"{name} is not a property that exists.")
            if not any(self.schema[n] == "title" for n in properties):
                return self._error(400, "validation_error", "Title is not provided")
        elif "page_id" in parent:
            if parent["page_id"] not in self.shared_pages:
                return self._not_found("page", parent["page_id"])
            if set(properties) - {"title"}:
                return self._error(
                    400, "validation_error", "Invalid property identifier for parent page. Only title is allowed."
                )
        else:
            return self._error(400, "validation_error", "body failed validation: body.parent should be defined.")
        if not self.can_insert:
            return self._error(403, "restricted_resource", "Insufficient permissions for this endpoint.")
        if problem := _children_problem(body.get("children") or []):
            return self._error(400, "validation_error", problem)
        if problem := _rich_problem(list(properties.values()), "body.properties"):
            return self._error(400, "validation_error", problem)
        page_id = str(uuid.uuid4())
        page = {
            "object": "page",
            "id": page_id,
            "parent": {"type": next(iter(parent)), **parent},
            "properties": {
                name: {"type": self.schema.get(name, "title"), **value} for name, value in properties.items()
            },
            "url": f"https://www.notion.so/{page_id.replace('-', '')}",
            "last_edited_time": "2026-03-06T10:00:00.000Z",
            "archived": False,
        }
        self.pages[page_id] = {**page, "children": list(body.get("children") or [])}
        return self.json(page)

    def append(self, request, seen, block_id):
        if refused := self._refused(request):
            return refused
        if block_id not in self.pages:
            return self._not_found("block", block_id)
        children = (seen.json or {}).get("children") or []
        if problem := _children_problem(children):
            return self._error(400, "validation_error", problem)
        self.pages[block_id]["children"] += children
        return self.json({"object": "list", "results": children, "has_more": False, "next_cursor": None})

    def query_database(self, request, seen, database_id):
        if refused := self._refused(request):
            return refused
        if database_id != DATABASE_ID:
            return self._not_found("database", database_id)
        body = seen.json or {}
        rows = [
            p for p in self.pages.values() if p["parent"].get("database_id") == DATABASE_ID and not p.get("in_trash")
        ]
        condition = body.get("filter")
        if condition:
            prop, equals = condition["property"], condition["rich_text"]["equals"]
            rows = [r for r in rows if _text(r["properties"].get(prop)) == equals]
        return self._page_of(rows, body)

    def search(self, request, seen):
        if refused := self._refused(request):
            return refused
        return self._page_of(list(self.pages.values()), seen.json or {})

    def _page_of(self, rows: list[dict], body: dict):
        size = min(int(body.get("page_size", 100)), 100)
        start = int(body.get("start_cursor") or 0)
        chunk = [{k: v for k, v in r.items() if k != "children"} for r in rows[start : start + size]]
        more = start + size < len(rows)
        cursor = str(start + size) if more and not self.lose_next_cursor else None
        return self.json({"object": "list", "results": chunk, "has_more": more, "next_cursor": cursor})

    def _not_found(self, kind: str, object_id: str):
        return self._error(
            404,
            "object_not_found",
            f"Could not find {kind} with ID: {object_id}. "
            "Make sure the relevant pages and databases are shared with your integration.",
        )


def _text(prop) -> str:
    if not prop:
        return ""
    return "".join(part["text"]["content"] for part in prop.get(prop.get("type"), []) or [])


def _rich_problem(holders: list[dict], where: str) -> str | None:
    for index, holder in enumerate(holders):
        for kind in ("rich_text", "title"):
            rich = holder.get(kind) if isinstance(holder, dict) else None
            if rich is None:
                continue
            if len(rich) > 100:
                return (
                    f"body failed validation: {where}[{index}].{kind}.length should be ≤ `100`, "
                    f"instead was `{len(rich)}`."
                )
            for position, part in enumerate(rich):
                length = len(part.get("text", {}).get("content", ""))
                if length > 2000:
                    return (
                        f"body failed validation: {where}[{index}].{kind}[{position}].text.content.length "
                        f"should be ≤ `2000`, instead was `{length}`."
                    )
    return None


def _children_problem(children: list[dict]) -> str | None:
    if len(children) > 100:
        return f"body failed validation: body.children.length should be ≤ `100`, instead was `{len(children)}`."
    return _rich_problem([c.get(c.get("type"), {}) for c in children], "body.children")
