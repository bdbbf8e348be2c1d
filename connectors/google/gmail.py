"""Gmail (Gmail API v1): labels and messages in, workflow results out as mail from the account.

Full sync (first run, or when the stored history id expired): the mailbox's current historyId is
read first (users.getProfile), then messages.list per chosen label (and the optional Gmail
search), each new message fetched with messages.get. Incremental sync: users.history.list from
the stored historyId (messagesAdded, messagesDeleted, labelsAdded, labelsRemoved), following
nextPageToken; the last page's historyId is the next cursor. history.list answers 404 when the
id is too old (typically after a week): the connector falls back to a full sync, and messages no
longer listed become tombstones. https://developers.google.com/gmail/api/guides/sync

Messages are immutable in Gmail (only their labels change), so a message already stored is not
fetched again by a full sync. Bodies are cut to the integration's size limit.
Output: users.messages.send with an RFC 5322 message, base64url-encoded ("raw").
"""

from __future__ import annotations

import base64
import datetime
import email.message
import email.utils
import hashlib
import logging
import re

from django.conf import settings
from googleapiclient.errors import HttpError

from connectors.base import Batch, Connector, Delivery, Record
from connectors.errors import ConfigError, classify
from connectors.google.common import build_service, execute, status_of
from connectors.listing import Listed
from connectors.paging import PageGuard
from connectors.registry import registry

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://gmail.googleapis.com"
HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
LIST_PAGE = 100
QUERY_PAGES = 5
# Ids a full listing carries in its checkpoint (12 hex digits each, about 300 kB at most: the cursor
# is rewritten with every page of 100), so that a listing resumed after a failure still tombstones what
# is gone; a larger listing resumed after a failure tombstones nothing, as before.
LISTED_MAX = 20_000  # how far back a search is followed to check new messages against it
TAGS = re.compile(r"<[^>]+>")


