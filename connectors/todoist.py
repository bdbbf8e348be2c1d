"""Todoist (unified API v1): projects, tasks and comments in; tasks created and completed out.

Source: POST /api/v1/sync with `sync_token` ("*" the first time, then the token Todoist returned)
and resource_types ["projects", "items", "notes"]: the first answer is everything active, each
later one only what changed (completed tasks come back with "checked": true, removed ones with
"is_deleted": true and are deleted here). The project names are kept in the cursor, so a task
changed alone still says which project it is in. An optional list of project names narrows
what is kept; a task moved out of them is deleted here, and when a project is renamed out of (or
into) them, everything is read once more so its tasks follow it. A comment is kept only with its
task: a task deleted or moved out takes its comments along.

Output: POST /api/v1/tasks (content, description, project_id, labels, priority, due_date or
due_datetime) with the card's idempotency key as X-Request-Id, so a retried delivery does not
create the task twice; or, with the action "complete", POST /api/v1/tasks/{id}/close for every
Todoist task among the card's entries. REST v2 (/rest/v2) answers 410 Gone since 2025: the API v1
ids are the new ones.

Errors ({"error", "error_code", "error_tag", "error_extra", "http_code"}): 401 -> a new token;
403 -> access; 404 -> the project or task; 410 -> the old API; 429 -> RateLimited with
error_extra.retry_after (or Retry-After); 5xx -> transient.

Docs: https://developer.todoist.com/api/v1/ (Sync: "Read resources", "Incremental sync";
Tasks: "Create a new task", "Close task"; "Request limits"; "Errors"),
https://developer.todoist.com/api/v1/#tag/Migrating-from-v9 (ids, 410 on REST v2).
"""

from __future__ import annotations

import datetime
import json
import uuid

from connectors.base import Batch, Connector, Delivery, Record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, deliver_each, json_or_empty, merged_config, truncate

RESOURCES = ["projects", "items", "notes"]
KEY_NAMESPACE = uuid.UUID("8a1f3c0e-6c2b-4c55-9f3e-2f1d2a7b9c10")  # card keys -> stable X-Request-Id values


class SyncTokenRefused(ConfigError):
    """The sync endpoint refused a sync_token it no longer knows (error_tag INVALID_SYNC_TOKEN)."""


def _aware(value: str | None, zone: datetime.tzinfo = datetime.UTC) -> str | None:
    """Todoist sends due times floating ("2026-12-10T15:00:00": that hour wherever the person is)
    or in UTC ("...Z"); the kinds contract wants an offset on every time. A floating due time is
    read in `zone` (the person's own, as floating calendar times are); the other times Todoist
    sends (added, completed, posted) are UTC."""
    if not value:
        return None
    if len(value) == 10:
        return value  # a date without a time stays a date
    when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=zone)).isoformat()


def _when(value: str | None, zone: datetime.tzinfo = datetime.UTC) -> datetime.datetime | None:
    text = _aware(value, zone)
    if not text:
        return None
    if len(text) == 10:
        return datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time(), tzinfo=datetime.UTC)
    return datetime.datetime.fromisoformat(text)


