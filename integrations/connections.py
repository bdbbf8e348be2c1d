"""Connecting and editing an integration: one service for the web views and the JSON API.

    validate against the blueprint's schemas -> test the connection (nothing saved yet) ->
    create or update the Integration (plain settings in config, secrets only in the encrypted
    Credential) -> account identity -> audit event. The post_save signal keeps its Schedule in step.

A failed test changes nothing: on edit, the old credentials stay in place. Errors carry the field
to fix when the connector knows it, and URLs inside messages are reduced to scheme and host
(a private calendar link carries its token in the path).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from connectors.errors import classify
from integrations import lifecycle, schema
from integrations.models import (
    Actor,
    AuditAction,
    AuditEvent,
    AuthKind,
    Integration,
    IntegrationType,
    JobKind,
    Status,
)
from integrations.secrets import secrets_for, store_secrets
from integrations.sync.context import context_for_test
from integrations.templatetags.hub import mask_urls_in

log = logging.getLogger(__name__)

MAX_INTERVAL = 7 * 24 * 60
NAME_FIELD, INTERVAL_FIELD = "name", "sync_interval_minutes"


class Problem(Exception):
    """Why a connect or an edit did not happen. `errors` maps form fields to messages."""

    def __init__(self, message: str, *, field: str | None = None, remediation: str = "", errors=None, kind=""):
        super().__init__(message)
        self.message = message
        self.field = field
        self.remediation = remediation
        self.errors = dict(errors or ({field: message} if field else {}))
        self.kind = kind  # "validation", "not_connectable", or the connector's error class

    def __str__(self):
        return self.message


@dataclass
class Prepared:
    itype: IntegrationType
    name: str
    interval: int
    config: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)


@dataclass
class Saved:
    integration: Integration
    tested: bool = False
    identity: str = ""
    changed: list[str] = field(default_factory=list)  # field names, never values
    reconnected: bool = False  # it needed re-auth, was disconnected or failing, and works again
    test_result: str = ""  # what the connection test said, shown once (identity plus its findings)
    sync_job: object = None  # the sync this connect or edit started, if any


# Connectors answer test_connection with the identity followed by what the test found:
# "ITC (1 event)", "hooks.example.com (signed; address checked, no request sent)",
# "Zurich: Sunny, 21 °C". Only the identity part describes the account for good.
_FINDINGS = re.compile(r"^(?P<identity>.+?)(?:\s+\((?P<paren>[^()]*)\)|:\s+(?P<colon>.+))$", re.DOTALL)


def split_identity(tested: str) -> tuple[str, str]:
    """(account identity, test findings) from a connector's test_connection answer."""
    text = (tested or "").strip()
    match = _FINDINGS.match(text)
    if not match:
        return text, ""
    return match["identity"].strip(), (match["paren"] or match["colon"] or "").strip()


def connectable_problem(itype: IntegrationType) -> Problem | None:
    """Why this type cannot be connected with a form here, or None."""
    if itype.service_url and not itype.is_available:
        return Problem(
            f"{itype.display_name} is a service the hub offers: {itype.display_name} calls the hub, "
            "so there is nothing to connect here.",
            remediation=f"Set it up from {itype.service_url}, with the values to paste there.",
            kind="not_connectable",
        )
    if not itype.is_available and itype.unavailable_reason.strip():
        alternatives = "; ".join(f"{a['label']}: {a['url']}" for a in itype.alternatives)
        return Problem(
            f"{itype.display_name} cannot be connected: {itype.unavailable_reason.strip()}",
            remediation=f"Instead: {alternatives}" if alternatives else "",
            kind="not_connectable",
        )
    if not itype.is_available or not itype.handler:
        return Problem(f"{itype.display_name} is coming soon: it cannot be connected yet.", kind="not_connectable")
    if itype.auth_kind == AuthKind.OAUTH2:
        return Problem(
            f"{itype.display_name} connects through its own sign-in page (OAuth).",
            remediation="Open the consent page from the gallery to connect it.",
            kind="not_connectable",
        )
    if itype.auth_kind == AuthKind.ARCHIVE:
        return Problem(
            f"{itype.display_name} is imported from an archive file: upload it on its connect page.",
            remediation="Over the API: POST /api/v1/uploads, send the chunks, then POST /api/v1/imports.",
            kind="not_connectable",
        )
    return None


def secret_names(itype: IntegrationType) -> set[str]:
    return {s["name"] for s in itype.settings_schema if s["type"] in schema.SECRET_TYPES}


def stored_values(integration: Integration) -> dict:
    """Current settings and secrets, for validating an edit (blank secret = keep). Never rendered."""
    return {**(integration.config or {}), **secrets_for(integration, actor=Actor.USER)}


def default_name(user, itype: IntegrationType) -> str:
    taken = {n.lower() for n in Integration.objects.for_user(user).filter(type=itype).values_list("name", flat=True)}
    name, number = itype.display_name, 2
    while name.lower() in taken:
        name, number = f"{itype.display_name} {number}", number + 1
    return name


