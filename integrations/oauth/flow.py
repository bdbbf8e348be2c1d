"""The authorization code flow with PKCE (RFC 6749 4.1, RFC 7636 S256).

begin()     builds the provider's authorization URL for a type's scopes, with a fresh state and
            code verifier kept in the user's session under that state (one entry per attempt, so
            two tabs do not clobber each other), stamped with its creation time.
complete()  takes the callback: the state must match an attempt of this session (it is removed
            at once: single use) made less than OAUTH_STATE_TTL_SECONDS (600) ago; the code is
            exchanged with the verifier; the account is identified with the new token; then the
            tokens are stored encrypted on a new integration, or on the same integration when
            re-authenticating (settings, data and sync cursor untouched). Re-authenticating as a
            different account than the one connected, or as one the granted permissions do not
            let the hub read, stops and asks first (`confirm_switch`). Switching to another
            account retires the previous account's records (marked removed) and reads the new
            one from the start: one connection never mixes two accounts' data.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from oauthlib.oauth2 import WebApplicationClient
from requests_oauthlib import OAuth2Session

from connectors.base import Context
from connectors.errors import AuthError, ConnectorError
from connectors.http import HttpClient, OutboundPolicy
from integrations import connections, counts, lifecycle, schema
from integrations.fields import seal, unseal
from integrations.models import (
    ACTIVE_JOB_STATUSES,
    AuditAction,
    AuditEvent,
    Credential,
    Integration,
    IntegrationType,
    JobStatus,
    JobTrigger,
    Status,
    SyncedItem,
    SyncJob,
)
from integrations.oauth import clients, scopes, tokens
from integrations.oauth.revoke import revoke_token
from integrations.oauth.tasks import ensure_refresh_schedule
from integrations.sync.jobs import SyncRefused, queue_sync

log = logging.getLogger(__name__)

SESSION_KEY = "oauth_attempts"
PENDING_KEY = "oauth_pending_switch"
MAX_ATTEMPTS = 10
REPAIRABLE = (Status.NEEDS_REAUTH, Status.ERROR, Status.PENDING, Status.DISCONNECTED)


class FlowError(Exception):
    def __init__(self, message: str, *, slug: str = "", integration_id: int | None = None):
        super().__init__(message)
        self.message = message
        self.slug = slug
        self.integration_id = integration_id


@dataclass
class Outcome:
    integration: Integration | None = None
    created: bool = False
    identity: str = ""
    missing: list[dict] = field(default_factory=list)  # [{"scope", "purpose"}] not granted
    needs_confirmation: bool = False  # re-auth as another account: ask first
    previous_identity: str = ""
    replaced: str = ""  # switched away from this account: its records were retired


def state_ttl() -> int:
    return int(settings.OAUTH_STATE_TTL_SECONDS)


def redirect_uri() -> str:
    return settings.OAUTH_REDIRECT_URI or settings.SITE_URL.rstrip("/") + reverse("oauth:callback")


def _attempts(request) -> dict:
    attempts = request.session.get(SESSION_KEY) or {}
    now = time.time()
    return {state: a for state, a in attempts.items() if now - a.get("created", 0) < state_ttl()}


def begin(request, itype: IntegrationType, *, name: str = "", integration: Integration | None = None) -> str:
    """Remember a new attempt in the session and return the provider's authorization URL."""
    client = clients.require(itype)
    state = secrets.token_urlsafe(32)
    uri = redirect_uri()
    # PKCE by the library (RFC 7636): authorization_url draws the verifier and sends its S256
    # challenge; the verifier is kept with the attempt for the token exchange of the callback.
    web_client = WebApplicationClient(client.client_id)
    session = OAuth2Session(client=web_client, redirect_uri=uri, scope=itype.scope_list, pkce="S256")
    extra = {str(k): str(v) for k, v in (itype.oauth_extra_params or {}).items()}
    if integration is not None and "@" in (integration.account_identity or ""):
        extra.setdefault("login_hint", integration.account_identity)
    url, _ = session.authorization_url(client.authorize_url, state=state, **extra)
    verifier = web_client.code_verifier
    attempts = _attempts(request)
    while len(attempts) >= MAX_ATTEMPTS:
        attempts.pop(min(attempts, key=lambda s: attempts[s]["created"]))
    attempts[state] = {
        "slug": itype.slug,
        "verifier": verifier,
        "created": time.time(),
        "redirect_uri": uri,
        "user_id": request.user.pk,
        "name": name,
        "integration_id": integration.pk if integration is not None else None,
    }
    request.session[SESSION_KEY] = attempts
    return url


def _take_attempt(request, state: str) -> dict | None:
    stored = request.session.get(SESSION_KEY) or {}
    attempt = stored.pop(state, None) if state else None
    request.session[SESSION_KEY] = {s: a for s, a in stored.items() if time.time() - a.get("created", 0) < state_ttl()}
    return attempt


