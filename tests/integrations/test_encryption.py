"""Secrets are encrypted at rest, keys rotate, and a missing key is reported, never bypassed."""

import base64
import os

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from integrations.keyrotation import rotate_rows
from integrations.models import Credential, OAuthApp
from integrations.rawsecrets import encrypted_columns
from tests.factories import make_integration, make_type

SECRET = "pa55-w0rd-that-must-never-leak"
TOKEN = "ya29.access-token-plaintext"
REFRESH = "1//refresh-token-plaintext"
CLIENT_SECRET = "GOCSPX-client-secret-plaintext"
# Every encrypted column, as "table.column": the tests below must cover each kind.
COLUMNS = {
    "integrations_credential": ["secrets", "access_token", "refresh_token"],
    "integrations_oauthapp": ["client_secret"],
    "timeline_changewebhook": ["secret"],  # a change webhook's signing secret
}


def _raw(table: str, column: str, pk) -> bytes | None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE id = %s", [pk])  # noqa: S608
        value = cursor.fetchone()[0]
    return bytes(value) if value is not None else None


def _new_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _store_every_kind(owner, name="Mine", slug="test-feed"):
    """A credential with form secrets and both tokens, and an OAuth app with its client secret."""
    integration = make_integration(owner, make_type(slug), name=name, secrets={"password": SECRET})
    credential = integration.credential
    credential.access_token, credential.refresh_token = TOKEN, REFRESH
    credential.save()
    app, _ = OAuthApp.objects.update_or_create(
        integration_type=integration.type, defaults={"client_id": "hub", "client_secret": CLIENT_SECRET}
    )
    from timeline.models import ChangeWebhook

    ChangeWebhook.objects.create(user=owner, url="https://example.com/hook", secret=SECRET)
    return credential, app


def _raw_values(credential, app) -> dict[str, bytes]:
    from timeline.models import ChangeWebhook

    hook = ChangeWebhook.objects.filter(user=credential.integration.user).latest("pk")
    rows = {
        "integrations_credential": credential.pk,
        "integrations_oauthapp": app.pk,
        "timeline_changewebhook": hook.pk,
    }
    return {f"{t}.{c}": _raw(t, c, rows[t]) for t, columns in COLUMNS.items() for c in columns}


def test_every_encrypted_column_is_covered_here():
    covered = {f"{t}.{c}" for t, columns in COLUMNS.items() for c in columns}
    assert {f"{col.model._meta.db_table}.{col.field.column}" for col in encrypted_columns()} == covered


def test_raw_database_columns_hold_no_plaintext(owner):
    credential, app = _store_every_kind(owner)

    for label, raw in _raw_values(credential, app).items():
        assert raw is not None, label
        for plaintext in (SECRET, TOKEN, REFRESH, CLIENT_SECRET):
            assert plaintext.encode() not in raw, label
        assert raw.startswith(b"gAAAAA"), label  # a Fernet token

    credential = Credential.objects.get(pk=credential.pk)
    assert credential.secrets == {"password": SECRET}
    assert (credential.access_token, credential.refresh_token) == (TOKEN, REFRESH)
    assert OAuthApp.objects.get(pk=app.pk).client_secret == CLIENT_SECRET


def test_rotation_with_two_keys_then_old_key_removed(owner, settings, capsys):
    old_key = settings.FERNET_KEYS[0]
    credential, app = _store_every_kind(owner)
    before = _raw_values(credential, app)

    new_key = _new_key()
    settings.FERNET_KEYS = [new_key, old_key]
    call_command("rotate_keys")
    assert "Rotated 5 encrypted values" in capsys.readouterr().out
    after = _raw_values(credential, app)
    for label in before:
        assert after[label] != before[label], label
        assert Fernet(new_key.encode()).decrypt(after[label]), label  # readable with the new key alone

    settings.FERNET_KEYS = [new_key]
    credential = Credential.objects.get(pk=credential.pk)
    assert (credential.secrets, credential.access_token, credential.refresh_token) == (
        {"password": SECRET},
        TOKEN,
        REFRESH,
    )
    assert OAuthApp.objects.get(pk=app.pk).client_secret == CLIENT_SECRET


