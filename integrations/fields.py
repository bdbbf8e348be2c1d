"""Encrypted model fields built on django-fernet-fields-v2.

The fernet field caches its key set per field instance; `reset_key_cache` drops that cache so a
changed FERNET_KEYS (tests, `rotate_keys`) takes effect without a restart.
"""

import json

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
