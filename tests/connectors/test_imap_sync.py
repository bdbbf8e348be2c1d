"""Syncing a real Dovecot mailbox through the real engine: what a user sees of their mail."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, JobKind, RequestStat, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.factories import make_integration
from tests.peers.dovecot import NOBODY_UID as NOBODY
from tests.peers.dovecot import PASSWORD, make_message

pytestmark = [pytest.mark.peer, pytest.mark.django_db]

CORPUS = Path(__file__).resolve().parent.parent / "data" / "mail"


def corpus(*names: str) -> list[bytes]:
    paths = sorted(CORPUS.glob("*.eml"))
    return [p.read_bytes() for p in paths if not names or p.name in names]


@pytest.fixture
def mailbox(dovecot, allow_host, catalogue, owner):
    """A fresh Dovecot user and an IMAP integration of the owner pointed at it."""
    allow_host(dovecot.host)
    user = dovecot.new_user()

    def integration(**config):
        itype = IntegrationType.objects.get(slug="imap")
        return make_integration(owner, itype, config=dovecot.config(user, **config), secrets={"password": PASSWORD})

    class Box:
        pass

    box = Box()
    box.user, box.server, box.integration = user, dovecot, integration
    return box


def sync(integration, **kwargs):
    job = queue_sync(integration, enqueue=False, **kwargs)
    finished = run_job(job.pk, sleep=lambda s: None)
    assert finished is not None
    integration.refresh_from_db()
    return finished


def items(integration, **filters):
    return SyncedItem.objects.filter(integration=integration, **filters)


def by_message_id(integration) -> dict[str, SyncedItem]:
    return {item.data["message_id"]: item for item in items(integration, deleted_at__isnull=True)}


def test_full_sync_imports_every_message_with_decoded_headers_body_and_attachments(mailbox):
    awkward = corpus()[:-1]  # everything but the garbage file
    mailbox.server.deliver(mailbox.user, awkward)
    integration = mailbox.integration()

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert job.kind == JobKind.FULL
    assert job.created == len(awkward) == 13
    assert integration.status == "connected"
    found = by_message_id(integration)
    plain = found["<plain-utf8@example.org>"]
    assert plain.kind == "message"
    assert plain.title == "Meeting notes — Q3 📋"
    assert plain.data["from"] == {"name": "Renée Dupré", "email": "renee@example.org"}
    assert [a["email"] for a in plain.data["to"]] == ["alice@example.com", "bob@example.com"]
    assert plain.data["cc"] == [{"name": "Carol", "email": "carol@example.com"}]
    assert plain.data["in_reply_to"] == "<earlier@example.com>"
    assert plain.data["folder"] == "INBOX"
    assert plain.summary.startswith("Bonjour à tous,")
    assert "Naïve café résumé." in plain.data["text"]
    assert plain.occurred_at == datetime.datetime(2024, 3, 5, 13, 30, tzinfo=datetime.UTC)

    assert found["<latin1@example.fr>"].title == "Café crème à la française"
    assert found["<latin1@example.fr>"].data["from"]["name"] == "François Müller"
    assert found["<cp1252@example.com>"].title == "\u201cQuarterly\u201d report \u2013 \u20ac500 budget"
    assert found["<cp1252@example.com>"].summary == "\u201cCurly\u201d quotes \u2013 and the \u20ac sign."
    assert found["<sjis@example.jp>"].title == "会議の議事録"
    assert found["<sjis@example.jp>"].data["from"]["name"] == "山田太郎"
    assert found["<sjis@example.jp>"].summary == "こんにちは。明日の会議の資料を送ります。"
    assert found["<raw8bit@example.de>"].title == "Grüße aus München"
    assert found["<raw8bit@example.de>"].data["from"]["name"] == "Jürgen Groß"
    assert found["<raw8bit@example.de>"].summary == "Viele Grüße, unlabelled UTF-8 body."
    assert found["<latin1raw@example.es>"].title == "Información del año"
    assert found["<latin1raw@example.es>"].summary == "Señor, el año."
    # An unknown charset is read as unlabelled text is (UTF-8, else cp1252), not as U+FFFD.
    assert found["<unknown-charset@example.net>"].title == "Strange\u00e9 charset and plain text"

    nested = found["<nested@example.com>"]
    assert nested.summary == "Plain text version of the digest."
    assert "<h1>Weekly digest</h1>" in nested.data["html"]
    assert nested.data["attachments"] == [
        {"filename": "Résumé Q1.pdf", "content_type": "application/pdf", "size": 3009},
        {"filename": "chart.png", "content_type": "image/png", "size": 208},
        {"filename": "forwarded.eml", "content_type": "message/rfc822", "size": 69},
    ]
    html_only = found["<htmlonly@example.com>"]
    assert html_only.summary.startswith("Weekly digest")
    assert "Hello Alice, here is your digest & more." in html_only.summary
    assert "alert" not in html_only.summary
    assert "color:red" not in html_only.summary

    broken = found["<broken-boundary@example.com>"]
    assert broken.summary == "The text survives although the boundary never matches."
    assert "StartBoundaryNotFoundDefect" in broken.data["defects"]
    assert found["<unterminated@example.com>"].summary == "The first part is fine."

    undated = found["<nodate@example.com>"]  # no Date header: the server's INTERNALDATE
    assert abs((undated.occurred_at - timezone.now()).total_seconds()) < 600
    odd = found["no-angle-brackets@example.com"]
    assert odd.title == "Garbage date and odd addresses"
    assert odd.occurred_at is not None  # unparseable Date: INTERNALDATE too
    assert {"name": "Weird, Name", "email": "weird@example.com"} in odd.data["cc"]


def test_syncing_never_marks_mail_as_read(mailbox):
    mailbox.server.deliver(mailbox.user, [make_message(f"Unread {n}") for n in range(5)])
    integration = mailbox.integration()

    assert sync(integration).created == 5

    flags = mailbox.server.flags(mailbox.user)
    assert len(flags) == 5
    assert all(b"\\Seen" not in f for f in flags.values())
    assert all(item.data["flags"] == [] for item in items(integration))


def test_incremental_sync_fetches_only_new_mail_and_a_no_change_sync_fetches_nothing(mailbox):
    mailbox.server.deliver(mailbox.user, [make_message(f"First {n}") for n in range(3)])
    integration = mailbox.integration()
    assert sync(integration).created == 3

    mailbox.server.deliver(mailbox.user, [make_message(f"Second {n}") for n in range(2)])
    job = sync(integration)
    assert job.kind == JobKind.INCREMENTAL
    assert (job.seen, job.created, job.updated, job.unchanged) == (2, 2, 0, 0)
    assert sorted(i.title for i in items(integration)) == [
        "First 0",
        "First 1",
        "First 2",
        "Second 0",
        "Second 1",
    ]

    quiet = sync(integration)
    assert quiet.status == "succeeded"
    assert (quiet.seen, quiet.created, quiet.updated, quiet.deleted) == (0, 0, 0, 0)
    assert items(integration).count() == 5


def test_a_message_deleted_on_the_server_becomes_a_tombstone(mailbox):
    mailbox.server.deliver(mailbox.user, [make_message(f"Keep {n}", message_id=f"<keep{n}@x>") for n in range(3)])
    integration = mailbox.integration()
    sync(integration)

    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        uid = client.search(["HEADER", "Message-ID", "<keep1@x>"])
        client.delete_messages(uid)
        client.expunge()

    job = sync(integration)
    assert job.deleted == 1
    gone = items(integration, data__message_id="<keep1@x>").get()
    assert gone.deleted_at is not None  # kept as a tombstone, not silently dropped
    assert items(integration, deleted_at__isnull=True).count() == 2


def test_a_flag_change_updates_the_record_through_condstore(mailbox):
    mailbox.server.deliver(mailbox.user, [make_message(f"Flag me {n}", message_id=f"<f{n}@x>") for n in range(4)])
    integration = mailbox.integration()
    sync(integration)
    before = items(integration, data__message_id="<f2@x>").get()
    assert before.data["flags"] == []

    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        uid = client.search(["HEADER", "Message-ID", "<f2@x>"])
        client.add_flags(uid, [b"\\Seen", b"\\Flagged"])

    job = sync(integration)
    assert (job.seen, job.updated, job.created) == (1, 1, 0)  # only the changed message was fetched
    after = items(integration, data__message_id="<f2@x>").get()
    assert after.data["flags"] == ["\\Flagged", "\\Seen"]
    assert after.version != before.version
    assert after.version.startswith("modseq:")
    assert items(integration, data__flags=[]).count() == 3


def test_a_uidvalidity_change_resyncs_the_folder_cleanly(mailbox):
    mailbox.server.create_folder(mailbox.user, "Archive")
    messages = [make_message(f"Archived {n}", message_id=f"<a{n}@x>") for n in range(6)]
    mailbox.server.deliver(mailbox.user, messages, "Archive")
    mailbox.server.deliver(mailbox.user, [make_message("In the inbox")])
    integration = mailbox.integration(folders=["INBOX", "Archive"])
    assert sync(integration).created == 7
    old_ids = set(items(integration, data__folder="Archive").values_list("external_id", flat=True))
    rows_before = dict(items(integration, data__folder="Archive").values_list("pk", "first_seen_at"))

    new_validity = mailbox.server.reset_folder(mailbox.user, "Archive")

    job = sync(integration)
    assert job.status == "succeeded"
    archive = items(integration, data__folder="Archive")
    assert archive.count() == 6  # same final count: the old records were tombstoned and revived, not duplicated
    # The same rows, first seen when they were first seen: a "new mail" workflow does not resend them.
    assert dict(archive.values_list("pk", "first_seen_at")) == rows_before
    assert job.created == 0
    assert sorted(archive.values_list("data__message_id", flat=True)) == [f"<a{n}@x>" for n in range(6)]
    assert all(f"/{new_validity}/" in eid for eid in archive.values_list("external_id", flat=True))
    assert not old_ids & set(archive.values_list("external_id", flat=True))
    assert items(integration, data__folder="INBOX").count() == 1  # the other folder was left alone
    assert integration.sync_cursor["folders"]["Archive"]["uidvalidity"] == new_validity


def test_only_the_folders_chosen_in_the_settings_are_read(mailbox):
    mailbox.server.create_folder(mailbox.user, "Receipts")
    mailbox.server.create_folder(mailbox.user, "Spam")
    mailbox.server.deliver(mailbox.user, [make_message("Your receipt")], "Receipts")
    mailbox.server.deliver(mailbox.user, [make_message("Buy now")], "Spam")
    mailbox.server.deliver(mailbox.user, [make_message("Hi")])
    integration = mailbox.integration(folders=["INBOX", "Receipts"])

    sync(integration)

    assert sorted(items(integration).values_list("title", "data__folder")) == [
        ("Hi", "INBOX"),
        ("Your receipt", "Receipts"),
    ]


def test_a_message_that_is_not_mail_is_an_item_error_and_the_rest_imports(mailbox):
    mailbox.server.deliver(mailbox.user, corpus())  # 13 awkward but readable + 1 binary garbage
    integration = mailbox.integration()

    job = sync(integration)

    assert job.status == "partial"
    assert (job.failed, job.created) == (1, 13)
    assert integration.status == "connected"
    [error] = job.item_errors
    assert error["external_id"].startswith("INBOX/")
    assert "no headers" in error["error"]
    assert "record(s) could not be read" in job.remediation
    again = sync(integration)  # nothing is lost or re-reported on the next run
    assert (again.seen, again.failed) == (0, 0)


def test_a_huge_message_is_capped_and_keeps_its_attachment_metadata(mailbox):
    big_text = ("All work and no play makes a long mail. " * 80_000)[:3_000_000]
    blob = bytes(range(256)) * 8192  # 2 MiB
    import base64

    encoded = base64.encodebytes(blob).decode()
    raw = (
        "From: big@example.com\r\nTo: alice@example.com\r\nSubject: Huge\r\nMessage-ID: <huge@x>\r\n"
        "Date: Mon, 01 Apr 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        f"{big_text}\r\n--B\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{encoded}--B--\r\n"
    ).encode()
    mailbox.server.deliver(mailbox.user, [raw, make_message("Small one")])
    integration = mailbox.integration(max_body_kb=16)

    job = sync(integration)

    assert job.status == "succeeded"
    huge = items(integration, data__message_id="<huge@x>").get()
    assert len(huge.data["text"]) == 16 * 1024
    assert huge.data["text"].startswith("All work and no play")
    assert huge.data["truncated"] is True
    assert huge.data["size"] > 5_000_000
    [attachment] = huge.data["attachments"]
    assert attachment["filename"] == "data.bin"
    assert abs(attachment["size"] - len(blob)) < 100
    assert len(huge.summary) <= 500


def test_headers_only_when_the_body_limit_is_zero(mailbox):
    mailbox.server.deliver(mailbox.user, corpus("08-nested-mime.eml"))
    integration = mailbox.integration(max_body_kb=0)

    sync(integration)

    [item] = items(integration)
    assert item.title == "Nested MIME with attachments"
    assert (item.summary, item.data["text"], item.data["html"]) == ("", "", "")


def test_a_backfill_reads_mail_received_since_the_date_and_deletes_nothing(mailbox):
    old = time.time() - 400 * 86400
    mailbox.server.deliver(mailbox.user, [make_message("Old news")], received=old)
    mailbox.server.deliver(mailbox.user, [make_message("Recent 1"), make_message("Recent 2")])
    integration = mailbox.integration()
    since = (timezone.now() - datetime.timedelta(days=30)).date().isoformat()

    job = sync(integration, kind=JobKind.BACKFILL, options={"since": since})

    assert job.status == "succeeded"
    assert sorted(items(integration).values_list("title", flat=True)) == ["Recent 1", "Recent 2"]
    assert sync(integration, kind=JobKind.FULL).created == 1  # a full sync then finds the old one
    assert items(integration).count() == 3


def test_without_condstore_a_flag_change_is_found_by_comparing_flags(
    dovecot_without_condstore, allow_host, catalogue, owner
):
    server = dovecot_without_condstore
    allow_host(server.host)
    user = server.new_user()
    server.deliver(user, [make_message(f"Plain {n}", message_id=f"<p{n}@x>") for n in range(3)])
    itype = IntegrationType.objects.get(slug="imap")
    integration = make_integration(owner, itype, config=server.config(user), secrets={"password": PASSWORD})
    sync(integration)
    assert "modseq" not in integration.sync_cursor["folders"]["INBOX"]
    assert sync(integration).seen == 0  # unchanged flags: nothing fetched again

    with server.client(user) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search(["HEADER", "Message-ID", "<p1@x>"]), [b"\\Answered"])

    job = sync(integration)
    assert (job.seen, job.updated) == (1, 1)
    changed = items(integration, data__message_id="<p1@x>").get()
    assert changed.data["flags"] == ["\\Answered"]
    assert changed.version.startswith("flags:")


def test_each_imap_round_trip_is_counted_for_the_health_chart_one_per_fetch_batch(mailbox, settings):
    settings.SYNC_BATCH_SIZE = 5
    mailbox.server.deliver(mailbox.user, [make_message(f"Counted {n}") for n in range(12)])
    integration = mailbox.integration()

    assert sync(integration).created == 12

    stat = RequestStat.objects.get(integration=integration)
    # LOGIN; SELECT and SEARCH to plan; SELECT to read; one FETCH per batch of 5 (3, not 12).
    assert stat.requests == 7
    assert stat.errors == 0
    assert stat.last_success_at is not None


def test_the_blueprint_rate_limit_paces_imap_commands(mailbox):
    IntegrationType.objects.filter(slug="imap").update(burst_limit=2, burst_window_seconds=1)
    mailbox.server.deliver(mailbox.user, [make_message(f"Paced {n}") for n in range(3)])
    integration = mailbox.integration()

    started = time.monotonic()
    job = sync(integration)
    elapsed = time.monotonic() - started

    assert job.created == 3
    # LOGIN, SELECT, SEARCH, SELECT, FETCH at 2 per second: the last one waits for two more windows.
    assert elapsed >= 2.0


def test_mail_in_odd_charsets_imports_whole_on_every_database(mailbox):
    """A body labelled with a codec name that is no charset ("base64") was lost as an item error; a
    sender's name in an unknown charset reached the database as lone surrogates, which PostgreSQL
    refuses, failing the whole sync. Both are read as unlabelled text is, and nothing is lost."""
    odd = (
        b"From: =?x-unknown?Q?J=E9r=F4me_Dupr=E9?= <jerome@example.org>\r\nTo: alice@example.com\r\n"
        b"Subject: =?iso-8859-1?Q?=93Quoted=94_caf=E9?=\r\nMessage-ID: <odd-charset@example.org>\r\n"
        b"Date: Mon, 01 Apr 2024 10:00:00 +0000\r\nContent-Type: text/plain; charset=base64\r\n\r\n"
        b"Caf\xc3\xa9 cr\xc3\xa8me.\r\n"
    )
    mailbox.server.deliver(mailbox.user, [odd, make_message("Small one")])
    integration = mailbox.integration()

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert job.created == 2
    found = by_message_id(integration)["<odd-charset@example.org>"]
    assert found.title == "\u201cQuoted\u201d caf\u00e9"
    assert found.data["from"] == {"name": "J\u00e9r\u00f4me Dupr\u00e9", "email": "jerome@example.org"}
    assert found.summary == "Caf\u00e9 cr\u00e8me."


def _message_file(server, user: str, subject: str) -> Path:
    maildir = server.root / "mail" / user / "Maildir"
    for path in [*maildir.glob("cur/*"), *maildir.glob("new/*")]:
        if f"Subject: {subject}\r\n".encode() in path.read_bytes():
            return path
    raise AssertionError(f"no message {subject!r} in {maildir}")


def test_a_message_the_server_cannot_read_is_skipped_and_asked_for_again_at_later_syncs(mailbox):
    """Dovecot drops the connection ("FETCH failed: Internal error") when it cannot open a message
    file. Every sync failed on that batch, so no mail after it arrived; and a message that failed
    once was behind the cursor and never read again. Now the rest imports, the message is named,
    and it is asked for again at the next syncs (a bounded number of times)."""
    from connectors.imap_mail.connector import RETRY_ATTEMPTS

    mailbox.server.deliver(mailbox.user, [make_message("First"), make_message("Broken"), make_message("Third")])
    integration = mailbox.integration()
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX", readonly=True)  # Dovecot moves the files to cur/ and indexes them
    broken = _message_file(mailbox.server, mailbox.user, "Broken")
    os.chown(broken, 0, 0)
    broken.chmod(0o600)  # the mail process (nobody) cannot open it: a server error for this message alone

    job = sync(integration)

    assert job.status == "partial", (job.error_message, job.item_errors)
    assert sorted(i.title for i in by_message_id(integration).values()) == ["First", "Third"]
    [error] = job.item_errors
    assert error["external_id"].startswith("INBOX/")
    assert error["external_id"].endswith("/2")
    assert "Message 2 in INBOX could not be fetched from the mail server" in error["error"]
    assert "asks for it again at the next syncs" in error["error"]
    assert integration.sync_cursor["folders"]["INBOX"]["retry"] == {"2": 1}

    job = sync(integration)  # still broken: tried again, said again
    assert (job.status, job.created, len(job.item_errors)) == ("partial", 0, 1)
    assert integration.sync_cursor["folders"]["INBOX"]["retry"] == {"2": 2}

    os.chown(broken, NOBODY, NOBODY)  # the server can read it again
    mailbox.server.deliver(mailbox.user, [make_message("Fourth")])
    job = sync(integration)
    assert (job.status, job.created, job.item_errors) == ("succeeded", 2, [])
    assert sorted(i.title for i in by_message_id(integration).values()) == ["Broken", "First", "Fourth", "Third"]
    assert "retry" not in integration.sync_cursor["folders"]["INBOX"]

    # A message that never becomes readable is tried RETRY_ATTEMPTS times in all, then left alone.
    mailbox.server.deliver(mailbox.user, [make_message("Hopeless")])
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX", readonly=True)
    hopeless = _message_file(mailbox.server, mailbox.user, "Hopeless")
    os.chown(hopeless, 0, 0)
    hopeless.chmod(0o600)
    said = [sync(integration).item_errors for _ in range(RETRY_ATTEMPTS)]
    assert all(len(errors) == 1 for errors in said)
    assert f"tried {RETRY_ATTEMPTS} times and stopped" in said[-1][0]["error"]
    assert "re-sync everything" in said[-1][0]["error"]
    job = sync(integration)
    assert (job.status, job.item_errors) == ("succeeded", [])
    assert "retry" not in integration.sync_cursor["folders"]["INBOX"]


@pytest.mark.parametrize("folder", ["Entwürfe", "Sent Items", "Projekte.Zürich & Co", "Reçus 📥"])
def test_folders_with_spaces_accents_hierarchy_and_ampersands_sync(mailbox, folder):
    """Folder names as mail clients make them (German Outlook's Entwürfe, Exchange's Sent Items,
    a sub-folder, an ampersand, an emoji) travel in modified UTF-7: each is found, read and
    kept apart from INBOX."""
    mailbox.server.create_folder(mailbox.user, folder)
    with mailbox.server.client(mailbox.user) as client:
        client.append(folder, make_message(f"In {folder}"))
    mailbox.server.deliver(mailbox.user, [make_message("In the inbox")])
    integration = mailbox.integration(folders=["INBOX", folder])

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.remediation, job.item_errors)
    assert sorted(items(integration).values_list("title", "data__folder")) == [
        (f"In {folder}", folder),
        ("In the inbox", "INBOX"),
    ]
    assert sync(integration).created == 0


def test_when_no_message_of_a_batch_can_be_read_the_sync_fails_instead_of_logging_in_for_each(
    mailbox, monkeypatch, settings
):
    """Messages are asked for one by one only while some answer: a server that fails every one
    is in trouble itself, and logging in again per message would only hammer it."""
    from connectors.imap_mail import connector

    monkeypatch.setattr(connector, "ISOLATION_GIVES_UP", 2)
    settings.SYNC_MAX_TRANSIENT_RETRIES = 0
    mailbox.server.deliver(mailbox.user, [make_message(f"Broken {n}") for n in range(3)])
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX", readonly=True)
    for n in range(3):
        path = _message_file(mailbox.server, mailbox.user, f"Broken {n}")
        os.chown(path, 0, 0)
        path.chmod(0o600)
    integration = mailbox.integration()

    job = sync(integration)

    assert (job.status, job.error_class) == ("failed", "transient")
    assert "FETCH failed" in job.error_message
