"""Outgoing mail from workflow cards: SMTP sending, or IMAP APPEND into a folder.

Each card becomes one multipart/alternative message (text from the card's markdown, HTML from
its sanitized html), From the account, with a Message-ID derived from the card's key: the same
card always has the same Message-ID, which is how filing it twice is detected (SEARCH HEADER
Message-ID before APPEND) and how a mail client threads repeats.

Messages go out one by one through connectors.webapi.deliver_each, like every output's: when a
batch fails part-way, the error carries the messages handed over before it as `error.delivery`,
the workflow then retries only the others, and a resent mail is never sent twice.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from connectors.base import Delivery
from connectors.errors import ConfigError
from connectors.imap_mail.client import connect_smtp, translate
from connectors.webapi import deliver_each

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def recipients(config: dict) -> list[str]:
    value = config.get("to") or []
    if isinstance(value, str):
        value = re.split(r"[\n,;]", value)
    found = [str(v).strip() for v in value if str(v).strip()]
    bad = [v for v in found if not _EMAIL.match(v) or _ascii_domain(v) is None]
    if bad:
        raise ConfigError(
            f"Not an email address: {', '.join(bad)}.",
            remediation="Enter one recipient address per line.",
            field="to",
        )
    return [_ascii_domain(v) for v in found]


def _ascii_domain(address: str) -> str | None:
    """The address with its domain in the ASCII (IDNA) form every mail server accepts: leser@bücher.de
    goes out as leser@xn--bcher-kva.de, instead of needing SMTPUTF8 or breaking the To header."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None


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
    if not connector.config.get("smtp_host"):
        raise ConfigError(
            "Sending mail needs an SMTP server, and none is set.",
            remediation="Fill in the SMTP server in the integration's settings, or file messages into a folder.",
            field="smtp_host",
        )
    where = f"{connector.config.get('smtp_host')}:{connector.config.get('smtp_port', '')}"
    smtp = connect_smtp(connector.config, connector.secrets)
    refused_all: set[str] = set()

    def send_one(msg: EmailMessage) -> str:
        with translate(where, smtp=True):
            refused_all.update(smtp.send_message(msg, from_addr=connector.account, to_addrs=to))
        return msg["Message-ID"]

    try:
        # A failure part-way says how many went out and carries them (error.delivery): a retry
        # sends only the rest.
        delivery = deliver_each(messages, send_one)
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 - the messages are handed over already
            smtp.close()
    delivery.detail = f"Sent {len(messages)} message(s) to {', '.join(to)}."
    if refused_all:
        delivery.detail += f" Refused by the server: {', '.join(sorted(refused_all))}."
    return delivery


def _append(connector, messages: list[EmailMessage], folder: str) -> Delivery:
    client = connector.client
    filed = already = 0
    seen: set[str] = set()
    with connector._translate():
        connector._check_folders([folder])
        client.select_folder(folder, readonly=True)

    def file_one(msg: EmailMessage) -> str:
        nonlocal filed, already
        msgid = msg["Message-ID"]
        with connector._translate():
            if msgid in seen or client.search(["HEADER", "Message-ID", msgid]):
                already += 1  # filed by an earlier try: never twice
            else:
                client.append(folder, msg.as_bytes(), flags=(), msg_time=datetime.datetime.now(datetime.UTC))
                filed += 1
        seen.add(msgid)
        return msgid

    delivery = deliver_each(messages, file_one)
    delivery.detail = f"Filed {filed} message(s) in {folder}."
    if already:
        delivery.detail += f" {already} already there (not filed twice)."
    return delivery
