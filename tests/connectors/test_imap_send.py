"""Delivering workflow cards as mail: sent through a real SMTP server (aiosmtpd), or filed into a
real Dovecot folder, once, however often the same card is delivered."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from connectors.base import Context, OutgoingCard
from connectors.errors import AuthError, ConfigError, TransientError, classify
from connectors.registry import registry
from tests.peers.availability import free_port, unavailable
from tests.peers.dovecot import PASSWORD
from tests.peers.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServer

pytestmark = [pytest.mark.peer]


def connector_for(config: dict, password: str):
    return registry.get("imap")(Context(config=config, secrets={"password": password}, http=None))


def card(key: str = "", title: str = "Daily digest") -> OutgoingCard:
    return OutgoingCard(
        title=title,
        markdown="**Three** things happened today.\n\n- one\n- two",
        html="<p><strong>Three</strong> things happened today.</p><ul><li>one</li><li>two</li></ul>",
        key=key,
    )


def smtp_config(server, **extra) -> dict:
    config = {
        "host": "imap.invalid",
        "username": "me@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "none",
    }
    config.update(extra)
    return config


def test_smtp_send_delivers_a_text_and_html_message(smtp_server, allow_host):
    allow_host(smtp_server.host)
    to = f"reader-{uuid.uuid4().hex[:6]}@example.com"
    connector = connector_for(smtp_config(smtp_server), "unused")

    delivery = connector.send(
        [card(key="digest-2024-03-05")], {"mode": "smtp_send", "to": [to], "subject_prefix": "[Hub]"}
    )

    assert delivery.delivered == 1
    [received] = smtp_server.messages_to(to)
    message = received.message
    assert received.mail_from == "me@example.com"
    assert message["Subject"] == "[Hub] Daily digest"
    assert message["To"] == to
    assert message["From"] == "me@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().startswith("**Three** things happened today.")
    assert "<strong>Three</strong>" in message.get_body(("html",)).get_content()
    assert delivery.external_ids == [message["Message-ID"]]

    again = connector.send([card(key="digest-2024-03-05")], {"mode": "smtp_send", "to": [to]})
    assert again.external_ids == delivery.external_ids  # the same card keeps its Message-ID


def test_smtp_send_logs_in_where_the_server_requires_it(smtp_auth_server, allow_host):
    allow_host(smtp_auth_server.host)
    to = f"reader-{uuid.uuid4().hex[:6]}@example.com"
    config = smtp_config(smtp_auth_server, username=SMTP_USER)

    delivery = connector_for(config, SMTP_PASSWORD).send([card()], {"mode": "smtp_send", "to": [to]})

    assert delivery.delivered == 1
    assert len(smtp_auth_server.messages_to(to)) == 1


def test_a_wrong_smtp_password_is_an_auth_error(smtp_auth_server, allow_host):
    allow_host(smtp_auth_server.host)
    to = f"reader-{uuid.uuid4().hex[:6]}@example.com"
    config = smtp_config(smtp_auth_server, username=SMTP_USER)

    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever it is, it must classify as auth
        connector_for(config, "not-the-password").send([card()], {"mode": "smtp_send", "to": [to]})

    error = classify(caught.value)
    assert isinstance(error, AuthError)
    assert "SMTP server refused the username or password" in str(error)
    assert smtp_auth_server.messages_to(to) == []


@dataclass
class BusyAfterOne(SmtpServer):
    """aiosmtpd that takes the first message and answers the second one's DATA with 451 (try again
    later), as a greylisting or overloaded server does."""

    tries: int = 0

    async def handle_DATA(self, server, session, envelope):
        self.tries += 1
        if self.tries == 2:
            return "451 4.3.0 Too busy, try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def busy_smtp():
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd is not installed (pip install -r requirements-dev.txt)")
    server = BusyAfterOne(port=free_port())
    server.controller = Controller(server, hostname="127.0.0.1", port=server.port)
    server.controller.start()
    yield server
    server.stop()


def test_an_smtp_failure_part_way_says_which_messages_went_out(busy_smtp, allow_host):
    allow_host(busy_smtp.host)
    connector = connector_for(smtp_config(busy_smtp), "unused")
    cards = [card(key="k1", title="One"), card(key="k2", title="Two"), card(key="k3", title="Three")]

    with pytest.raises(TransientError, match=r"^1 of 3 messages were delivered before this error: The SMTP") as caught:
        connector.send(cards, {"mode": "smtp_send", "to": ["reader@example.com"]})

    (received,) = busy_smtp.received
    assert received.message["Subject"] == "One"
    delivery = caught.value.delivery  # what the workflow records as sent, so a retry skips it
    assert delivery.delivered == 1
    assert delivery.external_ids == [received.message["Message-ID"]]


def test_a_recipient_at_an_international_domain_gets_the_mail(smtp_server, allow_host):
    # aiosmtpd, like many servers, does not offer SMTPUTF8: the domain goes out in its IDNA form
    # (before, RCPT TO and the To header went out as raw UTF-8 to a server that never offered it).
    allow_host(smtp_server.host)
    local = f"leser-{uuid.uuid4().hex[:6]}"
    connector = connector_for(smtp_config(smtp_server), "unused")

    delivery = connector.send([card(title="Bücher 📚")], {"mode": "smtp_send", "to": [f"{local}@bücher-beispiel.de"]})

    assert delivery.delivered == 1
    [received] = smtp_server.messages_to(f"{local}@xn--bcher-beispiel-gsb.de")
    assert received.message["To"] == f"{local}@xn--bcher-beispiel-gsb.de"
    assert received.message["Subject"] == "Bücher 📚"


def test_sending_needs_an_smtp_server_and_recipients(smtp_server):
    connector = connector_for({"host": "imap.invalid", "username": "me@example.com"}, "x")
    with pytest.raises(ConfigError, match="needs an SMTP server") as caught:
        connector.send([card()], {"mode": "smtp_send", "to": ["a@example.com"]})
    assert caught.value.field == "smtp_host"
    with pytest.raises(ConfigError, match="at least one recipient"):
        connector_for(smtp_config(smtp_server), "x").send([card()], {"mode": "smtp_send", "to": []})
    with pytest.raises(ConfigError, match="Not an email address: bob"):
        connector_for(smtp_config(smtp_server), "x").send([card()], {"mode": "smtp_send", "to": ["bob"]})


def test_imap_append_files_the_message_once_even_when_sent_twice(dovecot, allow_host):
    allow_host(dovecot.host)
    user = dovecot.new_user()
    dovecot.create_folder(user, "Digests")
    config = dovecot.config(user)
    output = {"mode": "imap_append", "folder": "Digests", "subject_prefix": "[Hub]"}

    first = connector_for(config, PASSWORD)
    try:
        delivery = first.send([card(key="weekly-10")], output)
    finally:
        first.close()
    second = connector_for(config, PASSWORD)
    try:
        repeat = second.send([card(key="weekly-10"), card(key="weekly-11", title="Next week")], output)
    finally:
        second.close()

    assert delivery.delivered == 1
    assert "Filed 1" in delivery.detail
    assert "1 already there" in repeat.detail
    assert repeat.external_ids[0] == delivery.external_ids[0]
    with dovecot.client(user) as client:
        client.select_folder("Digests", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)]", "FLAGS"])
    headers = sorted(data[b"BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)]"].decode() for data in fetched.values())
    assert len(headers) == 2
    assert "Subject: [Hub] Daily digest" in headers[0]
    assert delivery.external_ids[0] in headers[0]
    assert "Subject: [Hub] Next week" in headers[1]
    assert all(b"\\Seen" not in data[b"FLAGS"] for data in fetched.values())  # filed as unread


def test_imap_append_into_a_missing_folder_names_it(dovecot, allow_host):
    allow_host(dovecot.host)
    user = dovecot.new_user()
    connector = connector_for(dovecot.config(user), PASSWORD)
    try:
        with pytest.raises(ConfigError, match="'Nowhere' does not exist"):
            connector.send([card(key="k")], {"mode": "imap_append", "folder": "Nowhere"})
    finally:
        connector.close()


def test_a_recipient_at_an_internationalised_domain_gets_the_mail(smtp_server, allow_host):
    """An address like reader@bücher.example was written into the To header as an encoded-word
    (user@=?utf-8?q?b=C3=BCcher?=.example, which no client reads as an address) and refused by
    smtplib for a server without SMTPUTF8. The domain goes out in its ASCII (IDNA) form, as mail
    clients send it; the person's own spelling stays in the settings."""
    allow_host(smtp_server.host)
    local = f"reader-{uuid.uuid4().hex[:6]}"
    connector = connector_for(smtp_config(smtp_server), "unused")

    delivery = connector.send([card(key="idn")], {"mode": "smtp_send", "to": [f"{local}@bücher.example"]})

    assert delivery.delivered == 1
    [received] = smtp_server.messages_to(f"{local}@xn--bcher-kva.example")
    assert received.message["To"] == f"{local}@xn--bcher-kva.example"
