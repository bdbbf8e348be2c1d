"""The IMAP mail connector: reads messages from the folders a user chooses, files or sends mail.

Incremental by UIDVALIDITY + UID, with CONDSTORE (MODSEQ) for flag changes where offered. The
cursor is JSON, one state per folder:
    {"folders": {"INBOX": {"uidvalidity": 123, "last_uid": 456, "modseq": 789}}, "progress": 500}
("progress" only while a pass is unfinished, so a resumed job keeps a right progress total).

Per folder and sync: EXAMINE (read-only: nothing is ever marked read, and bodies are fetched
with BODY.PEEK), one UID SEARCH ALL (new UIDs are those above last_uid; known ids missing from
it are tombstoned), a SEARCH MODSEQ only when HIGHESTMODSEQ moved (changed flags: those
messages are fetched again), then FETCH in batches of settings.SYNC_BATCH_SIZE, each checkpointed
by the engine. A new UIDVALIDITY means the old UIDs mean nothing: the folder's records are
dropped (Batch.reset_prefix) and the folder is read again from scratch.

External ids are "<folder>/<uidvalidity>/<uid>" with "%" and "/" escaped in the folder name, so
one folder's prefix never matches another folder.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from connectors.base import Batch, Connector, Delivery, Record
from connectors.errors import ConfigError, ConnectorError, ItemError
from connectors.imap_mail.client import connect_imap, connect_smtp, imaplib_error, translate
from connectors.imap_mail.compose import send_cards
from connectors.imap_mail.parse import SKIP_FLAGS, Unreadable, parse, parse_date, summary_of
from connectors.imap_mail.structure import attachments_from_structure
from connectors.registry import registry

HEADER_SLACK = 64 * 1024
MIN_FETCH_BYTES = 256 * 1024  # per message; larger ones are fetched in part, attachments from BODYSTRUCTURE
STRUCTURE_BATCH = 200
# A message the server fails to give us (an error for it alone, or an answer without its text)
# is remembered in the cursor and asked for again at the next syncs, this many times in all.
RETRY_ATTEMPTS = 5
# Asked for one by one, this many failures in a row with none read mean the server fails them all
# (not one bad message): the sync fails as before, rather than log in again for each message.
ISOLATION_GIVES_UP = 10
log = logging.getLogger(__name__)


def escape_folder(folder: str) -> str:
    return folder.replace("%", "%25").replace("/", "%2F")


def folder_prefix(folder: str) -> str:
    return f"{escape_folder(folder)}/"


def flags_version(flags) -> str:
    names = sorted(_flag_names(flags))
    return "flags:" + hashlib.sha1("|".join(names).encode(), usedforsecurity=False).hexdigest()[:16]


def _flag_names(flags) -> list[str]:
    names = (f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in flags or ())
    return sorted(n for n in names if n not in SKIP_FLAGS)


@dataclass(slots=True)
class MailItem:
    """One fetched message, as list_changes hands it to transform()."""

    folder: str
    uidvalidity: int
    uid: int
    body: bytes | None  # None: the server's answer held no message text
    flags: tuple = ()
    internaldate: datetime.datetime | None = None
    size: int = 0
    modseq: int | None = None
    truncated: bool = False  # only the first bytes were fetched (a very large message)
    attachments: list | None = None  # from BODYSTRUCTURE, for truncated messages

    @property
    def external_id(self) -> str:
        return f"{escape_folder(self.folder)}/{self.uidvalidity}/{self.uid}"


@dataclass
class FolderPlan:
    folder: str
    uidvalidity: int
    modseq: int | None
    old_modseq: int | None
    last_uid: int
    reset: bool = False
    deletes: list[str] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # known messages whose flags changed
    new: list[int] = field(default_factory=list)
    retry: dict[int, int] = field(default_factory=dict)  # {uid: failed attempts} of unread messages

    def state(self, *, last_uid: int, changes_done: bool) -> dict:
        state = {"uidvalidity": self.uidvalidity, "last_uid": last_uid}
        modseq = self.modseq if changes_done else self.old_modseq
        if modseq is not None:
            state["modseq"] = modseq
        if self.retry:
            state["retry"] = {str(uid): tries for uid, tries in sorted(self.retry.items())}
        return state


def _retry_of(state, present: set[int]) -> dict[int, int]:
    """{uid: attempts} of the messages a cursor remembers as not read yet, still in the folder."""
    found = state.get("retry") if isinstance(state, dict) else None
    result = {}
    for uid, tries in (found or {}).items() if isinstance(found, dict) else ():
        with contextlib.suppress(TypeError, ValueError):
            if int(uid) in present:
                result[int(uid)] = int(tries)
    return result


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _body_of(data: dict, headers_only: bool) -> bytes | None:
    """The message (or header) text of one FETCH answer. RFC 3501 names a partial answer BODY[]<0>,
    but servers also answer BODY[] or echo the whole range (BODY[]<0.262144>): any BODY[] answer
    is the message. None when the server sent none at all."""
    exact = b"BODY[HEADER]" if headers_only else b"BODY[]<0>"
    value = data.get(exact)
    if isinstance(value, bytes):
        return value
    prefix = b"BODY[HEADER]" if headers_only else b"BODY[]"
    for key, value in data.items():
        if isinstance(key, bytes) and key.startswith(prefix) and isinstance(value, bytes):
            return value
    return None


_DATE_HEADER = re.compile(rb"^date:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.I | re.M)


def _has_date(body: bytes) -> bool:
    """Whether the message's own Date header is readable (else INTERNALDATE stands in for it)."""
    end = body.find(b"\r\n\r\n")
    match = _DATE_HEADER.search(body, 0, end if end != -1 else len(body))
    if not match:
        return False
    return parse_date(match.group(1).decode("ascii", "replace")) is not None


