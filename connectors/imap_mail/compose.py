"""Outgoing mail from workflow cards: SMTP sending, or IMAP APPEND into a folder.

Each card becomes one multipart/alternative message (text from the card's markdown, HTML from
its sanitized html), From the account, with a Message-ID derived from the card's key: the same
card always has the same Message-ID, which is how filing it twice is detected (SEARCH HEADER
Message-ID before APPEND) and how a mail client threads repeats.

When a batch fails part-way, the error carries the messages handed over before it as
`error.delivery` (connectors.base.Delivery), like connectors.webapi.deliver_each: the workflow
then retries only the others, and a resent mail is never sent twice.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from connectors.base import Delivery
from connectors.errors import ConfigError, classify

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def recipients(config: dict) -> list[str]:
    value = config.get("to") or []
    if isinstance(value, str):
        value = re.split(r"[\n,;]", value)
    found = [str(v).strip() for v in value if str(v).strip()]
    bad = [v for v in found if not _EMAIL.match(v)]
    if bad:
        raise ConfigError(
            f"Not an email address: {', '.join(bad)}.",
            remediation="Enter one recipient address per line.",
            field="to",
        )
    return found


def message_id(card, domain: str) -> str:
    if not card.key:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(card.key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.metacortex@{domain}>"


def build_message(card, *, sender: str, to: list[str], prefix: str) -> EmailMessage:
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "metacortex.local"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to) if to else sender
    title = " ".join((card.title or "").split())  # no header injection through line breaks
    msg["Subject"] = f"{prefix.strip()} {title}".strip() if prefix else title
    msg["Date"] = format_datetime(datetime.datetime.now(datetime.UTC))
    msg["Message-ID"] = message_id(card, domain)
    text = card.markdown or card.title or ""
    if card.url and card.url not in text:
        text = f"{text}\n\n{card.url}".strip()
    msg.set_content(text + "\n")
    if card.html:
        msg.add_alternative(card.html, subtype="html")
    return msg


def send_cards(connector, cards: list, config: dict) -> Delivery:
    mode = str(config.get("mode") or "imap_append")
    prefix = str(config.get("subject_prefix") or "")
    if mode not in ("smtp_send", "imap_append"):
        raise ConfigError(f"Unknown delivery mode {mode!r}.", field="mode")
    to = recipients(config)
    if mode == "smtp_send" and not to:
        raise ConfigError("Sending mail needs at least one recipient.", field="to")
    messages = [build_message(card, sender=connector.account, to=to, prefix=prefix) for card in cards]
    if not messages:
        return Delivery(delivered=0, detail="Nothing to deliver.")
    if mode == "smtp_send":
        return _send_smtp(connector, messages, to)
    return _append(connector, messages, str(config.get("folder") or "INBOX").strip() or "INBOX")


def _send_smtp(connector, messages: list[EmailMessage], to: list[str]) -> Delivery:
    from connectors.imap_mail.client import connect_smtp, translate

    if not connector.config.get("smtp_host"):
        raise ConfigError(
            "Sending mail needs an SMTP server, and none is set.",
            remediation="Fill in the SMTP server in the integration's settings, or file messages into a folder.",
            field="smtp_host",
        )
    where = f"{connector.config.get('smtp_host')}:{connector.config.get('smtp_port', '')}"
    smtp = connect_smtp(connector.config, connector.secrets)
    refused_all: set[str] = set()
    sent: list[EmailMessage] = []
    try:
        with _partial(sent, len(messages)), translate(where, smtp=True):
            for msg in messages:
                refused = smtp.send_message(msg, from_addr=connector.account, to_addrs=to)
                refused_all.update(refused)
                sent.append(msg)
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 - the messages are handed over already
            smtp.close()
    detail = f"Sent {len(messages)} message(s) to {', '.join(to)}."
    if refused_all:
        detail += f" Refused by the server: {', '.join(sorted(refused_all))}."
    return Delivery(delivered=len(messages), detail=detail, external_ids=[m["Message-ID"] for m in messages])


def _append(connector, messages: list[EmailMessage], folder: str) -> Delivery:
    client = connector.client
    filed = already = 0
    seen: set[str] = set()
    done: list[EmailMessage] = []
    with _partial(done, len(messages)), connector._translate():
        connector._check_folders([folder])
        client.select_folder(folder, readonly=True)
        for msg in messages:
            msgid = msg["Message-ID"]
            if msgid in seen or client.search(["HEADER", "Message-ID", msgid]):
                already += 1
                seen.add(msgid)
                done.append(msg)
                continue
            client.append(folder, msg.as_bytes(), flags=(), msg_time=datetime.datetime.now(datetime.UTC))
            seen.add(msgid)
            filed += 1
            done.append(msg)
    detail = f"Filed {filed} message(s) in {folder}."
    if already:
        detail += f" {already} already there (not filed twice)."
    return Delivery(delivered=len(messages), detail=detail, external_ids=[m["Message-ID"] for m in messages])


class _partial:
    """Around a batch: a ConnectorError raised part-way says how many messages went out first and
    carries them as `error.delivery`. Enter it before `translate`, so it sees the translated error."""

    def __init__(self, done: list[EmailMessage], total: int):
        self.done, self.total = done, total

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not isinstance(exc, Exception):
            return False
        error = classify(exc)
        if self.done:
            error.message = (
                f"{len(self.done)} of {self.total} messages were delivered before this error: {error.message}"
            )
            error.args = (error.message,)
        error.delivery = Delivery(delivered=len(self.done), external_ids=[m["Message-ID"] for m in self.done])
        if error is exc:
            return False
        raise error from exc
