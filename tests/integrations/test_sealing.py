"""One way to a Fernet (integrations.fields.key_set/seal/unseal): what the session carries (the
API token shown once, an OAuth token awaiting the account-switch answer) is sealed with exactly the
keys the encrypted columns use, follows a key rotation, and is unreadable once its key is gone."""

import base64
import os

from cryptography.fernet import Fernet

from integrations.fields import key_set, seal, unseal
from integrations.models import Credential
from integrations.rawsecrets import multi_fernet


def _new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_sealed_text_is_a_fernet_token_of_the_first_key():
    sealed = seal("mc_secret-token")
    assert "mc_secret-token" not in sealed
    assert unseal(sealed) == "mc_secret-token"
    column = Credential._meta.get_field("refresh_token")
    assert multi_fernet(column).decrypt(sealed.encode()) == b"mc_secret-token"  # the columns' keys


def test_a_rotation_keeps_sealed_text_readable_and_seals_with_the_new_key(settings):
    old_key = settings.FERNET_KEYS[0]
    sealed_before = seal("before")
    new_key = _new_key()
    settings.FERNET_KEYS = [new_key, old_key]
    assert unseal(sealed_before) == "before"
    assert Fernet(new_key.encode()).decrypt(seal("after").encode()) == b"after"


def test_text_sealed_with_a_removed_key_is_none_not_an_error(settings):
    sealed = seal("gone")
    settings.FERNET_KEYS = [_new_key()]
    assert unseal(sealed) is None
    assert unseal("not a token") is None


def test_hkdf_is_applied_as_the_fields_apply_it(settings):
    settings.FERNET_USE_HKDF = True
    column = Credential._meta.get_field("access_token")
    sealed = seal("derived")
    assert key_set(column).decrypt(sealed.encode()) == b"derived"
    assert unseal(sealed) == "derived"
