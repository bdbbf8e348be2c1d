"""State changes of an integration that more than one entry point performs (views, API, admin,
engine): pause, resume, disconnect, delete, re-auth. Each records an audit event."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from integrations.models import Actor, AuditAction, AuditEvent, Integration, Status
from integrations.oauth.revoke import grant_of, revoke_grant
from integrations.secrets import drop_credentials
from integrations.signals import integration_deleting, integration_disconnected, integration_reconnected, notify
from integrations.uploads.storage import remove_unheld_media


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
    with transaction.atomic():
        _read_locked(integration)  # a needs-reauth written meanwhile must be the status remembered
        if integration.status == Status.DISCONNECTED:
            raise Refused(f"{integration.name} is disconnected, so there is nothing to pause: reconnect it instead.")
        if integration.status == Status.PAUSED:
            return False
        integration.status_before_pause = integration.status
        integration.status_detail_before_pause = integration.status_detail
        integration.set_status(Status.PAUSED, paused_detail(integration), save=False)
        integration.save(update_fields=[*_PAUSE_FIELDS, "status", "status_detail", "updated_at"])
        AuditEvent.record(AuditAction.PAUSE, integration=integration, actor=_actor(by_staff))
    return True


def resume(integration: Integration, *, by_staff: bool = False) -> str | None:
    """Undo a pause: an integration that needed re-auth still does (with the same instructions);
    anything else is connected again. Returns the new status, or None when it was not paused."""
    with transaction.atomic():
        _read_locked(integration)
        if integration.status == Status.DISCONNECTED:
            raise Refused(f"{integration.name} is disconnected, so it cannot be resumed: reconnect it instead.")
        if integration.status != Status.PAUSED:
            return None
        before = integration.status_before_pause
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


def _read_locked(integration: Integration):
    """Re-read the status fields under the row lock (PostgreSQL), or under the write lock that
    SQLite's IMMEDIATE transactions take: a worker's status change cannot slip in between."""
    fresh = Integration.objects.select_for_update().only(*_STATUS_FIELDS).get(pk=integration.pk)
    for name in _STATUS_FIELDS:
        setattr(integration, name, getattr(fresh, name))


_PAUSE_FIELDS = ["status_before_pause", "status_detail_before_pause"]
_STATUS_FIELDS = ["status", "status_detail", "consecutive_failures", *_PAUSE_FIELDS]


@transaction.atomic
def needs_reauth(integration: Integration, detail: str):
    """Credentials were refused: stop syncing and tell the user exactly what to do."""
    integration.set_status(Status.NEEDS_REAUTH, detail)
    AuditEvent.record(AuditAction.AUTH_FAILED, integration=integration, actor=Actor.SYSTEM, detail=detail[:300])


# Revocation at the provider is an HTTP call, so it never runs inside a transaction (on SQLite that
# is a database-wide write lock). The user's pages and the API call these functions outside any
# transaction: the grant is revoked first, and the audit event says how that went. The admin runs
# its delete views inside one transaction it owns (after_commit=True): the grant is read first and
# revoked once that transaction commits, and the audit event is completed then.
PENDING_REVOCATION = {"revoked": False, "detail": "requested once the change is committed"}


def _what_happened(integration: Integration, verb: str, *, by_staff: bool, through: str) -> str:
    """The sentence a paused dependent shows its user (the lifecycle signals' reason)."""
    how = " by the hub's staff" if by_staff else (f" through {through}" if through else "")
    when = timezone.localtime().strftime("%d %b %Y %H:%M")
    return f"It uses {integration.name} ({integration.type.display_name}), which was {verb}{how} on {when}."


def disconnect(integration: Integration, *, by_staff: bool = False, after_commit: bool = False, through: str = ""):
    """Keep the synced data, stop syncs, revoke the grant at the provider where it offers that
    (best effort, recorded in the audit event), drop the credentials. Returns the dependents
    (workflows) that paused because of it: they react to integration_disconnected."""
    revocation, grant = _revocation(integration, after_commit)
    with transaction.atomic():
        drop_credentials(integration)
        integration.set_status(Status.DISCONNECTED, DISCONNECTED_DETAIL)
        event = AuditEvent.record(AuditAction.DISCONNECT, integration=integration, actor=_actor(by_staff), **revocation)
        _revoke_on_commit(event, [grant])
    reason = _what_happened(integration, "disconnected", by_staff=by_staff, through=through)
    return notify(integration_disconnected, integration, reason)


def reconnected(integration: Integration) -> None:
    """A disconnected integration, or one that needed re-authentication, works again: tell what
    depends on it (the workflows it paused say so, and wait for their user to resume them)."""
    when = timezone.localtime().strftime("%d %b %Y %H:%M")
    reason = f"{integration.name} ({integration.type.display_name}) was connected again on {when}."
    notify(integration_reconnected, integration, reason)


def delete(
    integration: Integration,
    *,
    delete_data: bool,
    by_staff: bool = False,
    after_commit: bool = False,
    through: str = "",
):
    """Remove the instance, revoking its grant at the provider (best effort); its synced data too
    only when asked (otherwise kept with provenance). Returns the dependents (workflows) that paused
    because of it: they react to integration_deleting, sent first, while they still refer to it
    (in their own transaction, so no lock is held across the revocation's network call)."""
    paused = notify(
        integration_deleting, integration, _what_happened(integration, "deleted", by_staff=by_staff, through=through)
    )
    revocation, grant = _revocation(integration, after_commit)
    with transaction.atomic():
        event = AuditEvent.record(
            AuditAction.DELETE, integration=integration, actor=_actor(by_staff), deleted_data=delete_data, **revocation
        )
        if delete_data:
            # Photos' files carry where they were taken: they go too, unless another record holds them.
            files = list(integration.items.filter(data__has_key="file").values_list("data__file", flat=True))
            integration.items.all().delete()
            if files:
                user_id = integration.user_id
                transaction.on_commit(lambda: remove_unheld_media(user_id, files))
        integration.delete()
        _revoke_on_commit(event, [grant])
    return paused


def delete_account(user, *, by_staff: bool = False, after_commit: bool = False) -> int:
    """A user leaves: revoke every OAuth grant at its provider (best effort), then delete the user,
    which cascades to their integrations, credentials, tokens, synced data, workflows and audit
    events. One event without personal data (no user, no names) records that it happened."""
    integrations = list(Integration.objects.filter(user=user).select_related("type"))
    outcomes = [_revocation(integration, after_commit) for integration in integrations]
    revocations = [revocation["revocation"] for revocation, _grant in outcomes if revocation]
    account = user.pk
    with transaction.atomic():
        user.delete()
        event = AuditEvent.objects.create(
            action=AuditAction.DELETE,
            actor=_actor(by_staff),
            detail={"account": account, "integrations": len(integrations), "revocations": revocations},
        )
        _revoke_on_commit(event, [grant for _revocation, grant in outcomes])
    return len(integrations)


def _revocation(integration: Integration, after_commit: bool):
    """({"revocation": outcome} or {}, the grant still to revoke after the commit or None)."""
    grant = grant_of(integration)
    if grant is None:
        return {}, None
    if after_commit:
        return {"revocation": dict(PENDING_REVOCATION)}, grant
    return {"revocation": revoke_grant(grant)}, None


def _revoke_on_commit(event: AuditEvent, grants: list):
    grants = [grant for grant in grants if grant is not None]
    if grants:
        transaction.on_commit(lambda: _revoke_and_complete(event.pk, grants))


def _revoke_and_complete(event_pk: int, grants: list):
    outcomes = [revoke_grant(grant) for grant in grants]
    event = AuditEvent.objects.filter(pk=event_pk).first()
    if event is None:
        return
    if "revocations" in event.detail:  # an account: one outcome per integration
        done = [r for r in event.detail["revocations"] if r != PENDING_REVOCATION]
        event.detail = {**event.detail, "revocations": done + outcomes}
    else:
        event.detail = {**event.detail, "revocation": outcomes[0]}
    event.save(update_fields=["detail"])