def _name_error(user, itype, name: str, integration: Integration | None) -> str | None:
    if not name:
        return "Give this connection a name, to tell it apart from others."
    if len(name) > 100:
        return "The name is too long (100 characters at most)."
    clash = (
        Integration.objects.for_user(user).filter(type=itype).annotate(lname=Lower("name")).filter(lname=name.lower())
    )
    if integration is not None:
        clash = clash.exclude(pk=integration.pk)
    if clash.exists():
        return f"You already have a {itype.display_name} called “{name}”. Choose another name."
    return None


def _interval(itype, raw, current: int | None) -> tuple[int, str | None]:
    fallback = current or itype.sync_interval_default
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return fallback, None
    try:
        value = int(str(raw).strip())
    except ValueError:
        return fallback, "The sync interval must be a whole number of minutes."
    if not 1 <= value <= MAX_INTERVAL:
        return fallback, f"The sync interval must be between 1 and {MAX_INTERVAL} minutes (a week)."
    return value, None


def prepare(user, itype: IntegrationType, data: dict, *, integration: Integration | None = None) -> Prepared:
    """Validate raw values (form or JSON) against the blueprint. Raises Problem with field errors.

    On edit, a field absent from `data` keeps its value, and a blank secret keeps the stored one.
    """
    data = data if isinstance(data, dict) else {}
    errors: dict[str, str] = {}
    if integration is not None and NAME_FIELD not in data:
        name = integration.name
    else:
        name = str(data.get(NAME_FIELD) or "").strip()
        if message := _name_error(user, itype, name, integration):
            errors[NAME_FIELD] = message
    interval, message = _interval(
        itype, data.get(INTERVAL_FIELD), integration.sync_interval_minutes if integration else None
    )
    if message:
        errors[INTERVAL_FIELD] = message
    keep = stored_values(integration) if integration is not None else None
    cleaned = schema.clean(itype.settings_schema, data, keep=keep)
    errors.update(cleaned.errors)
    if errors:
        first = next(iter(errors))
        raise Problem(
            "Some settings need fixing." if len(errors) > 1 else errors[first],
            field=first,
            errors=errors,
            kind="validation",
        )
    config, secrets = schema.split_secrets(itype.settings_schema, cleaned.values)
    return Prepared(itype=itype, name=name, interval=interval, config=config, secrets=secrets)


def try_connection(prepared: Prepared, *, integration: Integration | None = None) -> str:
    """Run the connector's test_connection with the values as they would be saved. Returns the
    account identity, or raises Problem with the connector's message, remediation and field."""
    itype = prepared.itype
    ctx = context_for_test(itype, prepared.config, prepared.secrets, integration=integration)
    connector = None
    try:
        connector = itype.connector_class()(ctx)
        identity = connector.test_connection()
    except Exception as exc:  # noqa: BLE001 - every failure is classified and shown to the user
        error = classify(exc)
        known = {s["name"] for s in itype.settings_schema}
        log.info("Connection test for a %s failed (%s)", itype.slug, error.error_class)
        raise Problem(
            mask_urls_in(error.message),
            field=error.field if error.field in known else None,
            remediation=mask_urls_in(error.remediation),
            kind=error.error_class,
        ) from None
    finally:
        if connector is not None:
            connector.close()
        ctx.http.close()
    return mask_urls_in(str(identity or ""))[:255]


def check(user, itype: IntegrationType, data: dict, *, integration: Integration | None = None) -> str:
    """The "Test connection" button: validate and test, save nothing."""
    if integration is None and (problem := connectable_problem(itype)):
        raise problem
    prepared = prepare(user, itype, data, integration=integration)
    return try_connection(prepared, integration=integration)


def connect(user, itype: IntegrationType, data: dict) -> Saved:
    if problem := connectable_problem(itype):
        raise problem
    prepared = prepare(user, itype, data)
    tested = try_connection(prepared)
    identity, _findings = split_identity(tested)
    with transaction.atomic():
        integration = create(user, prepared, identity)
        AuditEvent.record(
            AuditAction.CONNECT, integration=integration, identity=identity, settings=sorted(prepared.config)
        )
    job = start_sync(integration, kind=None)  # the first sync starts now, not at the next schedule tick
    return Saved(integration=integration, tested=True, identity=identity, test_result=tested, sync_job=job)


def start_sync(integration: Integration, *, kind: str | None):
    """Queue a sync of a source that can sync now (None when it cannot, e.g. an output): the
    first one after connecting, or a full one after a change of what is synced."""
    from integrations.models import JobTrigger
    from integrations.sync.jobs import SyncRefused, queue_sync

    if not integration.type.can_sync:
        return None
    try:
        return queue_sync(integration, kind=kind, trigger=JobTrigger.MANUAL)
    except SyncRefused as exc:
        log.info("No sync queued for integration %s: %s", integration.pk, exc)
        return None


