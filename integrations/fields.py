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

from connectors.errors import ConfigError, ConnectorError, register_classifier


class UnreadableSecret(InvalidToken):
    """A stored secret no key in FERNET_KEYS opens: the key that encrypted it is missing (keys
    changed under a running hub, a database restored from another deployment). Raised instead of a
    bare InvalidToken, naming the column (never the value), so the web answers it with a clear page
    (metacortex.middleware) and a sync fails with the operator's fix rather than "internal error".
    Never turned into an empty value: saved back, that would destroy the stored secret."""

    def __init__(self, label: str):
        super().__init__(label)
        self.label = label

    def __str__(self):
        return (
            f"A stored secret ({self.label}) cannot be decrypted with FERNET_KEYS: the key that encrypted it "
            "is missing. Put that key back in FERNET_KEYS (after the current one) and run `manage.py rotate_keys`; "
            "`manage.py check --database default` counts the values affected."
        )


class SecretsUnreadable(ConfigError):
    """A sync (or a connection test) met a secret the configured keys cannot open. The operator's
    to fix, not the person's: it does not count against the connection."""

    operator_problem = True


@register_classifier
def _unreadable_secret(exc: BaseException) -> ConnectorError | None:
    if not isinstance(exc, UnreadableSecret):
        return None
    return SecretsUnreadable(
        "The stored credentials of this integration cannot be decrypted: the hub's encryption keys changed.",
        remediation=f"Nothing was lost. Operator: {exc}",
    )


def _decrypt_or_name_it(field, decrypt):
    try:
        return decrypt()
    except InvalidToken:
        raise UnreadableSecret(f"{field.model._meta.label}.{field.name}") from None


class SecretTextField(EncryptedTextField):
    """Encrypted text that serialization (dumpdata, admin history) never writes out."""

    def value_to_string(self, obj):
        return ""

    def from_db_value(self, value, expression, connection, *args):
        parent = super().from_db_value
        return _decrypt_or_name_it(self, lambda: parent(value, expression, connection, *args))


class EncryptedJSONField(SecretTextField):
    """A dict/list stored as encrypted JSON text. Never queryable, never indexed."""

    def get_prep_value(self, value):
        if value is None:
            return None
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)

    def from_db_value(self, value, expression, connection, *args):
        if value is None:
            return None
        return json.loads(_decrypt_or_name_it(self, lambda: self.fernet.decrypt(bytes(value))))

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