def _names(value) -> set[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").split("\n")
    return {str(v).strip().casefold() for v in value or [] if str(v).strip()}


def task_ids_in(card) -> list[str]:
    """Todoist task ids among the entries a workflow card carries (bundled or one per card)."""
    data = card.data if isinstance(card.data, dict) else {}
    entries = list(data.get("entries") or [])
    for bundled in data.get("cards") or []:
        entries += bundled.get("entries") or []
    ids = []
    for entry in entries:
        task_id = (entry.get("data") or {}).get("todoist_task_id") if isinstance(entry, dict) else None
        if task_id and str(task_id) not in ids:
            ids.append(str(task_id))
    return ids


@registry.register("todoist")
class TodoistConnector(Connector):
    @property
    def base(self) -> str:
        return api_base("todoist", "https://api.todoist.com/api/v1")

    def _call(self, method: str, path: str, *, field: str | None = None, **kwargs):
        token = self.secrets.get("token")
        if not token:
            raise AuthError("No Todoist API token is set.", field="token")
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = self.http.request(method, f"{self.base}{path}", headers=headers, ok=ANY_STATUS, **kwargs)
        if 200 <= response.status_code < 300:
            return json_or_empty(response) if response.content else {}
        raise self._error(response, json_or_empty(response), field)

    def test_connection(self) -> str:
        user = self._call("POST", "/sync", data={"sync_token": "*", "resource_types": json.dumps(["user"])}).get("user")
        user = user or {}
        return user.get("email") or user.get("full_name") or "Todoist account"

    # Source -------------------------------------------------------------------------------------

    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        notices = []
        try:
            data = self._sync(cursor.get("sync_token") or "*")
        except SyncTokenRefused:
            if not cursor.get("sync_token"):
                raise
            # Todoist forgot the position (an old token, or its reset): start again from a full read.
            # Upserts keep this from duplicating anything; a task deleted meanwhile stays until removed.
            data = self._sync("*")
            notices.append(
                "Todoist no longer recognised the last sync position, so everything was read again. Tasks deleted "
                "in Todoist since the previous sync may still show here; delete them from this integration's page."
            )
        wanted = _names(self.config.get("projects"))
        projects, kept = self._kept(data, cursor, wanted)
        if wanted and not data.get("full_sync") and "kept" in cursor and kept != set(cursor["kept"]):
            # A project renamed out of (or into) the chosen names: its tasks are not in this answer,
            # so everything is read again and they follow their project (out, or in).
            data = self._sync("*")
            projects, kept = self._kept(data, cursor, wanted)

        items, deletes = [], []
        for project in data.get("projects") or []:
            pid = str(project["id"])
            if project.get("is_deleted") or pid not in kept:
                deletes.append(f"project:{pid}")
            else:
                items.append({"_type": "project", **project})
        titles, dropped = {}, set()
        for item in data.get("items") or []:
            titles[str(item["id"])] = item.get("content", "")
            if item.get("is_deleted") or str(item.get("project_id")) not in kept:
                deletes.append(f"task:{item['id']}")
                dropped.add(str(item["id"]))
            else:
                items.append({"_type": "task", **item, "_project": projects.get(str(item.get("project_id")), "")})
        # A comment lives with its task: one on a task deleted or left out (not in this answer's
        # kept tasks, nor stored) is not kept, and a task that leaves takes its stored comments along
        # (Todoist's answer names the deleted task, not each of its comments).
        stored_tasks = self.ctx.known_ids(prefix="task:")
        for note in data.get("notes") or []:
            task = str(note.get("item_id") or "")
            kept_task = task not in dropped and (task in titles or f"task:{task}" in stored_tasks)
            if note.get("is_deleted") or not kept_task:
                deletes.append(f"comment:{note['id']}")
            else:
                items.append({"_type": "comment", **note, "_task": titles.get(task, "")})
        if dropped:
            comments = self.ctx.known_data(self.ctx.known_ids(prefix="comment:"))
            deletes += [cid for cid, stored in comments.items() if str((stored or {}).get("task_id")) in dropped]
        deletes = list(dict.fromkeys(deletes))
        cursor.update(sync_token=data.get("sync_token"), projects=projects, kept=sorted(kept))
        yield Batch(items=items, deletes=deletes, cursor=cursor, total=len(items), notices=notices)

    @staticmethod
    def _kept(data: dict, cursor: dict, wanted: set[str]) -> tuple[dict, set[str]]:
        """The project names known after this answer, and the ids of the projects kept."""
        projects = {} if data.get("full_sync") else dict(cursor.get("projects") or {})
        for project in data.get("projects") or []:
            if project.get("is_deleted"):
                projects.pop(str(project["id"]), None)
            else:
                projects[str(project["id"])] = project.get("name", "")
        return projects, {pid for pid, name in projects.items() if not wanted or name.casefold() in wanted}

    def _sync(self, token: str) -> dict:
        return self._call("POST", "/sync", data={"sync_token": token, "resource_types": json.dumps(RESOURCES)})

    def transform(self, raw: dict) -> Record:
        try:
            build = {"project": self._project, "task": self._task, "comment": self._comment}[raw["_type"]]
            return build(raw)
        except (KeyError, ValueError, TypeError) as exc:
            what = raw.get("_type", "record")
            raise ItemError(f"Todoist sent a {what} without {exc}", external_id=str(raw.get("id", ""))) from exc

    def _project(self, raw: dict) -> Record:
        return Record(
            external_id=f"project:{raw['id']}",
            kind="todoist_project",
            title=raw["name"],
            source_url=f"https://app.todoist.com/app/project/{raw['id']}",
            data={
                "project_id": str(raw["id"]),
                "parent_id": raw.get("parent_id"),
                "color": raw.get("color"),
                "archived": bool(raw.get("is_archived")),
                "favorite": bool(raw.get("is_favorite")),
                "inbox": bool(raw.get("inbox_project")),
                "view_style": raw.get("view_style"),
            },
        )

    def _task(self, raw: dict) -> Record:
        due = raw.get("due") or {}
        zone = self.ctx.zone()  # a floating due time is the person's own hour
        due_at = _aware(due.get("date"), zone)
        url = f"https://app.todoist.com/app/task/{raw['id']}"
        added = raw.get("added_at")
        data = {
            "due": due_at,
            "completed": bool(raw.get("checked")),
            "completed_at": _aware(raw.get("completed_at")),
            "project": raw.get("_project", ""),
            "priority": raw.get("priority"),
            "labels": list(raw.get("labels") or []),
            "url": url,
            "todoist_task_id": str(raw["id"]),
            "project_id": str(raw.get("project_id") or ""),
            "section_id": raw.get("section_id"),
            "parent_id": raw.get("parent_id"),
            "description": raw.get("description") or "",
            "due_string": due.get("string"),
            "recurring": bool(due.get("is_recurring")),
            "timezone": due.get("timezone"),
            "added_at": _aware(added),
        }
        return Record(
            external_id=f"task:{raw['id']}",
            kind="task",
            title=raw["content"],
            summary=truncate(" ".join((raw.get("description") or "").split()), 280),
            occurred_at=_when(due.get("date"), zone) or _when(added),
            source_url=url,
            version=raw.get("updated_at") or "",
            data=data,
        )

    def _comment(self, raw: dict) -> Record:
        task_id = str(raw.get("item_id") or "")
        attachment = raw.get("file_attachment") or {}
        return Record(
            external_id=f"comment:{raw['id']}",
            kind="note",
            title=truncate(" ".join(raw["content"].split()), 80) or "Comment",
            summary=truncate(raw["content"], 280),
            occurred_at=_when(raw.get("posted_at")),
            source_url=f"https://app.todoist.com/app/task/{task_id}" if task_id else "",
            data={
                "text": raw["content"],
                "note_type": "note",
                "source_title": raw.get("_task", ""),
                "author": str(raw.get("posted_uid") or ""),
                "position": None,
                "task_id": task_id,
                "posted_at": _aware(raw.get("posted_at")),
                "attachment": {k: attachment.get(k) for k in ("file_name", "file_url", "file_type") if attachment},
            },
        )

    # Output -------------------------------------------------------------------------------------

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        if (settings.get("action") or "create") == "complete":
            return self._complete(cards)
        project_id = str(settings.get("project_id") or "").strip()
        labels = sorted(_names(settings.get("labels")))
        priority = int(settings.get("priority") or 1)

        def create(card) -> str:
            body: dict = {
                "content": truncate(card.title or "Untitled", 500),
                "description": "\n\n".join(x for x in (card.markdown, card.url) if x),
                "priority": max(1, min(priority, 4)),
            }
            if project_id:
                body["project_id"] = project_id
            if task_labels := sorted({*labels, *(t for t in card.tags if t)}):
                body["labels"] = task_labels
            if isinstance(card.due, datetime.datetime):
                due = card.due if card.due.tzinfo else card.due.replace(tzinfo=self.ctx.zone())  # the person's hour
                body["due_datetime"] = due.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(card.due, datetime.date):
                body["due_date"] = card.due.isoformat()
            headers = {"X-Request-Id": str(uuid.uuid5(KEY_NAMESPACE, card.key))} if card.key else {}
            task = self._call("POST", "/tasks", json=body, headers=headers, field="project_id")
            return str(task.get("id", ""))

        delivery = deliver_each(cards, create, unit="task")
        delivery.detail = f"{delivery.delivered} task{'s' if delivery.delivered != 1 else ''} created in Todoist."
        return delivery

    def _complete(self, cards: list) -> Delivery:
        ids = [task_id for card in cards for task_id in task_ids_in(card)]
        if not ids:
            raise ConfigError(
                "None of these items is a Todoist task, so there is nothing to complete.",
                field="action",
                remediation="Use a Todoist source in this workflow, or choose the action Create a task.",
            )

        def close(task_id: str) -> str:
            self._call("POST", f"/tasks/{task_id}/close", field="task")
            return task_id

        delivery = deliver_each(ids, close, unit="task")
        delivery.detail = f"{delivery.delivered} task{'s' if delivery.delivered != 1 else ''} completed in Todoist."
        return delivery

    # Errors -------------------------------------------------------------------------------------

    def _error(self, response, data: dict, field: str | None):
        status = response.status_code
        message = str(data.get("error") or "")
        said = f" ({message})" if message else ""
        if status == 401:
            return AuthError(
                f"Todoist refused the API token{said}.",
                field="token",
                remediation="Copy your API token again from Todoist (Settings, Integrations, Developer) and paste it "
                "here: it changes when it is reissued.",
            )
        if status == 403:
            return AuthError(
                f"Todoist denied access{said}.",
                remediation="Check that this account can see the project (shared projects need an invitation), "
                "then try again.",
            )
        if status == 404:
            if field == "task":
                return ConfigError(
                    f"Todoist has no such task any more{said}.",
                    remediation="It was deleted in Todoist; sync the source again so the workflow sees current tasks.",
                )
            return ConfigError(
                f"Todoist found no such project{said}.",
                field="project_id",
                remediation="Copy the project's ID from its web address in Todoist (the part after the last dash), "
                "or leave it empty for the Inbox.",
            )
        if status == 410:
            return ConfigError(
                "Todoist no longer offers the API at this address (HTTP 410).",
                remediation="Ask the operator to point the Todoist connector (CONNECTOR_API_BASES, key todoist) at "
                "the unified API v1 (api.todoist.com, path /api/v1).",
            )
        if status == 429:
            extra = data.get("error_extra") if isinstance(data.get("error_extra"), dict) else {}
            wait = retry_after_seconds(response)
            if wait is None and isinstance(extra.get("retry_after"), int | float):
                wait = float(extra["retry_after"])
            return RateLimited("Todoist asked the hub to slow down.", retry_after=wait)
        if status >= 500:
            return TransientError(f"Todoist had a temporary problem (HTTP {status}).")
        if "SYNC_TOKEN" in str(data.get("error_tag") or "").upper():
            return SyncTokenRefused(f"Todoist no longer knows the last sync position{said}.")
        return ConfigError(f"Todoist did not accept the request{said}.", field=field if field != "task" else None)
