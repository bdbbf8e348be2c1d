"""What goes wrong with a mailbox, and what the user is told: every failure ends as a clear
message on the job and the integration, never a crashed or stuck worker."""

from __future__ import annotations

import smtplib
import socket
import threading

import pytest

from connectors.base import Context
from connectors.errors import AuthError, ConfigError, TransientError, classify
from connectors.registry import registry
from integrations.models import IntegrationType, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.factories import make_integration
from tests.peers.dovecot import PASSWORD, UNAVAILABLE_USER, make_message

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def imap_type(catalogue):
    return IntegrationType.objects.get(slug="imap")


def sync(integration):
    job = queue_sync(integration, enqueue=False)
    finished = run_job(job.pk, sleep=lambda s: None)
    integration.refresh_from_db()
    return finished


def connector_for(config: dict, password: str = PASSWORD):
    return registry.get("imap")(Context(config=config, secrets={"password": password}, http=None))


@pytest.mark.peer
def test_a_wrong_password_fails_the_job_as_auth_and_asks_to_reconnect(dovecot, allow_host, imap_type, owner):
    allow_host(dovecot.host)
    user = dovecot.new_user()
    integration = make_integration(owner, imap_type, config=dovecot.config(user), secrets={"password": "wrong"})

    job = sync(integration)

    assert job.status == "failed"
    assert job.error_class == "auth"
    assert "refused the username or password" in job.error_message
    assert "app password" in job.remediation
    assert integration.status == "needs_reauth"
    assert "refused the username or password" in integration.status_detail
    assert "reconnect" in integration.status_detail  # what to do, not only what went wrong
    assert "wrong" not in job.error_message + integration.status_detail  # never the secret itself


@pytest.mark.peer
def test_a_temporary_login_refusal_is_transient_and_keeps_the_integration_connected(
    dovecot, allow_host, imap_type, owner, settings
):
    """Dovecot answers NO [UNAVAILABLE] while its password backend is down: the password may be
    right, so the integration must not be sent to needs_reauth (the user has nothing to fix)."""
    allow_host(dovecot.host)
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    config = dovecot.config(UNAVAILABLE_USER)
    integration = make_integration(owner, imap_type, config=config, secrets={"password": PASSWORD})

    job = sync(integration)

    assert job.status == "failed"
    assert job.error_class == "transient"
    assert "could not sign us in just now" in job.error_message
    assert "[UNAVAILABLE] Temporary authentication failure" in job.error_message
    assert "nothing needs changing" in job.remediation
    assert integration.status == "error"  # not needs_reauth: its syncs keep running
    assert integration.status != "needs_reauth"
    assert PASSWORD not in job.error_message + integration.status_detail
    with pytest.raises(TransientError, match="could not sign us in just now"):
        connector_for(config).test_connection()


@pytest.mark.peer
def test_a_deleted_folder_is_skipped_with_a_notice_and_the_other_folders_keep_syncing(
    dovecot, allow_host, imap_type, owner
):
    """A folder deleted or renamed on the server between syncs failed the whole sync, so new mail
    in every other folder stopped arriving until the settings were fixed. Now the other folders
    sync, the job ends partial with a notice naming the folder and what to do, and the mail
    already imported from it stays."""
    allow_host(dovecot.host)
    user = dovecot.new_user()
    dovecot.create_folder(user, "Projects")
    dovecot.deliver(user, [make_message("Inbox mail")])
    dovecot.deliver(user, [make_message("Project mail")], folder="Projects")
    integration = make_integration(
        owner, imap_type, config=dovecot.config(user, folders=["INBOX", "Projects"]), secrets={"password": PASSWORD}
    )
    assert sync(integration).status == "succeeded"
    projects_state = integration.sync_cursor["folders"]["Projects"]

    with dovecot.client(user) as client:
        client.rename_folder("Projects", "Projects-2024")
    dovecot.deliver(user, [make_message("Later inbox mail")])
    job = sync(integration)

    assert job.status == "partial", (job.error_message, job.remediation)
    assert "'Projects' no longer exists on the mail server" in job.remediation
    assert "Pick the folder again in the integration's Folders setting" in job.remediation
    assert "Folders there: INBOX, Projects-2024." in job.remediation  # the new name to pick
    assert "'Projects' no longer exists" in integration.status_detail
    assert integration.status == "connected"
    live = SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True)
    assert sorted(live.values_list("title", flat=True)) == ["Inbox mail", "Later inbox mail", "Project mail"]
    assert integration.sync_cursor["folders"]["Projects"] == projects_state  # its place is kept

    # When no chosen folder is left, there is nothing to sync: the job fails, naming them.
    only = make_integration(
        owner,
        imap_type,
        name="Only projects",
        config=dovecot.config(user, folders=["Projects"]),
        secrets={"password": PASSWORD},
    )
    job = sync(only)
    assert job.status == "failed"
    assert job.error_class == "config"
    assert "'Projects' does not exist" in job.error_message
    assert "Projects-2024" in job.error_message.split("Folders there:")[1]
    assert "folder names" in job.remediation