def _is_nonexistent(exc) -> bool:
    """Whether an EXAMINE was refused because the folder is not there (RFC 5530 [NONEXISTENT])."""
    text = str(exc).upper()
    return "[NONEXISTENT]" in text or "DOESN'T EXIST" in text or "DOES NOT EXIST" in text


def _message_failure(exc) -> bool:
    """Whether a failed FETCH may be the message's own doing (the server refused it or dropped the
    connection over it), as opposed to a timeout or a refused login, which are the server's."""
    if isinstance(exc, ItemError):
        return True
    cause = exc.__cause__
    import imaplib

    from imapclient.exceptions import LoginError, ProtocolError

    return isinstance(cause, imaplib.IMAP4.error | ProtocolError) and not isinstance(cause, LoginError)


def _dropped(exc) -> bool:
    """Whether the server closed the connection over the failure (BYE), so a new one is needed."""
    import imaplib

    return isinstance(exc.__cause__, imaplib.IMAP4.abort)


def _server_words(exc) -> str:
    text = str(exc.__cause__ or exc).strip()
    return (text[:200] + "…") if len(text) > 200 else text


def _since_date(value) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConfigError(f"The backfill start {value!r} is not a date (YYYY-MM-DD).") from None


@registry.register("imap")
class ImapConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"message": "message"}

    @staticmethod
    def typed_fields(item) -> dict:
        return {"has_attachments": bool((item.data or {}).get("attachments"))}

    supports_write = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self._client = None

    # -- settings --------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.config.get('host', '')}:{self.config.get('port', '')}"

    def folders(self) -> list[str]:
        value = self.config.get("folders") or ["INBOX"]
        if isinstance(value, str):
            value = re.split(r"[\n,]", value)
        seen, result = set(), []
        for name in (str(v).strip() for v in value):
            key = "INBOX" if name.upper() == "INBOX" else name
            if name and key not in seen:
                seen.add(key)
                result.append(key)
        return result or ["INBOX"]

    @property
    def max_body_chars(self) -> int:
        try:
            kb = int(self.config.get("max_body_kb", 64))
        except (TypeError, ValueError):
            kb = 64
        return max(0, kb) * 1024

    @property
    def account(self) -> str:
        username = str(self.config.get("username") or "").strip()
        if "@" in username:
            return username
        return f"{username}@{self.config.get('host', 'localhost')}"

    # -- connection ------------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            # The integration's outbound policy: its rate limit and request metrics cover IMAP too.
            self._client = connect_imap(self.config, self.secrets, policy=getattr(self.http, "policy", None))
            self._client._imap.debug = 0  # imaplib would format a debug line per response line
        return self._client

    def close(self):
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection may be gone already
            with contextlib.suppress(Exception):
                client.shutdown()

    def _translate(self):
        return translate(self.where)

    def _existing_folders(self) -> dict[str, str]:
        """{name as configured-comparable: name} of the selectable folders on the server."""
        found = {}
        for flags, _delimiter, name in self.client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            found["INBOX" if name.upper() == "INBOX" else name] = name
        return found

    def _check_folders(self, wanted: list[str]):
        existing = self._existing_folders()
        missing = [f for f in wanted if f not in existing]
        if missing:
            names = ", ".join(sorted(existing)[:40]) or "none"
            plural = "folders" if len(missing) > 1 else "folder"
            raise ConfigError(
                f"The {plural} {', '.join(repr(m) for m in missing)} "
                f"{'do' if len(missing) > 1 else 'does'} not exist on the mail server. Folders there: {names}.",
                remediation="Fix the folder names in the integration's settings (one per line), then sync again.",
                field="folders",
            )

    def _missing_folders(self, wanted: list[str]) -> tuple[list[str], list[str]]:
        """(missing, existing): the chosen folders the server no longer has (deleted or renamed
        since they were chosen), and the folders it has. The others are still synced; only when
        none is left does the sync fail, naming them."""
        existing = self._existing_folders()
        missing = [f for f in wanted if f not in existing]
        if len(missing) == len(wanted):
            self._check_folders(wanted)
        return missing, sorted(existing)

    @staticmethod
    def _missing_notice(missing: list[str], existing: list[str]) -> str:
        names = ", ".join(repr(m) for m in missing)
        one = len(missing) == 1
        return (
            f"The {'folder' if one else 'folders'} {names} no longer {'exists' if one else 'exist'} on the mail "
            f"server (deleted or renamed there), so {'it was' if one else 'they were'} skipped; the other folders "
            "were synced, and the mail already imported from "
            f"{'it' if one else 'them'} is kept. Pick the folder again in the integration's Folders setting "
            f"(its new name, if it was renamed), or remove it there. Folders there: {', '.join(existing[:40])}."
        )

    # -- interface -------------------------------------------------------------------------------
    def test_connection(self) -> str:
        with self._translate():
            self._check_folders(self.folders())
        if self.config.get("smtp_host"):
            smtp = connect_smtp(self.config, self.secrets)
            try:
                smtp.quit()
            except Exception:  # noqa: BLE001 - we only checked that it lets us in
                smtp.close()
        return str(self.config.get("username") or "").strip() or self.account

    def list_changes(self, cursor) -> Iterator[Batch]:
        folders = self.folders()
        since = _since_date(self.ctx.options.get("since"))
        cursor = cursor if isinstance(cursor, dict) else {}
        states = cursor.get("folders") if isinstance(cursor.get("folders"), dict) else {}
        done = int(cursor.get("progress") or 0)
        with self._translate():
            missing, existing = self._missing_folders(folders)
            plans = []
            for folder in folders:
                if folder in missing:
                    continue
                plan = self._plan(folder, states.get(folder), since)
                if plan is None:  # deleted between LIST and EXAMINE
                    missing.append(folder)
                else:
                    plans.append(plan)
        total = done + sum(len(p.changed) + len(p.new) + len(p.retry) for p in plans)
        current = {p.folder: p.state(last_uid=p.last_uid, changes_done=not p.changed) for p in plans}
        # A missing folder keeps its place in the cursor: if it comes back, nothing is read twice.
        current.update({f: states[f] for f in missing if isinstance(states.get(f), dict)})
        notices = [self._missing_notice(missing, existing)] if missing else []
        if notices:
            yield Batch(cursor={"folders": dict(current), "progress": done}, total=total, notices=notices)
        size = max(1, int(settings.SYNC_BATCH_SIZE))

        for plan in plans:
            if plan.reset or plan.deletes:
                yield Batch(
                    deletes=plan.deletes,
                    reset_prefix=folder_prefix(plan.folder) if plan.reset else None,
                    cursor={"folders": dict(current), "progress": done},
                    total=total,
                )
            if not plan.changed and not plan.new and not plan.retry:
                continue
            with self._translate():
                self.client.select_folder(plan.folder, readonly=True)
            pending_changes = len(plan.changed)
            for chunk in _chunks(plan.changed, size):
                self.ctx.heartbeat()
                items, errors = self._fetch_each(plan, chunk, retrying=False)
                pending_changes -= len(chunk)
                current[plan.folder] = plan.state(last_uid=plan.last_uid, changes_done=pending_changes == 0)
                done += len(items)
                yield Batch(
                    items=items, errors=errors, cursor={"folders": dict(current), "progress": done}, total=total
                )
            for chunk in _chunks(sorted(plan.retry), size):
                self.ctx.heartbeat()
                items, errors = self._fetch_each(plan, chunk, retrying=True)
                current[plan.folder] = plan.state(last_uid=plan.last_uid, changes_done=not plan.changed)
                done += len(items)
                yield Batch(
                    items=items, errors=errors, cursor={"folders": dict(current), "progress": done}, total=total
                )
            for chunk in _chunks(plan.new, size):
                self.ctx.heartbeat()
                items, errors = self._fetch_each(plan, chunk, retrying=False)
                current[plan.folder] = plan.state(last_uid=chunk[-1], changes_done=True)
                done += len(items)
                yield Batch(
                    items=items, errors=errors, cursor={"folders": dict(current), "progress": done}, total=total
                )
        # The pass is complete: the cursor without "progress" starts the next sync from zero.
        yield Batch(cursor={"folders": current}, total=total)

    def _plan(self, folder: str, state, since: datetime.date | None) -> FolderPlan | None:
        self.ctx.heartbeat()
        client = self.client
        try:
            info = client.select_folder(folder, readonly=True)
        except imaplib_error() as exc:
            if _is_nonexistent(exc):
                return None
            raise
        uidvalidity = self._uidvalidity(folder, info)
        highest = info.get(b"HIGHESTMODSEQ")
        highest = int(highest) if highest is not None else None
        state = state if isinstance(state, dict) else None
        reset = bool(state) and int(state.get("uidvalidity") or 0) != uidvalidity
        if reset:
            state = None
        last_uid = int(state.get("last_uid") or 0) if state else 0
        old_modseq = state.get("modseq") if state else None
        plan = FolderPlan(folder, uidvalidity, highest, old_modseq if last_uid else highest, last_uid, reset=reset)

        uids = sorted(client.search(["SINCE", since] if since else ["ALL"]))
        plan.new = [uid for uid in uids if uid > last_uid]
        backfill = since is not None
        if not backfill:
            prefix = folder_prefix(folder)
            live_prefix = f"{prefix}{uidvalidity}/"
            known = self.ctx.known_ids(prefix)
            if not plan.reset and any(not k.startswith(live_prefix) for k in known):
                plan.reset = True  # records from another UIDVALIDITY of this folder: start clean
            if plan.reset:
                plan.new, plan.last_uid, plan.old_modseq = uids, 0, highest
                last_uid = 0
            else:
                present = {f"{live_prefix}{uid}" for uid in uids}
                plan.deletes = sorted(k for k in known if k not in present)
        if last_uid:
            plan.changed = self._changed_since(plan, state, [u for u in uids if u <= last_uid])
            plan.retry = _retry_of(state, {u for u in uids if u <= last_uid})
        return plan

    def _uidvalidity(self, folder: str, info: dict) -> int:
        """The folder's UIDVALIDITY. RFC 3501 makes it part of every SELECT answer, but some
        servers leave it out (Xeams on EXAMINE): then STATUS is asked, and a server that says it
        nowhere is read as 0 (its UIDs taken as stable, as its other clients take them)."""
        value = info.get(b"UIDVALIDITY")
        if value is None:
            import imaplib

            try:
                value = self.client.folder_status(folder, [b"UIDVALIDITY"]).get(b"UIDVALIDITY")
            except imaplib.IMAP4.abort:
                raise  # the connection is gone: a transient error, classified as usual
            except imaplib.IMAP4.error:  # a server this odd may refuse STATUS too
                value = None
            log.info("IMAP folder %s: no UIDVALIDITY on SELECT; STATUS says %s", folder, value)
        try:
            return int(value or 0)
        except (TypeError, ValueError):
            return 0

    def _changed_since(self, plan: FolderPlan, state: dict, old_uids: list[int]) -> list[int]:
        """Known messages whose flags changed since the cursor (CONDSTORE, else by flags digest)."""
        client = self.client
        if not old_uids:
            return []
        old_modseq = state.get("modseq")
        if plan.modseq is not None and old_modseq is not None:
            if int(old_modseq) >= plan.modseq:
                return []
            changed = client.search(["MODSEQ", str(int(old_modseq) + 1)])
            wanted = set(old_uids)
            return sorted(uid for uid in changed if uid in wanted)
        # No CONDSTORE: compare each message's flags with the version stored for it.
        prefix = f"{folder_prefix(plan.folder)}{plan.uidvalidity}/"
        versions = self.ctx.known_versions([f"{prefix}{uid}" for uid in old_uids])
        changed = []
        for chunk in _chunks(old_uids, 1000):
            self.ctx.heartbeat()
            for uid, data in client.fetch(chunk, ["FLAGS"]).items():
                stored = versions.get(f"{prefix}{uid}")
                if stored is not None and stored != flags_version(data.get(b"FLAGS")):
                    changed.append(uid)
        return sorted(changed)

    def _fetch_each(self, plan: FolderPlan, uids: list[int], *, retrying: bool) -> tuple[list, list]:
        """(items, errors) of a batch. When the server fails the batch (Dovecot answers a message
        it cannot open with BYE "FETCH failed"), each message is asked for alone, on a new
        connection after each failure: one bad message neither fails the sync for ever nor hides
        the rest. A message whose own FETCH fails while the server otherwise answers, or that comes
        without its text, is an item error remembered in the cursor (plan.retry) and asked for
        again at the next syncs, RETRY_ATTEMPTS times in all."""
        try:
            with self._translate():
                items = self._fetch(plan, uids)
            failures = {}
        except ConnectorError as exc:
            if not _message_failure(exc):
                raise
            items, failures = [], {}
            if _dropped(exc):
                self._reopen(plan.folder)
            for uid in uids:
                try:
                    with self._translate():
                        items += self._fetch(plan, [uid])
                except ConnectorError as one:
                    if not _message_failure(one):
                        raise
                    failures[uid] = _server_words(one)
                    if not items and len(failures) >= ISOLATION_GIVES_UP:
                        raise exc from None  # no message answers: the server's trouble, not theirs
                    if _dropped(one):
                        self._reopen(plan.folder)  # a server that is down now fails the sync, as usual
        for item in [i for i in items if i.body is None]:
            failures[item.uid] = "the server answered without its content"
            items.remove(item)
        for item in items:
            plan.retry.pop(item.uid, None)
        errors = []
        for uid, reason in sorted(failures.items()):
            tries = plan.retry.get(uid, 0) + 1 if retrying else 1
            where = f"Message {uid} in {plan.folder}"
            if tries >= RETRY_ATTEMPTS:
                plan.retry.pop(uid, None)
                remediation = (
                    f"The hub tried {tries} times and stopped; re-sync everything from the integration's page "
                    "to try again (and tell the mail provider if it keeps failing)."
                )
            else:
                plan.retry[uid] = tries
                remediation = f"The hub asks for it again at the next syncs ({RETRY_ATTEMPTS - tries} more tries)."
            errors.append(
                ItemError(
                    f"{where} could not be fetched from the mail server ({reason}). {remediation}",
                    remediation=remediation,
                    external_id=f"{escape_folder(plan.folder)}/{plan.uidvalidity}/{uid}",
                )
            )
        return items, errors

    def _reopen(self, folder: str):
        """A new connection with the folder examined again (after the server dropped the last)."""
        self.close()
        with self._translate():
            self.client.select_folder(folder, readonly=True)

    def _fetch(self, plan: FolderPlan, uids: list[int]) -> list[MailItem]:
        client = self.client
        headers_only = self.max_body_chars == 0
        cap = max(MIN_FETCH_BYTES, 3 * self.max_body_chars + HEADER_SLACK)
        section = "BODY.PEEK[HEADER]" if headers_only else f"BODY.PEEK[]<0.{cap}>"
        wanted = ["FLAGS", "RFC822.SIZE", section]  # INTERNALDATE only where the Date header fails
        if plan.modseq is not None:
            wanted.append("MODSEQ")
        response = client.fetch(uids, wanted)
        items, truncated = [], []
        for uid in uids:
            data = response.get(uid)
            if data is None:
                continue  # expunged since the SEARCH: the next sync tombstones it
            size = int(data.get(b"RFC822.SIZE") or 0)
            modseq = data.get(b"MODSEQ")
            item = MailItem(
                folder=plan.folder,
                uidvalidity=plan.uidvalidity,
                uid=uid,
                body=_body_of(data, headers_only),
                flags=tuple(data.get(b"FLAGS") or ()),
                internaldate=data.get(b"INTERNALDATE"),
                size=size,
                modseq=int(modseq[0]) if isinstance(modseq, tuple | list) and modseq else None,
                truncated=not headers_only and size > cap,
            )
            items.append(item)
            if item.truncated:
                truncated.append(item)
        self._fetch_missing_bodies([i for i in items if i.body is None], headers_only, cap)
        undated = [item for item in items if item.body is not None and not _has_date(item.body)]
        for chunk in _chunks(undated, STRUCTURE_BATCH):
            dates = client.fetch([i.uid for i in chunk], ["INTERNALDATE"])
            for item in chunk:
                item.internaldate = dates.get(item.uid, {}).get(b"INTERNALDATE")
        for chunk in _chunks(truncated, STRUCTURE_BATCH):
            structures = client.fetch([i.uid for i in chunk], ["BODYSTRUCTURE"])
            for item in chunk:
                structure = structures.get(item.uid, {}).get(b"BODYSTRUCTURE")
                item.attachments = attachments_from_structure(structure) if structure is not None else None
        return items

    def _fetch_missing_bodies(self, missing: list[MailItem], headers_only: bool, cap: int):
        """Messages the server answered without their text (servers that cannot answer a partial
        FETCH send nothing for it): asked again whole, or for their header alone when larger than
        the cap (their attachments then come from BODYSTRUCTURE, as for any large message)."""
        for whole, section in ((True, "BODY.PEEK[]"), (False, "BODY.PEEK[HEADER]")):
            chosen = [i for i in missing if (not headers_only and i.size <= cap) == whole]
            if whole and headers_only:
                continue
            for chunk in _chunks(chosen, STRUCTURE_BATCH):
                answers = self.client.fetch([i.uid for i in chunk], [section])
                for item in chunk:
                    item.body = _body_of(answers.get(item.uid, {}), headers_only=not whole)

    def transform(self, raw: MailItem) -> Record:
        external_id = raw.external_id
        where = f"message {raw.uid} in {raw.folder}"
        if raw.body is None:
            raise ItemError(
                f"The mail server answered for {where} without its content, so it could not be read.",
                remediation="Re-sync everything from the integration's page to read it again.",
                external_id=external_id,
            )
        try:
            mail = parse(raw.body, max_body_chars=self.max_body_chars, headers_only=self.max_body_chars == 0)
        except Unreadable as exc:
            raise ItemError(f"The {where} could not be read: {exc}.", external_id=external_id) from None
        except Exception as exc:  # noqa: BLE001 - one bad message never stops the sync
            raise ItemError(
                f"The {where} could not be read ({type(exc).__name__}: {exc}).", external_id=external_id
            ) from None
        if raw.attachments is not None:
            mail.attachments = raw.attachments
        occurred = mail.date or raw.internaldate
        if occurred is not None and occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=datetime.UTC)
        data = {
            "from": mail.from_,
            "to": mail.to,
            "cc": mail.cc,
            "message_id": mail.message_id,
            "in_reply_to": mail.in_reply_to,
            "folder": raw.folder,
            "uid": raw.uid,
            "flags": _flag_names(raw.flags),
            "size": raw.size,
            "attachments": mail.attachments,
            "text": mail.text,
            "html": mail.html,
        }
        if mail.truncated or raw.truncated:
            data["truncated"] = True
        if mail.defects:
            data["defects"] = mail.defects
        return Record(
            external_id=external_id,
            kind="message",
            title=mail.subject or "(no subject)",
            summary=summary_of(mail.text),
            occurred_at=occurred,
            data=data,
            version=f"modseq:{raw.modseq}" if raw.modseq is not None else flags_version(raw.flags),
            # After a UIDVALIDITY change the same message comes back under a new UID: the engine
            # revives its old record by folder + Message-ID instead of creating a new one.
            match_key=f"{folder_prefix(raw.folder)}{mail.message_id}" if mail.message_id else "",
        )

    def send(self, cards: list, config: dict) -> Delivery:
        return send_cards(self, cards, config or {})