def _decode_part(data: str | None, charset: str | None) -> str:
    if not data:
        return ""
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    try:
        return raw.decode(charset or "utf-8", "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _charset(part: dict) -> str | None:
    for header in part.get("headers") or []:
        if header.get("name", "").lower() == "content-type":
            match = re.search(r'charset="?([\w.-]+)"?', header.get("value", ""), re.I)
            return match.group(1) if match else None
    return None


def _walk(part: dict):
    yield part
    for child in part.get("parts") or []:
        yield from _walk(child)


def body_text(payload: dict) -> str:
    """The text/plain body, or text/html with tags stripped, of a messages.get(format=full) payload."""
    plain = html = ""
    for part in _walk(payload or {}):
        mime = part.get("mimeType", "")
        if part.get("filename"):
            continue
        data = (part.get("body") or {}).get("data")
        if mime == "text/plain" and not plain:
            plain = _decode_part(data, _charset(part))
        elif mime == "text/html" and not html:
            html = _decode_part(data, _charset(part))
    if plain:
        return plain
    return re.sub(r"\s+\n", "\n", TAGS.sub(" ", html)).strip()


@registry.register("gmail")
class GmailConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"message": "message", "label": "other"}
    supports_write = True

    def _service(self):
        if not hasattr(self, "_svc"):
            self._svc = build_service(self.ctx, "gmail", "v1", default_base=DEFAULT_BASE)
        return self._svc

    def test_connection(self) -> str:
        return execute(self._service().users().getProfile(userId="me"))["emailAddress"]

    # -- labels ---------------------------------------------------------------------------------
    def _labels(self) -> list[dict]:
        labels = execute(self._service().users().labels().list(userId="me")).get("labels") or []
        self._label_names = {label["id"]: label.get("name", label["id"]) for label in labels}
        return labels

    def _wanted(self, labels: list[dict]) -> list[str]:
        by_name = {label.get("name", "").lower(): label["id"] for label in labels}
        ids = {label["id"] for label in labels}
        wanted, missing = [], []
        for entry in self.config.get("labels") or ["INBOX"]:
            entry = str(entry).strip()
            if entry in ids:
                wanted.append(entry)
            elif entry.lower() in by_name:
                wanted.append(by_name[entry.lower()])
            elif entry:
                missing.append(entry)
        if missing:
            raise ConfigError(
                f"Gmail has no label {', '.join(repr(m) for m in missing)}.",
                field="labels",
                remediation="Use label names as Gmail shows them (e.g. INBOX, Work/Clients), one per line.",
            )
        return wanted

    # -- sync ------------------------------------------------------------------------------------
    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        labels = self._labels()
        wanted = self._wanted(labels)
        label_deletes = sorted(self.ctx.known_ids(prefix="label:") - {f"label:{label['id']}" for label in labels})
        yield Batch(items=[{"label": label} for label in labels], deletes=label_deletes, cursor=cursor or None)
        if cursor.get("history_id") and not cursor.get("full"):
            try:
                yield from self._incremental(cursor["history_id"], set(wanted))
                return
            except HttpError as exc:
                if status_of(exc) != 404:
                    raise classify(exc) from exc
                log.info("Gmail history id %s expired (404); running a full sync", cursor["history_id"])
                cursor = {}
        yield from self._full(wanted, cursor.get("full"), cursor.get("history_id"))

    def _full(self, wanted: list[str], resume: dict | None, history_id):
        service = self._service()
        if not resume:
            history_id = execute(service.users().getProfile(userId="me"))["historyId"]
        resume = resume or {}
        known = self.ctx.known_ids(prefix="msg:")
        # A round that starts on page one can tombstone what Gmail no longer lists; a resumed one only
        # if its checkpoint carries what its earlier pages listed (kept there up to LISTED_MAX ids).
        seen: Listed | None = Listed() if not resume else None
        if resume and resume.get("listed") is not None:
            seen = Listed(resume["listed"])

        def checkpoint(**state) -> dict:
            if seen is not None and len(seen) <= LISTED_MAX:
                state["listed"] = seen.for_cursor()
            return {"history_id": history_id, "full": state}

        for index, label in enumerate(wanted):
            if index < resume.get("label_index", 0):
                continue
            page = resume.get("page") if index == resume.get("label_index") else None
            pages = PageGuard("Gmail", what=f"label {label!r}", start=page)
            while True:
                request = (
                    service.users()
                    .messages()
                    .list(
                        userId="me",
                        labelIds=[label],
                        q=self.config.get("query") or None,
                        maxResults=LIST_PAGE,
                        pageToken=page,
                    )
                )
                response = execute(request)
                ids = [m["id"] for m in response.get("messages") or []]
                if seen is not None:
                    for message_id in ids:
                        seen.add(f"msg:{message_id}")
                items, deletes = self._fetch([i for i in ids if f"msg:{i}" not in known])
                known.update(f"msg:{i}" for i in ids)
                page = pages.follow(response.get("nextPageToken"))
                if page:
                    yield Batch(items=items, deletes=deletes, cursor=checkpoint(label_index=index, page=page))
                    continue
                yield Batch(items=items, deletes=deletes, cursor=checkpoint(label_index=index + 1))
                break
        gone = seen.missing(self.ctx.known_ids(prefix="msg:")) if seen is not None else []
        yield Batch(deletes=gone, cursor={"history_id": history_id})

    def _incremental(self, start, wanted: set[str]):
        service = self._service()
        candidates, relabeled, deleted = set(), set(), set()
        latest, page = start, None
        pages = PageGuard("Gmail", what="history")
        while True:
            response = (
                service.users()
                .history()
                .list(userId="me", startHistoryId=start, historyTypes=HISTORY_TYPES, maxResults=500, pageToken=page)
                .execute(num_retries=0)
            )
            for record in response.get("history") or []:
                for added in record.get("messagesAdded") or []:
                    if set(added["message"].get("labelIds") or []) & wanted:
                        candidates.add(added["message"]["id"])
                for gone in record.get("messagesDeleted") or []:
                    deleted.add(gone["message"]["id"])
                for change in record.get("labelsAdded") or []:
                    if set(change.get("labelIds") or []) & wanted:
                        candidates.add(change["message"]["id"])
                for change in record.get("labelsRemoved") or []:
                    if set(change.get("labelIds") or []) & wanted:
                        relabeled.add(change["message"]["id"])
            latest = response.get("historyId", latest)
            page = pages.follow(response.get("nextPageToken"))
            self.ctx.heartbeat()
            if not page:
                break
        candidates -= deleted
        relabeled -= deleted | candidates
        if self.config.get("query"):
            candidates &= self._matching_query(candidates)
        known = self.ctx.known_ids(prefix="msg:")
        relabeled &= {k[4:] for k in known}
        to_fetch = sorted(candidates | relabeled)
        deletes = sorted(f"msg:{i}" for i in deleted if f"msg:{i}" in known)
        size = max(1, min(settings.SYNC_BATCH_SIZE, 100))
        for offset in range(0, len(to_fetch), size):
            items, gone = self._fetch(to_fetch[offset : offset + size], wanted=wanted)
            yield Batch(items=items, deletes=gone, cursor={"history_id": start})
        yield Batch(deletes=deletes, cursor={"history_id": latest})

    def _matching_query(self, candidates: set[str]) -> set[str]:
        """Which new messages match the integration's Gmail search (history.list cannot filter by
        search): page the search results, newest first, until every candidate is accounted for."""
        service, found, page = self._service(), set(), None
        pages = PageGuard("Gmail", what="search")
        for _ in range(QUERY_PAGES):
            response = execute(
                service.users()
                .messages()
                .list(userId="me", q=self.config["query"], maxResults=LIST_PAGE, pageToken=page)
            )
            found.update(m["id"] for m in response.get("messages") or [])
            page = pages.follow(response.get("nextPageToken"))
            if candidates <= found or not page:
                break
        return found

    def _fetch(self, ids: list[str], *, wanted: set[str] | None = None) -> tuple[list, list]:
        service, items, deletes = self._service(), [], []
        for message_id in ids:
            try:
                message = (
                    service.users().messages().get(userId="me", id=message_id, format="full").execute(num_retries=0)
                )
            except HttpError as exc:
                if status_of(exc) == 404:  # deleted since it was listed
                    deletes.append(f"msg:{message_id}")
                    continue
                raise classify(exc) from exc
            if wanted is not None and not set(message.get("labelIds") or []) & wanted:
                deletes.append(f"msg:{message_id}")  # no longer under a chosen label
                continue
            items.append({"message": message})
            self.ctx.heartbeat()
        return items, deletes

    # -- records -----------------------------------------------------------------------------
    def transform(self, raw) -> Record:
        if "label" in raw:
            label = raw["label"]
            return Record(
                external_id=f"label:{label['id']}",
                kind="label",
                title=label.get("name", label["id"]),
                data={"label_id": label["id"], "type": label.get("type", "")},
            )
        message = raw["message"]
        payload = message.get("payload") or {}
        headers = {h["name"].lower(): h["value"] for h in payload.get("headers") or []}
        limit = int(self.config.get("max_body_kb", 64)) * 1024
        text = body_text(payload) if limit else ""
        truncated = len(text) > limit
        names = getattr(self, "_label_names", {})
        when = None
        if message.get("internalDate"):
            when = datetime.datetime.fromtimestamp(int(message["internalDate"]) / 1000, tz=datetime.UTC)
        attachments = [
            {
                "filename": p["filename"],
                "mime_type": p.get("mimeType", ""),
                "size": (p.get("body") or {}).get("size", 0),
            }
            for p in _walk(payload)
            if p.get("filename")
        ]
        return Record(
            external_id=f"msg:{message['id']}",
            kind="message",
            title=headers.get("subject") or "(no subject)",
            summary=text[:limit],
            occurred_at=when,
            data={
                "message_id": headers.get("message-id", ""),
                "thread_id": message.get("threadId", ""),
                "from": headers.get("from", ""),
                "to": headers.get("to", ""),
                "cc": headers.get("cc", ""),
                "date": headers.get("date", ""),
                "labels": [names.get(i, i) for i in message.get("labelIds") or []],
                "label_ids": message.get("labelIds") or [],
                "snippet": message.get("snippet", ""),
                "size_estimate": message.get("sizeEstimate", 0),
                "attachments": attachments,
                "body_truncated": truncated,
            },
            source_url=f"https://mail.google.com/mail/u/0/#all/{message['id']}",
            version=str(message.get("historyId", "")),
        )

    # -- output ---------------------------------------------------------------------------------
    def send(self, cards: list, config: dict) -> Delivery:
        merged = {**(self.config or {}), **{k: v for k, v in (config or {}).items() if v not in (None, "")}}
        recipients = [str(r).strip() for r in merged.get("to") or [] if str(r).strip()]
        if not recipients:
            raise ConfigError("No recipients are set.", field="to", remediation="Enter at least one email address.")
        sender = self.test_connection()
        prefix = str(merged.get("subject_prefix") or "").strip()
        service, ids = self._service(), []
        for card in cards:
            message = email.message.EmailMessage()
            message["From"] = sender
            message["To"] = ", ".join(recipients)
            message["Subject"] = f"{prefix} {card.title}".strip()
            message["Date"] = email.utils.formatdate(localtime=False)
            if card.key:
                digest = hashlib.sha256(card.key.encode()).hexdigest()[:32]
                message["Message-ID"] = f"<{digest}@metacortex.hub>"
            text = card.markdown or card.title
            if card.url:
                text = f"{text}\n\n{card.url}"
            message.set_content(text)
            if card.html:
                message.add_alternative(card.html, subtype="html")
            raw = base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")
            sent = execute(service.users().messages().send(userId="me", body={"raw": raw}))
            ids.append(sent.get("id", ""))
        return Delivery(delivered=len(ids), detail=f"{len(ids)} message(s) sent from {sender}", external_ids=ids)
