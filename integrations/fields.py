"""Encrypted model fields built on django-fernet-fields-v2, and the hub's one way to a Fernet.

The fernet field caches its key set per field instance; `reset_key_cache` drops that cache so a
changed FERNET_KEYS (tests, `rotate_keys`) takes effect without a restart.

`key_set`, `seal` and `unseal` are the only way the hub gets a Fernet outside a model field (the
API token shown once, the OAuth token awaiting an account-switch answer, key checks and rotation):
the keys exactly as the encrypted fields use them, first key encrypts, all decrypt.
"""

import json

from cryptography.fernet import InvalidToken, MultiFernet
from django.core.serializers.json import DjangoJSONEncoder
from fernet_fields import EncryptedField, EncryptedTextField


class SecretTextField(EncryptedTextField):
    """Encrypted text that serialization (dumpdata, admin history) never writes out."""

    def value_to_string(self, obj):
        return ""


class EncryptedJSONField(SecretTextField):
    """A dict/list stored as encrypted JSON text. Never queryable, never indexed."""

    def get_prep_value(self, value):
        if value is None:
            return None
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)

    def from_db_value(self, value, expression, connection, *args):
        if value is None:
            return None
        return json.loads(self.fernet.decrypt(bytes(value)))

    def to_python(self, value):
        return value


def encrypted_fields():
    """Every encrypted field of every installed model, as (model, field) pairs."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedField):
                yield model, field


def reset_key_cache():
    for _model, field in encrypted_fields():
        for attr in ("keys", "fernet_keys", "fernet"):
            field.__dict__.pop(attr, None)


def key_set(field: EncryptedField | None = None) -> MultiFernet:
    """The Fernet keys of an encrypted field (by default, as every field of the hub has them) as a
    MultiFernet: the first key encrypts, all decrypt, FERNET_USE_HKDF applied like the fields do."""
    fernet = (field if field is not None else SecretTextField()).fernet
    return fernet if isinstance(fernet, MultiFernet) else MultiFernet([fernet])


def seal(text: str) -> str:
    """Encrypt a short-lived secret that must pass through a place that stores it in clear (the
    session): what is stored there is useless without the hub's keys."""
    return key_set().encrypt(text.encode()).decode("ascii")


def unseal(sealed: str) -> str | None:
    """The sealed text, or None when no current key opens it (the keys changed since)."""
    try:
        return key_set().decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        return None
