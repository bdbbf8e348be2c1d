"""Contract fake of the Gmail API v1, over real HTTP.

Follows:
- https://developers.google.com/gmail/api/guides/sync (full sync: getProfile's historyId, then
  messages.list + messages.get; partial sync: history.list from a historyId; an expired or
  invalid startHistoryId answers 404, after which the client must sync in full);
- https://developers.google.com/gmail/api/reference/rest/v1/users.history/list (history records
  with messages, messagesAdded, messagesDeleted, labelsAdded, labelsRemoved; historyTypes
  filter; nextPageToken; the response's historyId is the mailbox's current one; no "history" key
  when nothing changed);
- https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list (newest first,
  labelIds (all must match), q, maxResults, pageToken; no "messages" key when empty);
- https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get (format=full:
  payload with headers and base64url bodies, labelIds, snippet, historyId, internalDate);
- https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send (raw RFC 5322,
  base64url) and users.labels/list;
- errors: 401 authError, 403 insufficientPermissions, 404 notFound, 429 rateLimitExceeded.

The search language `q` is reduced to what tests use: words that must all appear in the
subject, sender or body, and from:<text>.
"""

from __future__ import annotations

import base64
import email
import email.policy
import itertools
import json
import time

from tests.fakes.oauth_api import GoogleApiFake, Reply, google_error, route

