"""Contract fake of the Todoist unified API v1.

Follows https://developer.todoist.com/api/v1/:
- Sync, "Read resources": POST /api/v1/sync (form: sync_token, resource_types as a JSON array).
  sync_token "*" answers everything active with "full_sync": true; a token from an earlier answer
  answers only what changed since (completed items with "checked": true, removed ones with
  "is_deleted": true) with "full_sync": false. An unknown token is refused (400).
- Tasks, "Create a new task": POST /api/v1/tasks (JSON: content, description, project_id,
  labels, priority, due_date / due_datetime) -> the task; the X-Request-Id header makes a retried
  POST answer the first task instead of creating another.
- Tasks, "Close task": POST /api/v1/tasks/{id}/close -> 204.
- Errors: {"error", "error_code", "error_extra", "error_tag", "http_code"}; 401 for a wrong token;
  the old REST v2 paths answer 410 Gone.
"""

from __future__ import annotations

import itertools
import json

from werkzeug import Response

from tests.fakes.contract import ContractFake

TOKEN = "0123456789abcdef0123456789abcdef01234567"
INBOX_ID = "6Jf8VQXxpwv56VQ7"
WORK_ID = "6Jf8VQXxpwv56VQ8"


class TodoistFake(ContractFake):
    ROUTES = [
        ("POST", r"/api/v1/sync", "sync"),
        ("POST", r"/api/v1/tasks", "create_task"),
        ("POST", r"/api/v1/tasks/(?P<task_id>[^/]+)/close", "close_task"),
        ("GET", r"/rest/v2/.*", "gone"),
        ("POST", r"/rest/v2/.*", "gone"),
    ]

    def __init__(self):
        super().__init__()
        self.version = 0
        self.tokens: dict[str, int] = {}  # sync_token -> version it was issued at
        self.projects: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.notes: dict[str, dict] = {}
        self.changed: dict[tuple[str, str], int] = {}
        self.requests_seen: dict[str, str] = {}  # X-Request-Id -> task id
        self._ids = itertools.count(1)
        self.add_project(INBOX_ID, "Inbox", inbox_project=True)
        self.add_project(WORK_ID, "Work")

    def _touch(self, table: str, entity_id: str):
        self.version += 1
        self.changed[(table, entity_id)] = self.version

    def add_project(self, project_id: str, name: str, **extra):
        self.projects[project_id] = {
            "id": project_id, "name": name, "color": "charcoal", "parent_id": None, "child_order": 1,
            "is_archived": False, "is_deleted": False, "is_favorite": False, "view_style": "list",
            "inbox_project": False, **extra,
        }  # fmt: skip
        self._touch("projects", project_id)

    def add_task(self, task_id: str, content: str, project_id: str = INBOX_ID, **extra):
        self.items[task_id] = {
            "id": task_id, "user_id": "2671355", "project_id": project_id, "content": content,
            "description": "", "priority": 1, "child_order": 1, "collapsed": False, "labels": [],
            "checked": False, "is_deleted": False, "added_at": "2026-12-01T09:00:00.000000Z",
            "completed_at": None, "updated_at": "2026-12-01T09:00:00.000000Z", "due": None,
            "parent_id": None, "section_id": None, **extra,
        }  # fmt: skip
        self._touch("items", task_id)

    def rename_project(self, project_id: str, name: str):
        """Only the project changes: its tasks are not in the next incremental answer."""
        self.projects[project_id]["name"] = name
        self._touch("projects", project_id)

    def update_task(self, task_id: str, **changes):
        self.items[task_id].update(changes, updated_at=f"2026-12-02T10:00:{self.version:02d}.000000Z")
        self._touch("items", task_id)

    def add_comment(self, note_id: str, task_id: str, content: str):
        self.notes[note_id] = {
            "id": note_id, "item_id": task_id, "content": content, "posted_at": "2026-12-01T10:00:00.000000Z",
            "posted_uid": "2671355", "is_deleted": False, "file_attachment": None, "reactions": None,
        }  # fmt: skip
        self._touch("notes", note_id)

    # Protocol ----------------------------------------------------------------------------------

    def _error(self, status: int, message: str, tag: str, code: int = 0, extra: dict | None = None):
        body = {"error": message, "error_code": code, "error_extra": extra or {}, "error_tag": tag, "http_code": status}
        return self.json(body, status=status)

    def _authorized(self, request):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "Unauthorized", "AUTH_INVALID_TOKEN", 401)
        return None

    def _new_token(self) -> str:
        token = f"sync-token-{next(self._ids)}"
        self.tokens[token] = self.version
        return token

    def sync(self, request, seen):
        if refused := self._authorized(request):
            return refused
        token = request.form.get("sync_token", "*")
        resource_types = json.loads(request.form.get("resource_types") or "[]")
        if token != "*" and token not in self.tokens:
            return self._error(400, "Invalid sync token", "INVALID_SYNC_TOKEN", 34)
        since = None if token == "*" else self.tokens[token]
        body: dict = {"full_sync": since is None, "temp_id_mapping": {}, "sync_token": self._new_token()}
        for table in ("projects", "items", "notes"):
            if table not in resource_types:
                continue
            rows = [
                dict(row)
                for entity_id, row in getattr(self, table).items()
                if since is None or self.changed[(table, entity_id)] > since
            ]
            if since is None:  # a full sync lists only what is active
                rows = [r for r in rows if not r.get("is_deleted") and not r.get("checked")]
            body[table] = rows
        if "user" in resource_types:
            body["user"] = {"id": "2671355", "email": "me@example.com", "full_name": "Me", "tz_info": {}}
        return self.json(body)

    def create_task(self, request, seen):
        if refused := self._authorized(request):
            return refused
        body = seen.json or {}
        request_id = request.headers.get("X-Request-Id")
        if request_id and request_id in self.requests_seen:
            return self.json(self.items[self.requests_seen[request_id]])
        if not body.get("content"):
            return self._error(400, "Required argument is missing", "ARGUMENT_MISSING", 19, {"argument": "content"})
        project_id = body.get("project_id") or INBOX_ID
        if project_id not in self.projects:
            return self._error(404, "Project not found", "NOT_FOUND", 404)
        task_id = f"6X7rM8{next(self._ids):010d}"
        due = None
        if body.get("due_date"):
            due = {"date": body["due_date"], "string": body["due_date"], "is_recurring": False, "timezone": None}
        elif body.get("due_datetime"):
            due = {"date": body["due_datetime"], "string": body["due_datetime"], "is_recurring": False,
                   "timezone": "UTC"}  # fmt: skip
        extra = {k: body[k] for k in ("description", "labels", "priority") if k in body}
        self.add_task(task_id, body["content"], project_id, due=due, **extra)
        if request_id:
            self.requests_seen[request_id] = task_id
        return self.json(self.items[task_id])

    def close_task(self, request, seen, task_id):
        if refused := self._authorized(request):
            return refused
        if task_id not in self.items or self.items[task_id]["is_deleted"]:
            return self._error(404, "Task not found", "NOT_FOUND", 404)
        self.update_task(task_id, checked=True, completed_at="2026-12-03T08:00:00.000000Z")
        return Response(status=204)

    def gone(self, request, seen):
        return self._error(410, "This endpoint is deprecated", "DEPRECATED", 410)