def test_a_token_refreshed_during_rotation_is_not_overwritten(owner, settings):
    old_key = settings.FERNET_KEYS[0]
    credential, _app = _store_every_kind(owner)
    settings.FERNET_KEYS = [_new_key(), old_key]
    column = next(c for c in encrypted_columns() if c.label == "integrations.Credential.access_token")
    stale = next(column.batches(500))  # rotation read the batch...

    Credential.objects.filter(pk=credential.pk).update(access_token="ya29.refreshed-meanwhile")  # ...a refresh won
    rotated, changed_meanwhile, skipped = rotate_rows(column, stale)

    assert (rotated, changed_meanwhile, skipped) == (1, 1, 0)
    settings.FERNET_KEYS = settings.FERNET_KEYS[:1]  # the refreshed token was rotated too
    access = Credential.objects.filter(pk=credential.pk).values_list("access_token", flat=True).get()
    assert access == "ya29.refreshed-meanwhile"


def test_missing_old_key_is_a_clear_check_error_not_plaintext(owner, settings):
    key_a, key_b = settings.FERNET_KEYS[0], _new_key()
    # Several rows under different keys: the first row readable, later ones not.
    settings.FERNET_KEYS = [key_b]
    _store_every_kind(owner, "Readable", slug="first-type")
    settings.FERNET_KEYS = [key_a]
    _store_every_kind(owner, "Old one", slug="second-type")
    _store_every_kind(owner, "Older one", slug="third-type")

    settings.FERNET_KEYS = [key_b]
    errors = {e.msg: e for e in run_checks(databases=["default"]) if e.id == "metacortex.E001"}

    assert set(errors) == {
        f"FERNET_KEYS cannot decrypt 2 of 3 stored values of {label}: the key that encrypted them is missing."
        for label in (
            "integrations.Credential.secrets",
            "integrations.Credential.access_token",
            "integrations.Credential.refresh_token",
            "integrations.OAuthApp.client_secret",
            "timeline.ChangeWebhook.secret",
        )
    }
    for error in errors.values():
        assert "rotate_keys" in error.hint
        for plaintext in (SECRET, TOKEN, REFRESH, CLIENT_SECRET):
            assert plaintext not in error.msg + error.hint

    settings.FERNET_KEYS = [key_b, key_a]  # both keys: everything is readable again
    assert not [e for e in run_checks(databases=["default"]) if e.id == "metacortex.E001"]


def test_rotation_refuses_values_no_key_can_read(owner, settings):
    make_integration(owner, secrets={"password": SECRET})
    settings.FERNET_KEYS = [_new_key()]

    with pytest.raises(CommandError, match="cannot be decrypted with any key"):
        call_command("rotate_keys")


def test_dumpdata_never_writes_secrets(owner, capsys):
    _store_every_kind(owner)
    call_command("dumpdata", "integrations.credential", "integrations.oauthapp")
    out = capsys.readouterr().out
    for plaintext in (SECRET, TOKEN, REFRESH, CLIENT_SECRET):
        assert plaintext not in out


@pytest.mark.parametrize("size", ["0", "-5"])
def test_rotation_refuses_a_batch_size_that_reads_nothing_or_everything(owner, settings, size):
    # --batch-size 0 read no row and still said "Rotated 0 ... to the current key": the operator then
    # removed the old key with every secret still under it. A negative one is "no limit" on SQLite.
    old_key = settings.FERNET_KEYS[0]
    credential, app = _store_every_kind(owner)
    before = _raw_values(credential, app)
    settings.FERNET_KEYS = [_new_key(), old_key]

    with pytest.raises(CommandError, match="batch-size"):
        call_command("rotate_keys", "--batch-size", size)
    assert _raw_values(credential, app) == before


def test_a_secret_the_keys_cannot_read_is_a_clear_answer_not_a_server_error(owner, client, settings):
    # Keys changed under a running hub (a restored database, FERNET_KEYS edited without the start
    # check): the person's integration page and the admin were bare 500s (InvalidToken), and a sync
    # failed as "an internal error".
    from django.urls import reverse

    from tests.factories import make_user

    feed = make_type("test-feed", handler="ical_feed", is_available=True)
    integration = make_integration(owner, feed, secrets={"url": f"https://calendar.example.com/{SECRET}.ics"})
    settings.FERNET_KEYS = [_new_key()]

    client.force_login(owner)
    page = client.get(reverse("integrations:detail", args=[integration.pk]))
    assert page.status_code == 503
    body = page.content.decode()
    assert "cannot read the stored credentials" in body
    assert "FERNET_KEYS" not in body  # the operator's business, not the person's

    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    admin_page = client.get(reverse("admin:integrations_integration_change", args=[integration.pk]))
    assert admin_page.status_code == 503
    assert "FERNET_KEYS" in admin_page.content.decode()  # staff are told what the operator must fix
    assert SECRET not in admin_page.content.decode()

    with pytest.raises(CommandError) as failed:
        call_command("sync", str(integration.pk))
    assert "internal" not in str(failed.value)
    assert "cannot be decrypted" in str(failed.value)
