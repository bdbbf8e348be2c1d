"""State changes of an integration that more than one entry point performs (views, API, admin,
engine): pause, resume, disconnect, delete, re-auth. Each records an audit event."""

from __future__ import annotations

from django.db import transaction

from integrations.models import Actor, AuditAction, AuditEvent, Integration, Status
from integrations.secrets import drop_credentials


def _actor(by_staff: bool):
    return Actor.STAFF if by_staff else Actor.USER


class Refused(Exception):
    """The change does not apply to the integration as it is now; the message says what to do."""


PAUSED_SYNCS = "scheduled syncs are skipped until you resume."
PAUSED_DELIVERIES = "workflows that deliver through it are paused at their next run, until you resume."


def paused_detail(integration: Integration, *, named: bool = False) -> str:
    """What a pause stops, for the status line ("Paused: ...") or a message ("Paused Slack: ...")."""
    effect = PAUSED_SYNCS if integration.type.can_sync else PAUSED_DELIVERIES
    return f"Paused {integration.name}: {effect}" if named else f"Paused: {effect}"


DISCONNECTED_DETAIL = "Disconnected: credentials removed; synced data kept."
# Statuses a resume returns to as they were; any other status before the pause resumes as connected.
KEPT_ACROSS_PAUSE = (Status.NEEDS_REAUTH, Status.DISCONNECTED)


def pause(integration: Integration, *, by_staff: bool = False) -> bool:
    """Stop scheduled work, remembering the status to return to. False when already paused."""
    if integration.status == Status.DISCONNECTED:
        raise Refused(f"{integration.name} is disconnected, so there is nothing to pause: reconnect it instead.")
    if integration.status == Status.PAUSED:
        return False
    with transaction.atomic():
        integration.status_before_pause = integration.status
        integration.status_detail_before_pause = integration.status_detail
        integration.set_status(Status.PAUSED, paused_detail(integration), save=False)
        integration.save(update_fields=[*_PAUSE_FIELDS, "status", "status_detail", "updated_at"])
        AuditEvent.record(AuditAction.PAUSE, integration=integration, actor=_actor(by_staff))
    return True


def resume(integration: Integration, *, by_staff: bool = False) -> str | None:
    """Undo a pause: an integration that needed re-auth still does (with the same instructions);
    anything else is connected again. Returns the new status, or None when it was not paused."""
    if integration.status == Status.DISCONNECTED:
        raise Refused(f"{integration.name} is disconnected, so it cannot be resumed: reconnect it instead.")
    if integration.status != Status.PAUSED:
        return None
    before = integration.status_before_pause
    with transaction.atomic():
        if before in KEPT_ACROSS_PAUSE:
            fallback = DISCONNECTED_DETAIL if before == Status.DISCONNECTED else ""
            integration.set_status(before, integration.status_detail_before_pause or fallback, save=False)
        else:
            integration.set_status(Status.CONNECTED, "", save=False)
            integration.consecutive_failures = 0
        integration.status_before_pause, integration.status_detail_before_pause = "", ""
        integration.save(
            update_fields=[*_PAUSE_FIELDS, "status", "status_detail", "consecutive_failures", "updated_at"]
        )
        AuditEvent.record(
            AuditAction.RESUME, integration=integration, actor=_actor(by_staff), status=integration.status
        )
    return integration.status


_PAUSE_FIELDS = ["status_before_pause", "status_detail_before_pause"]


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
        integration.set_status(Status.DISCONNECTED, DISCONNECTED_DETAIL)
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


def delete_account(user, *, by_staff: bool = False) -> int:
    """A user leaves: revoke every OAuth grant at its provider (best effort), then delete the user,
    which cascades to their integrations, credentials, tokens, synced data, workflows and audit
    events. One event without personal data (no user, no names) records that it happened."""
    from integrations.oauth.revoke import revoke_at_provider

    integrations = list(Integration.objects.filter(user=user).select_related("type"))
    revocations = [r["revocation"] for r in map(revoke_at_provider, integrations) if "revocation" in r]
    account = user.pk
    with transaction.atomic():
        user.delete()
        AuditEvent.objects.create(
            action=AuditAction.DELETE,
            actor=_actor(by_staff),
            detail={"account": account, "integrations": len(integrations), "revocations": revocations},
        )
    return len(integrations)
