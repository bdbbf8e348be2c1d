"""State changes of an integration that more than one entry point performs (views, API, admin,
engine): pause, resume, disconnect, delete, re-auth. Each records an audit event."""

from __future__ import annotations

from django.db import transaction

from integrations.models import Actor, AuditAction, AuditEvent, Integration, Status
from integrations.secrets import drop_credentials


def _actor(by_staff: bool):
    return Actor.STAFF if by_staff else Actor.USER


@transaction.atomic
def pause(integration: Integration, *, by_staff: bool = False):
    integration.set_status(Status.PAUSED, "Paused: scheduled syncs are skipped until you resume.")
    AuditEvent.record(AuditAction.PAUSE, integration=integration, actor=_actor(by_staff))


@transaction.atomic
def resume(integration: Integration, *, by_staff: bool = False):
    integration.consecutive_failures = 0
    integration.save(update_fields=["consecutive_failures"])
    integration.set_status(Status.CONNECTED, "")
    AuditEvent.record(AuditAction.RESUME, integration=integration, actor=_actor(by_staff))


@transaction.atomic
def needs_reauth(integration: Integration, detail: str):
    """Credentials were refused: stop syncing and tell the user exactly what to do."""
    integration.set_status(Status.NEEDS_REAUTH, detail)
    AuditEvent.record(AuditAction.AUTH_FAILED, integration=integration, actor=Actor.SYSTEM, detail=detail[:300])


def disconnect(integration: Integration, *, by_staff: bool = False):
    """Keep the synced data, stop syncs, revoke the grant at the provider where it offers that
    (best effort, outside the transaction, recorded in the audit event), drop the credentials."""
    from integrations.oauth.revoke import revoke_at_provider

    revocation = revoke_at_provider(integration)
    with transaction.atomic():
        drop_credentials(integration)
        integration.set_status(Status.DISCONNECTED, "Disconnected: credentials removed; synced data kept.")
        AuditEvent.record(AuditAction.DISCONNECT, integration=integration, actor=_actor(by_staff), **revocation)


def delete(integration: Integration, *, delete_data: bool, by_staff: bool = False):
    """Remove the instance, revoking its grant at the provider first (best effort); its synced data
    too only when asked (otherwise kept with provenance)."""
    from integrations.oauth.revoke import revoke_at_provider

    revocation = revoke_at_provider(integration)
    with transaction.atomic():
        AuditEvent.record(
            AuditAction.DELETE, integration=integration, actor=_actor(by_staff), deleted_data=delete_data, **revocation
        )
        if delete_data:
            integration.items.all().delete()
        integration.delete()


def delete_account(user) -> int:
    """A user leaves: revoke every OAuth grant at its provider (best effort), then delete the user,
    which cascades to their integrations, credentials, tokens, synced data and workflows."""
    from integrations.oauth.revoke import revoke_at_provider

    integrations = list(Integration.objects.filter(user=user).select_related("type"))
    for integration in integrations:
        revoke_at_provider(integration)
    user.delete()
    return len(integrations)