@pytest.fixture
def silent_server():
    """A TCP listener that accepts connections (kernel backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted = []
    stop = threading.Event()

    def accept_and_hold():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    sock.close()


def test_a_server_that_never_answers_is_a_transient_error_within_the_timeout(
    silent_server, allow_host, imap_type, owner, settings, fast_backoff
):
    settings.OUTBOUND_TIMEOUT = 1.0
    settings.SYNC_MAX_TRANSIENT_RETRIES = 0
    allow_host(f"127.0.0.1:{silent_server}")
    config = {"host": "127.0.0.1", "port": silent_server, "security": "none", "username": "someone"}
    integration = make_integration(owner, imap_type, config=config, secrets={"password": PASSWORD})

    job = sync(integration)

    # The server never answers: only a timeout ends the wait, and the message names the one that did.
    assert job.status == "failed"
    assert job.error_class == "transient"
    assert "did not answer in time (1 s)" in job.error_message
    assert integration.status == "error"
    assert integration.last_error == job.error_message


def test_a_server_that_never_answers_over_tls_times_out_too(silent_server, allow_host, settings):
    settings.OUTBOUND_TIMEOUT = 0.5
    allow_host(f"127.0.0.1:{silent_server}")
    connector = connector_for({"host": "127.0.0.1", "port": silent_server, "security": "ssl", "username": "x"})
    with pytest.raises(TransientError, match=r"did not answer in time \(0\.5 s\)"):
        connector.test_connection()


def test_a_loopback_host_is_refused_without_the_allowlist(imap_type, owner, settings):
    settings.SSRF_ALLOWED_HOSTS = []
    config = {"host": "127.0.0.1", "port": 143, "security": "none", "username": "someone"}
    integration = make_integration(owner, imap_type, config=config, secrets={"password": PASSWORD})

    job = sync(integration)

    assert job.status == "failed"
    assert job.error_class == "config"
    assert "private or internal address" in job.error_message


@pytest.mark.peer
def test_a_loopback_smtp_host_is_refused_without_the_allowlist(smtp_server, settings):
    from connectors.base import OutgoingCard

    settings.SSRF_ALLOWED_HOSTS = []
    config = {"host": "mail.invalid", "username": "me@example.com", "smtp_host": "127.0.0.1"}
    config.update(smtp_port=smtp_server.port, smtp_security="none")
    with pytest.raises(ConfigError, match="private or internal address"):
        connector_for(config).send([OutgoingCard(title="Hi")], {"mode": "smtp_send", "to": ["a@example.com"]})
    assert smtp_server.messages_to("a@example.com") == []


@pytest.mark.peer
def test_test_connection_returns_the_account_and_names_a_missing_folder(dovecot, allow_host):
    allow_host(dovecot.host)
    user = dovecot.new_user()
    dovecot.create_folder(user, "Receipts")

    assert connector_for(dovecot.config(user, folders=["INBOX", "Receipts"])).test_connection() == user
    with pytest.raises(ConfigError) as caught:
        connector_for(dovecot.config(user, folders=["Reciepts"])).test_connection()
    assert "'Reciepts' does not exist" in str(caught.value)
    assert "Receipts" in str(caught.value).split("Folders there:")[1]
    assert caught.value.field == "folders"
    with pytest.raises(AuthError, match="refused the username or password"):
        connector_for(dovecot.config(user), password="nope").test_connection()


@pytest.mark.parametrize(
    ("exc", "error_class", "text"),
    [
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"), "auth", "username or password"),
        (smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")}), "config", "x@example.com"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "transient", "closed the connection"),
        (smtplib.SMTPDataError(451, b"try later"), "transient", "try later"),
        (smtplib.SMTPDataError(554, b"spam"), "config", "refused the message"),
    ],
)
def test_smtp_errors_are_classified_for_the_engine(exc, error_class, text):
    import connectors.imap_mail  # noqa: F401 - registers the classifier

    error = classify(exc)
    assert error.error_class == error_class
    assert text in str(error)


def test_imap_protocol_errors_are_classified_for_the_engine():
    import imaplib

    from imapclient.exceptions import LoginError

    import connectors.imap_mail  # noqa: F401 - registers the classifier

    assert classify(LoginError("[AUTHENTICATIONFAILED] Authentication failed.")).error_class == "auth"
    missing = classify(imaplib.IMAP4.error("select failed: [NONEXISTENT] Mailbox doesn't exist: Foo"))
    assert (missing.error_class, missing.field) == ("config", "folders")
    assert classify(imaplib.IMAP4.abort("socket error: EOF")).error_class == "transient"
    assert classify(imaplib.IMAP4.error("[UNAVAILABLE] Internal error occurred")).error_class == "transient"
    # A refused LOGIN is about the credentials only when the server does not say it is temporary.
    assert classify(LoginError("b'[UNAVAILABLE] Temporary authentication failure.'")).error_class == "transient"
    assert classify(LoginError("[INUSE] Mailbox locked by another session")).error_class == "transient"
    assert classify(LoginError("[LIMIT] Too many connections")).error_class == "transient"
    assert classify(LoginError("Login failed, please try again")).error_class == "auth"
    assert classify(LoginError("[PRIVACYREQUIRED] Plaintext login disallowed")).field == "security"


def test_an_smtp_server_that_never_answers_is_a_transient_error(silent_server, allow_host, settings):
    from connectors.base import OutgoingCard

    settings.OUTBOUND_TIMEOUT = 0.5
    allow_host(f"127.0.0.1:{silent_server}")
    config = {"host": "imap.invalid", "username": "me@example.com", "smtp_host": "127.0.0.1"}
    config.update(smtp_port=silent_server, smtp_security="none")
    with pytest.raises(TransientError, match=r"SMTP server 127\.0\.0\.1:\d+ did not answer in time \(0\.5 s\)"):
        connector_for(config).send([OutgoingCard(title="Hi")], {"mode": "smtp_send", "to": ["a@example.com"]})


@pytest.mark.peer
def test_starttls_on_a_server_without_it_is_a_config_error_not_a_plain_text_login(dovecot, allow_host):
    allow_host(dovecot.host)
    user = dovecot.new_user()
    config = dovecot.config(user, security="starttls")  # this Dovecot has ssl = no: no STARTTLS offered

    with pytest.raises(ConfigError, match="does not offer STARTTLS") as caught:
        connector_for(config).test_connection()
    assert caught.value.field == "security"


@pytest.mark.parametrize("host", ["outlook.office365.com", "imap-mail.outlook.com", "OUTLOOK.OFFICE.COM."])
def test_a_refused_login_at_microsoft_says_passwords_are_no_longer_accepted_there(host):
    """Exchange Online answers "LOGIN failed." to every password, app passwords included, since
    Microsoft switched basic authentication off (2022 for work accounts, September 2024 for
    personal ones). Asking for the password again, or for an app password, sent people round in
    circles: the hub says what happened and what they can do instead."""
    from imapclient.exceptions import LoginError

    from connectors.imap_mail.client import login_failed

    error = login_failed("me@outlook.com", LoginError("b'LOGIN failed.'"), f"{host}:993")

    assert error.error_class == "config"  # not needs_reauth: a new password would not help
    assert "Microsoft no longer accepts passwords over IMAP" in str(error)
    assert "LOGIN failed." in str(error)
    assert "Forward this mailbox's mail" in error.remediation
    # Elsewhere a refused login is still about the credentials; a temporary refusal stays temporary.
    assert login_failed("me", LoginError("b'LOGIN failed.'"), "imap.example.com:993").error_class == "auth"
    assert login_failed("me", LoginError("b'LOGIN failed.'"), "outlook.example.com:993").error_class == "auth"
    assert login_failed("me", LoginError("[UNAVAILABLE] try later"), f"{host}:993").error_class == "transient"
