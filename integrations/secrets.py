"""Reading and writing an integration's secrets. Every read by a task is audited."""

from __future__ import annotations

from django.db import transaction

from integrations.models import Actor, AuditAction, AuditEvent, Credential, Integration


def credential_for(integration: Integration, *, actor=Actor.TASK, purpose: str = "") -> Credential | None:
    credential = Credential.objects.filter(integration=integration).first()
    if credential is not None and actor == Actor.TASK:
        AuditEvent.record(AuditAction.CREDENTIAL_ACCESS, integration=integration, actor=actor, purpose=purpose)
    return credential


def secrets_for(integration: Integration, *, actor=Actor.TASK, purpose: str = "") -> dict:
    credential = credential_for(integration, actor=actor, purpose=purpose)
    return dict(credential.secrets or {}) if credential else {}


@transaction.atomic
def store_secrets(integration: Integration, secrets: dict) -> Credential:
    credential, _ = Credential.objects.select_for_update().get_or_create(integration=integration)
    credential.secrets = secrets
    credential.save(update_fields=["secrets", "updated_at"])
    return credential


@transaction.atomic
def drop_credentials(integration: Integration) -> None:
    Credential.objects.filter(integration=integration).delete()
