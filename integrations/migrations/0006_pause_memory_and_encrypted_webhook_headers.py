"""Two changes that existing rows need:

- Integration remembers the status a pause interrupted, so resume no longer turns a
  disconnected integration (no credentials) or one that needs re-auth into "connected".
  Integrations paused before this migration resume as connected, or as disconnected when their
  credentials are gone.
- The webhook's "Extra headers" hold credentials (Authorization: ...): they move from the
  plaintext config into the encrypted credentials, and the blueprint's field becomes a
  write-only secret, at once (not only at the next `load_catalogue`). A disconnected hook has no
  credentials left to join: its headers are dropped, as disconnecting drops every secret.

Plain literals, not imports from the app: a migration must keep doing what it did when written.
"""

from django.db import migrations, models

STATUS_CHOICES = [
    ("pending", "Pending"),
    ("connected", "Connected"),
    ("syncing", "Syncing"),
    ("error", "Error"),
    ("needs_reauth", "Needs re-auth"),
    ("paused", "Paused"),
    ("disconnected", "Disconnected"),
]
DISCONNECTED_DETAIL = "Disconnected: credentials removed; synced data kept."
HEADERS_SECRET_SPEC = {
    "type": "secret_text",
    "placeholder": "Authorization: Bearer …",
    "help": 'Optional: one "Name: value" per line, e.g. Authorization: Bearer …. Stored encrypted; never shown again.',
}


def remember_status_of_paused(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    Credential = apps.get_model("integrations", "Credential")
    paused = Integration.objects.filter(status="paused")
    without_credentials = paused.exclude(pk__in=Credential.objects.values("integration_id"))
    without_credentials.update(status_before_pause="disconnected", status_detail_before_pause=DISCONNECTED_DETAIL)
    paused.filter(status_before_pause="").update(status_before_pause="connected")


def _headers_as_secret(schema):
    changed = False
    for spec in schema or []:
        if isinstance(spec, dict) and spec.get("name") == "headers" and spec.get("type") == "textarea":
            spec.update(HEADERS_SECRET_SPEC)
            changed = True
    return changed


def encrypt_webhook_headers(apps, schema_editor):
    IntegrationType = apps.get_model("integrations", "IntegrationType")
    Integration = apps.get_model("integrations", "Integration")
    Credential = apps.get_model("integrations", "Credential")
    for itype in IntegrationType.objects.filter(handler="webhook"):
        # The seed too, so the catalogue loader sees no admin edit in this change.
        seed = itype.seed or {}
        if _headers_as_secret(itype.auth_schema) | _headers_as_secret(seed.get("auth_schema")):
            itype.save(update_fields=["auth_schema", "seed"])
        for integration in Integration.objects.filter(type=itype, config__has_key="headers"):
            headers = str(integration.config.pop("headers") or "").strip()
            credential = Credential.objects.filter(integration=integration).first()
            # No credentials: a disconnected hook, whose secrets were dropped already; so go these.
            if headers and credential is not None:
                secrets = dict(credential.secrets or {})
                secrets.setdefault("headers", headers)
                credential.secrets = secrets
                credential.save(update_fields=["secrets"])
            integration.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [("integrations", "0005_database_cache_table_always")]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="status_before_pause",
            field=models.CharField(blank=True, choices=STATUS_CHOICES, max_length=16),
        ),
        migrations.AddField(
            model_name="integration",
            name="status_detail_before_pause",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.RunPython(remember_status_of_paused, migrations.RunPython.noop),
        migrations.RunPython(encrypt_webhook_headers, migrations.RunPython.noop),
    ]