def create(user, prepared: Prepared, identity: str) -> Integration:
    """The one way a new integration comes into being, from the connect form, the API or the OAuth
    callback: connected as `identity`, with the prepared settings and secrets (OAuth tokens are the
    caller's to add). A double submit that raced us to the same name is a validation Problem."""
    itype = prepared.itype
    try:
        with transaction.atomic():
            integration = Integration.objects.create(
                user=user,
                type=itype,
                name=prepared.name,
                config=prepared.config,
                status=Status.CONNECTED,
                account_identity=identity,
                sync_interval_minutes=prepared.interval,
            )
            store_secrets(integration, prepared.secrets)
    except IntegrityError:
        raise Problem(
            f"You already have a {itype.display_name} called “{prepared.name}”.", field=NAME_FIELD, kind="validation"
        ) from None
    return integration


# Statuses that a successful test with the new settings clears.
_REPAIRABLE = (Status.NEEDS_REAUTH, Status.ERROR, Status.DISCONNECTED, Status.PENDING)


def update(integration: Integration, data: dict) -> Saved:
    """Edit: rename, replace credentials, change host or URL, per-integration settings.

    Anything the connector sees (settings or secrets) is tested before it is saved; a failing test
    raises Problem and leaves the integration exactly as it was. A rename alone is not tested.
    """
    itype = integration.type
    prepared = prepare(integration.user, itype, data, integration=integration)
    current_secrets = secrets_for(integration, actor=Actor.USER)
    # A setting never saved counts as its default: filling it in with that default is no change.
    defaults = {s["name"]: s["default"] for s in itype.settings_schema if "default" in s}
    old_config = {**defaults, **(integration.config or {})}
    changed_config = sorted(
        k for k in set(old_config) | set(prepared.config) if old_config.get(k) != prepared.config.get(k)
    )
    changed_secrets = sorted(
        k for k in set(current_secrets) | set(prepared.secrets) if current_secrets.get(k) != prepared.secrets.get(k)
    )
    # Re-typing the same password of an integration that needs re-auth is a re-authentication too.
    retyped = any(str(data.get(name) or "").strip() for name in secret_names(itype))
    retest = integration.status == Status.DISCONNECTED or (retyped and integration.status in _REPAIRABLE)
    must_test = bool(changed_config or changed_secrets or retest) and not connectable_problem(itype)
    tested = try_connection(prepared, integration=integration) if must_test else ""
    identity = split_identity(tested)[0] if must_test else integration.account_identity

    changed = [*changed_config, *changed_secrets]
    if prepared.name != integration.name:
        changed.append(NAME_FIELD)
    if prepared.interval != integration.sync_interval_minutes:
        changed.append(INTERVAL_FIELD)
    with transaction.atomic():
        integration.name = prepared.name
        integration.config = prepared.config
        integration.sync_interval_minutes = prepared.interval
        integration.account_identity = identity
        was = integration.status
        if must_test and was in _REPAIRABLE:
            integration.status, integration.status_detail = Status.CONNECTED, ""
            integration.consecutive_failures = 0
            integration.last_error = ""
        elif must_test and was == Status.PAUSED and integration.status_before_pause in _REPAIRABLE:
            # Credentials repaired while paused: resuming must not bring the old re-auth notice back.
            integration.status_before_pause, integration.status_detail_before_pause = Status.CONNECTED, ""
        try:
            integration.save()
        except IntegrityError:
            raise Problem(
                f"You already have a {itype.display_name} called “{prepared.name}”.",
                field=NAME_FIELD,
                kind="validation",
            ) from None
        if changed_secrets or was == Status.DISCONNECTED:
            store_secrets(integration, prepared.secrets)
        if changed_secrets or (must_test and was in (Status.NEEDS_REAUTH, Status.DISCONNECTED)):
            AuditEvent.record(AuditAction.REAUTH, integration=integration, replaced=changed_secrets)
        if changed:
            AuditEvent.record(AuditAction.EDIT, integration=integration, fields=sorted(set(changed)))
    if must_test and was in _REPAIRABLE:
        lifecycle.reconnected(integration)
    job = None
    if changed_config or changed_secrets or (must_test and was in _REPAIRABLE):
        # What is synced changed (a window, a folder, an address, another account): the cursor
        # describes the old selection and would answer "nothing new", so read everything again.
        job = start_sync(integration, kind=JobKind.FULL)
    return Saved(
        integration=integration,
        tested=must_test,
        identity=identity,
        changed=sorted(set(changed)),
        reconnected=must_test and was in _REPAIRABLE,
        test_result=tested,
        sync_job=job,
    )


def type_by_ref(ref: str) -> IntegrationType | None:
    """An integration type by slug or primary key (the API accepts both)."""
    queryset = IntegrationType.objects.all()
    if str(ref).isdigit():
        return queryset.filter(pk=int(ref)).first()
    return queryset.filter(slug=ref).first()