def complete(request) -> Outcome:
    params = request.GET
    attempt = _take_attempt(request, params.get("state", ""))
    if attempt is None or attempt.get("user_id") != request.user.pk:
        raise FlowError(
            "This sign-in response does not match a sign-in started here (it was already used, "
            "or it was started in another browser). Start the connection again."
        )
    slug, integration_id = attempt["slug"], attempt.get("integration_id")
    if time.time() - attempt["created"] >= state_ttl():
        raise FlowError("The sign-in took too long and expired. Start again.", slug=slug, integration_id=integration_id)
    itype = IntegrationType.objects.filter(slug=slug).first()
    if itype is None:
        raise FlowError("This type of integration no longer exists.")
    error = params.get("error")
    if error:
        message = (
            f"You did not allow the hub to access {itype.display_name}, so nothing was connected."
            if error == "access_denied"
            else f"{itype.display_name} refused the sign-in ({error[:60]})."
        )
        raise FlowError(message, slug=slug, integration_id=integration_id)
    code = params.get("code")
    if not code:
        raise FlowError("The sign-in response carried no code. Start again.", slug=slug, integration_id=integration_id)

    integration = None
    if integration_id is not None:
        integration = Integration.objects.for_user(request.user).filter(pk=integration_id, type=itype).first()
        if integration is None:
            raise FlowError("That integration no longer exists.", slug=slug)

    try:
        client = clients.require(itype)
        token = exchange_code(itype, client, code, attempt["verifier"], attempt["redirect_uri"])
    except tokens.GrantRejected:
        raise FlowError(
            f"{itype.display_name} refused the sign-in code (it expired or was already used). Start again.",
            slug=slug,
            integration_id=integration_id,
        ) from None
    except ConnectorError as exc:
        raise FlowError(f"{exc.message} {exc.remediation}", slug=slug, integration_id=integration_id) from None

    missing = missing_scopes(itype, token)
    identity = identify(itype, client, token, config=integration.config if integration else None, slug=slug)
    if integration is not None and integration.account_identity and identity != integration.account_identity:
        # Another account, or one the granted permissions do not let us read (""): saving these
        # tokens silently could put someone else's data under this connection. Ask first.
        _stash_pending(request, integration, token, identity, missing)
        return Outcome(
            integration=integration,
            identity=identity,
            missing=missing,
            needs_confirmation=True,
            previous_identity=integration.account_identity,
        )
    saved, created = save_connection(
        request.user, itype, token, identity, integration=integration, name=attempt["name"]
    )
    return Outcome(integration=saved, created=created, identity=identity, missing=missing)


def exchange_code(itype: IntegrationType, client: clients.OAuthClient, code: str, verifier: str, uri: str) -> dict:
    clients.check_endpoint(client.token_url)
    session = tokens.oauth_session(client, redirect_uri=uri)
    try:
        return tokens.call_token_endpoint(
            session.fetch_token,
            client.token_url,
            code=code,
            code_verifier=verifier,
            auth=clients.client_auth(client),
            timeout=settings.OUTBOUND_TIMEOUT,
        )
    except tokens.ClientRejected as exc:
        raise exc.for_type(itype, client, connected=False) from None
    finally:
        session.close()


def missing_scopes(itype: IntegrationType, token: dict) -> list[dict]:
    """The blueprint's scopes the provider did not grant (RFC 6749 3.3: an omitted scope in the
    token response means exactly the requested ones)."""
    return scopes.not_granted(itype, tokens.scopes_from(token), has_refresh_token=bool(token.get("refresh_token")))


def identify(itype: IntegrationType, client, token: dict, *, config=None, slug="") -> str:
    """The provider account behind a new token (the connector's test_connection), or "" when the
    granted scopes do not allow reading it."""
    defaults = schema.clean(itype.source_schema, {}).values if config is None else dict(config)
    http = HttpClient(OutboundPolicy(windows=[], max_retries=1))
    ctx = Context(config=defaults, secrets={}, http=http, tokens=tokens.StaticTokens(token["access_token"], client))
    connector = itype.connector_class()(ctx)
    try:
        return str(connector.test_connection() or "")[:255]
    except AuthError as exc:
        log.info("Could not read the %s account with the granted scopes: %s", itype.slug, exc.message)
        return ""
    except ConnectorError as exc:
        raise FlowError(
            f"Signed in, but {itype.display_name} could not be reached to check the account: {exc.message}",
            slug=slug,
        ) from None
    finally:
        connector.close()
        http.close()


