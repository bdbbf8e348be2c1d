"""Start-up checks: `manage.py check --database default` (run by `make run` and the Procfile
release step) proves the configured FERNET_KEYS can read what is already stored."""

from cryptography.fernet import InvalidToken
from django.core.checks import Error, Tags, register
from django.db import DatabaseError


@register()
def connector_modules_import(app_configs, **kwargs):
    from connectors.registry import registry

    registry.autodiscover()
    return [
        Error(
            f"Connector module connectors.{name} failed to import ({error}); its integration types cannot work.",
            hint="Fix the module or its dependency; the rest of the hub keeps running without it.",
            id="metacortex.E002",
        )
        for name, error in registry.failed.items()
    ]


@register(Tags.database)
def fernet_keys_decrypt_stored_secrets(app_configs, **kwargs):
    from integrations.fields import encrypted_fields

    errors = []
    for model, field in encrypted_fields():
        try:
            stored = model.objects.exclude(**{f"{field.name}__isnull": True})
            sample = stored.values_list(field.name, flat=True).first()
        except InvalidToken:
            errors.append(
                Error(
                    f"FERNET_KEYS cannot decrypt {model._meta.label}.{field.name}: "
                    "the key that encrypted it is missing.",
                    hint="Put the old key back in FERNET_KEYS (after the new one), run `manage.py rotate_keys`, "
                    "then remove the old key.",
                    id="metacortex.E001",
                )
            )
        except DatabaseError:
            return []  # not migrated yet: nothing stored to check
        else:
            del sample
    return errors
