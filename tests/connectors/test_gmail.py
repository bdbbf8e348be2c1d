"""Gmail end to end: connected through the real OAuth flow, synced against the Gmail API contract
fake (tests/fakes/google_gmail.py): full sync, history.list increments, the 404 fallback, labels,
sending mail."""

import pytest

from connectors.base import OutgoingCard
from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, Status, SyncedItem
from integrations.sync.context import build_context
from tests.connectors.helpers import live_items, sync
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
ALICE = "alice@example.com"


@pytest.fixture
def mailbox(gmail_api):
    clients = gmail_api.add_label(ALICE, "Clients")
    gmail_api.add_message(ALICE, "Welcome", "Hello Alice, welcome aboard.")
    gmail_api.add_message(ALICE, "Invoice 42", "Please find the invoice attached.", labels=("INBOX", clients),
                          attachment=("invoice.pdf", b"%PDF"))  # fmt: skip
    gmail_api.add_message(ALICE, "Newsletter", "", html="<p>Big <b>news</b> today</p>", sender="news@shop.example")
    gmail_api.add_message(ALICE, "Old draft", "not in the inbox", labels=("DRAFT",))
    gmail_api.clients_label = clients
    return gmail_api


@pytest.fixture
def integration(owner_client, oauth_server, mailbox):
    return connect_with_oauth(owner_client, oauth_server, "gmail", mailbox)


def _messages(integration):
    return {i.title: i for i in live_items(integration).filter(kind="message")}


def test_the_type_is_available_and_registered():
    itype = IntegrationType.objects.get(slug="gmail")
    assert itype.is_available
    assert registry.get(itype.handler).__name__ == "GmailConnector"


def test_full_sync_lists_labels_and_the_chosen_labels_messages(integration, mailbox):
    mailbox.max_page = 2
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert integration.account_identity == ALICE
    messages = _messages(integration)
    assert set(messages) == {"Welcome", "Invoice 42", "Newsletter"}  # the draft is not in INBOX
    invoice = messages["Invoice 42"]
    assert invoice.summary == "Please find the invoice attached."
    assert invoice.data["labels"] == ["INBOX", "Clients"]
    assert invoice.data["attachments"] == [{"filename": "invoice.pdf", "mime_type": "application/pdf", "size": 4}]
    assert invoice.data["from"] == "carol@example.org"
    assert invoice.source_url.startswith("https://mail.google.com/")
    assert "Big news today" in " ".join(messages["Newsletter"].summary.split())  # HTML only: tags stripped
    labels = {i.title for i in live_items(integration).filter(kind="label")}
    assert {"INBOX", "Clients", "SENT"} <= labels
    assert integration.sync_cursor == {"history_id": integration.sync_cursor["history_id"]}
    assert len(mailbox.requests_to(r"/messages$")) == 2  # three inbox messages, two per page


def test_incremental_sync_follows_history_added_deleted_and_relabelled(integration, mailbox):
    sync(integration)
    ids = {m["payload"]["headers"][2]["value"]: i for i, m in mailbox.mailbox(ALICE).messages.items()}
    mailbox.add_message(ALICE, "Fresh news", "Just arrived")
    mailbox.delete_message(ALICE, ids["Welcome"])
    mailbox.change_labels(ALICE, ids["Newsletter"], remove=("INBOX",))  # archived: no chosen label left
    mailbox.change_labels(ALICE, ids["Old draft"], add=("INBOX",))  # now in the inbox
    gets_before = len(mailbox.requests_to(r"/messages/[0-9a-f]+$"))

    job = sync(integration)

    assert job.kind == "incremental"
    history = mailbox.requests_to(r"/history$")
    assert history
    assert history[-1].args["startHistoryId"]
    assert not mailbox.requests_to(r"/messages$")[2:]  # no listing: only history
    assert set(_messages(integration)) == {"Invoice 42", "Fresh news", "Old draft"}
    assert SyncedItem.objects.get(integration=integration, title="Welcome").deleted_at is not None
    assert SyncedItem.objects.get(integration=integration, title="Newsletter").deleted_at is not None
    fetched = len(mailbox.requests_to(r"/messages/[0-9a-f]+$")) - gets_before
    assert fetched == 3  # the new one, the relabelled-in one, and the archived one to check its labels

    again = sync(integration)
    assert again.seen == len(mailbox.mailbox(ALICE).labels)  # only the labels listing, nothing else