SCOPE = "https://www.googleapis.com/auth/"
READ = (SCOPE + "gmail.readonly", SCOPE + "gmail.modify", "https://mail.google.com/")
SEND = (SCOPE + "gmail.send", SCOPE + "gmail.compose", SCOPE + "gmail.modify", "https://mail.google.com/")
SYSTEM_LABELS = ["INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Mailbox:
    def __init__(self, email_address: str):
        self.email = email_address
        self.labels = {name: {"id": name, "name": name, "type": "system"} for name in SYSTEM_LABELS}
        self.messages: dict[str, dict] = {}
        self.history: list[dict] = []
        self.history_id = 1000
        self.oldest_history = 0
        self.sent: list[email.message.EmailMessage] = []


class GmailFake(GoogleApiFake):
    def reset(self):
        super().reset()
        self.mailboxes: dict[str, Mailbox] = {}
        self.max_page = 500
        self._ids = itertools.count(1)

    # -- the test's hands ---------------------------------------------------------------------
    def mailbox(self, address: str) -> Mailbox:
        return self.mailboxes.setdefault(address, Mailbox(address))

    def _record(self, box: Mailbox, **change) -> int:
        box.history_id += 7  # ids grow, with gaps
        box.history.append({"id": str(box.history_id), **change})
        return box.history_id

    def add_label(self, address: str, name: str) -> str:
        box = self.mailbox(address)
        label_id = f"Label_{next(self._ids)}"
        box.labels[label_id] = {"id": label_id, "name": name, "type": "user"}
        return label_id

    def add_message(
        self, address, subject, body="", *, labels=("INBOX",), sender="carol@example.org", html=None, attachment=None
    ) -> str:
        with self.lock:
            box = self.mailbox(address)
            message_id = f"{next(self._ids):016x}"
            parts = [{"partId": "0", "mimeType": "text/plain", "filename": "", "headers": [
                {"name": "Content-Type", "value": 'text/plain; charset="UTF-8"'}], "body": {"size": len(body.encode()),
                "data": b64(body.encode())}}]  # fmt: skip
            if html is not None:
                parts.append({"partId": "1", "mimeType": "text/html", "filename": "", "headers": [],
                              "body": {"size": len(html), "data": b64(html.encode())}})  # fmt: skip
            if attachment is not None:
                name, content = attachment
                parts.append({"partId": "2", "mimeType": "application/pdf", "filename": name, "headers": [],
                              "body": {"attachmentId": "att1", "size": len(content)}})  # fmt: skip
            message = {
                "id": message_id,
                "threadId": message_id,
                "labelIds": list(labels),
                "snippet": body[:100],
                "sizeEstimate": 500 + len(body),
                "internalDate": str(int(time.time() * 1000) + next(self._ids)),
                "payload": {
                    "partId": "",
                    "mimeType": "multipart/alternative",
                    "filename": "",
                    "headers": [
                        {"name": "From", "value": sender},
                        {"name": "To", "value": address},
                        {"name": "Subject", "value": subject},
                        {"name": "Date", "value": "Mon, 5 Jan 2026 10:00:00 +0000"},
                        {"name": "Message-ID", "value": f"<{message_id}@mail.example.org>"},
                    ],
                    "body": {"size": 0},
                    "parts": parts,
                },
            }
            box.messages[message_id] = message
            ref = {"id": message_id, "threadId": message_id, "labelIds": list(labels)}
            message["historyId"] = str(self._record(box, messages=[ref], messagesAdded=[{"message": ref}]))
            return message_id

    def delete_message(self, address: str, message_id: str):
        with self.lock:
            box = self.mailbox(address)
            message = box.messages.pop(message_id)
            ref = {"id": message_id, "threadId": message["threadId"], "labelIds": message["labelIds"]}
            self._record(box, messages=[ref], messagesDeleted=[{"message": ref}])

    def change_labels(self, address: str, message_id: str, *, add=(), remove=()):
        with self.lock:
            box = self.mailbox(address)
            message = box.messages[message_id]
            message["labelIds"] = [label for label in message["labelIds"] if label not in remove] + list(add)
            ref = {"id": message_id, "threadId": message["threadId"], "labelIds": list(message["labelIds"])}
            change = {"messages": [ref]}
            if add:
                change["labelsAdded"] = [{"message": ref, "labelIds": list(add)}]
            if remove:
                change["labelsRemoved"] = [{"message": ref, "labelIds": list(remove)}]
            message["historyId"] = str(self._record(box, **change))

    def expire_history(self, address: str):
        """History older than now is gone (Gmail keeps it for about a week)."""
        box = self.mailbox(address)
        box.oldest_history = box.history_id

    # -- the API ------------------------------------------------------------------------------
    def _box(self, request, *scopes) -> Mailbox:
        return self.mailbox(self.owner(request, *scopes)["email"])

    @route("GET", r"/gmail/v1/users/me/profile")
    def profile(self, request):
        box = self._box(request, *READ, SCOPE + "gmail.metadata")
        return {
            "emailAddress": box.email,
            "messagesTotal": len(box.messages),
            "threadsTotal": len(box.messages),
            "historyId": str(box.history_id),
        }

    @route("GET", r"/gmail/v1/users/me/labels")
    def labels(self, request):
        box = self._box(request, *READ, SCOPE + "gmail.labels", SCOPE + "gmail.metadata")
        return {"labels": list(box.labels.values())}

    def _matches(self, message: dict, query: str) -> bool:
        headers = {h["name"].lower(): h["value"] for h in message["payload"]["headers"]}
        parts = [p for p in message["payload"]["parts"] if p["body"].get("data")]
        bodies = [base64.urlsafe_b64decode(p["body"]["data"] + "==").decode() for p in parts]
        text = " ".join([headers.get("subject", ""), headers.get("from", ""), message["snippet"], *bodies]).lower()
        for term in query.lower().split():
            if term.startswith("from:"):
                if term[5:] not in headers.get("from", "").lower():
                    return False
            elif term not in text:
                return False
        return True

    @route("GET", r"/gmail/v1/users/me/messages")
    def list_messages(self, request):
        box = self._box(request, *READ)
        wanted = request.args.getlist("labelIds")
        query = request.args.get("q", "")
        found = [
            m
            for m in box.messages.values()
            if all(label in m["labelIds"] for label in wanted) and (not query or self._matches(m, query))
        ]
        found.sort(key=lambda m: int(m["internalDate"]), reverse=True)
        size = min(int(request.args.get("maxResults", 100)), self.max_page)
        offset = int(request.args.get("pageToken") or 0)
        chunk = found[offset : offset + size]
        body = {"resultSizeEstimate": len(found)}
        if chunk:
            body["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in chunk]
        if offset + size < len(found):
            body["nextPageToken"] = str(offset + size)
        return body

    @route("GET", r"/gmail/v1/users/me/messages/(?P<message_id>[^/]+)")
    def get_message(self, request, message_id):
        box = self._box(request, *READ)
        if message_id not in box.messages:
            raise Reply(404, google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"))
        return box.messages[message_id]

    @route("GET", r"/gmail/v1/users/me/history")
    def history(self, request):
        box = self._box(request, *READ, SCOPE + "gmail.metadata")
        try:
            start = int(request.args["startHistoryId"])
        except (KeyError, ValueError):
            raise Reply(
                400, google_error(400, "Invalid startHistoryId", "invalidArgument", "INVALID_ARGUMENT")
            ) from None
        if start < box.oldest_history:
            raise Reply(404, google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"))
        types = set(request.args.getlist("historyTypes"))
        keys = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
                "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}  # fmt: skip
        records = []
        for record in box.history:
            if int(record["id"]) <= start:
                continue
            kept = {"id": record["id"], "messages": record["messages"]}
            for history_type, key in keys.items():
                if key in record and (not types or history_type in types):
                    kept[key] = record[key]
            if len(kept) > 2:
                records.append(kept)
        size = min(int(request.args.get("maxResults", 100)), self.max_page)
        offset = int(request.args.get("pageToken") or 0)
        body = {"historyId": str(box.history_id)}
        if records[offset : offset + size]:
            body["history"] = records[offset : offset + size]
        if offset + size < len(records):
            body["nextPageToken"] = str(offset + size)
        return body

    @route("POST", r"/gmail/v1/users/me/messages/send")
    def send(self, request):
        box = self._box(request, *SEND)
        raw = json.loads(request.get_data())["raw"]
        message = email.message_from_bytes(
            base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), policy=email.policy.default
        )
        box.sent.append(message)
        return {"id": f"sent{len(box.sent)}", "threadId": f"sent{len(box.sent)}", "labelIds": ["SENT"]}