def save_connection(user, itype, token: dict, identity: str, *, integration=None, name: str = "", replacing: str = ""):
    """Store the tokens encrypted; create the integration or repair the same one in place.
    `replacing`: the account the integration was connected as, when the user chose to switch it to
    `identity`: its records are retired in the same transaction (see retire_account)."""
    created = integration is None
    switch, repaired = {}, False
    with transaction.atomic():
        if created:
            try:
                prepared = connections.prepare(user, itype, {"name": name or connections.default_name(user, itype)})
                integration = connections.create(user, prepared, identity)
            except connections.Problem as exc:
                raise FlowError(exc.message, slug=itype.slug) from None
        else:
            integration.refresh_from_db()
            integration.account_identity = identity or integration.account_identity
            repaired = integration.status in REPAIRABLE
            if repaired:
                integration.status, integration.status_detail = Status.CONNECTED, ""
                integration.consecutive_failures, integration.last_error = 0, ""
            integration.save()
        credential, _ = Credential.objects.select_for_update().get_or_create(integration=integration)
        tokens.apply_token(credential, token)
        if tokens.scopes_from(token) is None:
            credential.granted_scopes = itype.scope_list
        credential.save()
        if replacing:
            switch = {"replaced_account": replacing, "records_retired": retire_account(integration, identity)}
        AuditEvent.record(
            AuditAction.CONNECT if created else AuditAction.REAUTH,
            integration=integration,
            identity=identity,
            oauth=True,
            not_granted=[m["scope"] for m in missing_scopes(itype, token)],
            **switch,
        )
    ensure_refresh_schedule()
    if repaired:
        lifecycle.reconnected(integration)
    if created or replacing:
        _queue_first_sync(integration)
    return integration, created


def _queue_first_sync(integration):
    itype = integration.type
    if not (itype.supports_scheduling and itype.is_source and itype.connector_class().can_sync()):
        return
    try:
        queue_sync(integration, trigger=JobTrigger.MANUAL)
    except SyncRefused as exc:
        log.info("No first sync for integration %s: %s", integration.pk, exc)


# -- re-authorizing as another account: ask first ------------------------------------------------


def live_records(integration) -> int:
    return SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True).count()


def retire_account(integration, new_identity: str) -> int:
    """The integration now reads another account: every record synced from the previous one is
    marked removed (kept as a tombstone with its provenance, like anything deleted at the source),
    the sync position is dropped, and any sync still queued or running is cancelled (a running one
    stops at its next checkpoint without writing), so nothing of the old account comes back and the
    next sync reads the new account from the start. Returns how many records were retired."""
    now = timezone.now()
    retired = SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True).update(deleted_at=now)
    counts.adjust(integration.pk, -retired)
    SyncJob.objects.filter(integration=integration, status__in=ACTIVE_JOB_STATUSES).update(
        status=JobStatus.CANCELLED,
        finished_at=now,
        error_message=f"Cancelled: the connection was switched to {new_identity}.",
    )
    Integration.objects.filter(pk=integration.pk).update(sync_cursor=None)
    return retired


def _stash_pending(request, integration, token: dict, identity: str, missing: list[dict]):
    sealed = seal(json.dumps(token))
    request.session[PENDING_KEY] = {
        "integration_id": integration.pk,
        "token": sealed,
        "identity": identity,
        "missing": missing,
        "created": time.time(),
    }


def pending_switch(request) -> dict | None:
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("created", 0) >= state_ttl():
        return None
    return pending


def confirm_switch(request, *, accept: bool) -> Outcome:
    """The user's answer. For another account (a known identity): switch, retiring the previous
    account's records, or cancel. For an account the hub could not read (identity ""): the user
    confirms it is the same account (an ordinary re-authentication), or cancels."""
    pending = request.session.pop(PENDING_KEY, None)
    if not pending or time.time() - pending.get("created", 0) >= state_ttl():
        raise FlowError("Nothing is waiting for confirmation any more. Start the re-authentication again.")
    integration = Integration.objects.for_user(request.user).filter(pk=pending["integration_id"]).first()
    if integration is None:
        raise FlowError("That integration no longer exists.")
    opened = unseal(pending["token"])
    if opened is None:  # the hub's keys changed meanwhile
        raise FlowError("The pending sign-in can no longer be read. Start the re-authentication again.")
    token = json.loads(opened)
    if not accept:
        revoke_token(integration.type, token.get("refresh_token") or token.get("access_token"))
        return Outcome(integration=integration, identity=integration.account_identity)
    identity = pending["identity"]
    previous = integration.account_identity if identity else ""
    saved, _ = save_connection(
        request.user, integration.type, token, identity, integration=integration, replacing=previous
    )
    return Outcome(
        integration=saved,
        identity=saved.account_identity,
        missing=pending.get("missing") or [],
        replaced=previous,
    )