def test_an_expired_history_id_404_falls_back_to_a_full_sync(integration, mailbox):
    sync(integration)
    gone = next(i for i, m in mailbox.mailbox(ALICE).messages.items() if m["snippet"].startswith("Hello"))
    mailbox.mailbox(ALICE).messages.pop(gone)  # vanished while the history was out of reach
    mailbox.add_message(ALICE, "While away", "hi")
    mailbox.expire_history(ALICE)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert set(_messages(integration)) == {"Invoice 42", "Newsletter", "While away"}
    assert job.deleted == 1
    # Messages already stored are not fetched again by the fallback (Gmail messages never change).
    assert len(mailbox.requests_to(r"/messages/[0-9a-f]+$")) == 4


def test_a_full_sync_after_404_that_fails_midway_still_removes_what_is_gone(integration, mailbox):
    """The history id expired and Gmail's full listing failed on its second page (a 503): the job
    resumes from its checkpoint, and the listing it completes still removes the message that vanished
    while the history was out of reach (resumed without knowing the first page, it removed nothing)."""
    sync(integration)
    gone = next(i for i, m in mailbox.mailbox(ALICE).messages.items() if m["snippet"].startswith("Hello"))
    mailbox.mailbox(ALICE).messages.pop(gone)
    mailbox.add_message(ALICE, "While away", "hi")
    mailbox.expire_history(ALICE)
    mailbox.max_page = 1
    mailbox.fail(r"/messages$", 503, {"error": {"code": 503, "message": "Backend Error"}},
                 when=lambda q: "pageToken" in q)  # fmt: skip

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert any("pageToken" in s.args for s in mailbox.requests_to(r"/messages$"))
    assert set(_messages(integration)) == {"Invoice 42", "Newsletter", "While away"}
    assert job.deleted == 1


def test_a_label_that_does_not_exist_is_a_settings_error(integration, mailbox):
    integration.config = {**integration.config, "labels": ["INBOX", "Nope"]}
    integration.save()
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "Gmail has no label 'Nope'" in job.error_message
    assert integration.status == Status.ERROR


def test_labels_by_name_and_a_search_narrow_what_is_synced(integration, mailbox):
    integration.config = {**integration.config, "labels": ["clients"], "query": "invoice"}
    integration.save()
    job = sync(integration)
    assert set(_messages(integration)) == {"Invoice 42"}
    assert mailbox.requests_to(r"/messages$")[0].args["q"] == ["invoice"]

    mailbox.add_message(ALICE, "Invoice 43", "another invoice", labels=("INBOX", mailbox.clients_label))
    mailbox.add_message(ALICE, "Lunch?", "no bill here", labels=("INBOX", mailbox.clients_label))
    job = sync(integration)
    assert job.kind == "incremental"
    assert set(_messages(integration)) == {"Invoice 42", "Invoice 43"}


def test_bodies_are_cut_to_the_size_limit(integration, mailbox):
    mailbox.add_message(ALICE, "Long", "x" * 5000)
    integration.config = {**integration.config, "max_body_kb": 1}
    integration.save()
    sync(integration)
    long = _messages(integration)["Long"]
    assert len(long.summary) == 1024
    assert long.data["body_truncated"] is True


def test_sending_a_message_from_the_account(integration, mailbox):
    ctx = build_context(integration, purpose="test send")
    connector = integration.type.connector_class()(ctx)
    card = OutgoingCard(title="Daily digest", markdown="3 new items", html="<p>3 new items</p>", key="digest-1")

    delivery = connector.send([card], {"to": ["bob@example.com"], "subject_prefix": "[Hub]"})

    assert delivery.delivered == 1
    sent = mailbox.mailbox(ALICE).sent[0]
    assert sent["Subject"] == "[Hub] Daily digest"
    assert sent["From"] == ALICE
    assert sent["To"] == "bob@example.com"
    assert sent.get_body(("plain",)).get_content().strip() == "3 new items"
    assert sent.get_body(("html",)).get_content().strip() == "<p>3 new items</p>"
    assert sent["Message-ID"].endswith("@metacortex.hub>")


def test_an_insufficient_scope_403_pauses_the_sync_and_asks_to_reauthenticate(owner_client, oauth_server, mailbox):
    integration = connect_with_oauth(
        owner_client, oauth_server, "gmail", mailbox, scope="openid https://www.googleapis.com/auth/gmail.send"
    )
    assert integration.account_identity == ""  # the profile needs gmail.readonly
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "auth"
    assert integration.status == Status.NEEDS_REAUTH
    assert "allow every permission" in integration.status_detail
