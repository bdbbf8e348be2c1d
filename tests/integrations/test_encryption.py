"""Secrets are encrypted at rest, keys rotate, and a missing key is reported, never bypassed."""

import base64
import os

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import connection

from integrations.models import Credential
from tests.factories import make_integration

SECRET = "pa55-w0rd-that-must-never-leak"
TOKEN = "ya29.access-token-plaintext"


def _raw_columns(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets, access_token FROM integrations_credential WHERE id = %s", [pk])
        return [bytes(v) if v is not None else None for v in cursor.fetchone()]


def _new_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_raw_database_columns_hold_no_plaintext(owner):
    integration = make_integration(owner, secrets={"password": SECRET})
    credential = integration.credential
    credential.access_token = TOKEN
    credential.save()

    for raw in _raw_columns(credential.pk):
        assert raw is not None
        assert SECRET.encode() not in raw
        assert TOKEN.encode() not in raw
        assert raw.startswith(b"gAAAAA")  # a Fernet token

    credential = Credential.objects.get(pk=credential.pk)
    assert credential.secrets == {"password": SECRET}
    assert credential.access_token == TOKEN


def test_rotation_with_two_keys_then_old_key_removed(owner, settings, capsys):
    old_key = settings.FERNET_KEYS[0]
    integration = make_integration(owner, secrets={"password": SECRET})
    pk = integration.credential.pk
    before = _raw_columns(pk)[0]

    new_key = _new_key()
    settings.FERNET_KEYS = [new_key, old_key]
    call_command("rotate_keys")
    assert "Rotated 1 encrypted values" in capsys.readouterr().out
    after = _raw_columns(pk)[0]
    assert after != before
    assert Fernet(new_key.encode()).decrypt(after)  # now readable with the new key alone

    settings.FERNET_KEYS = [new_key]
    assert Credential.objects.get(pk=pk).secrets == {"password": SECRET}


def test_missing_old_key_is_a_clear_check_error_not_plaintext(owner, settings):
    make_integration(owner, secrets={"password": SECRET})
    settings.FERNET_KEYS = [_new_key()]
    errors = run_checks(databases=["default"])
    ids = [e.id for e in errors]
    assert "metacortex.E001" in ids
    message = next(e for e in errors if e.id == "metacortex.E001")
    assert "FERNET_KEYS cannot decrypt" in message.msg
    assert SECRET not in message.msg


def test_rotation_refuses_values_no_key_can_read(owner, settings):
    make_integration(owner, secrets={"password": SECRET})
    settings.FERNET_KEYS = [_new_key()]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot be decrypted with any key"):
        call_command("rotate_keys")


def test_dumpdata_never_writes_secrets(owner, capsys):
    make_integration(owner, secrets={"password": SECRET})
    call_command("dumpdata", "integrations.credential")
    assert SECRET not in capsys.readouterr().out
