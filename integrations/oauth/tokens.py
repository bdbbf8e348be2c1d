"""OAuth access tokens for connectors: refreshed ahead of expiry, one refresh at a time.

`TokenProvider(integration)` is what `Context.tokens` holds for OAuth types. Connectors call
`access_token()` (or pass `auth=ctx.tokens.auth` to requests, or give the provider to spotipy as
its auth manager). The provider:

- refreshes when the token expires within OAUTH_REFRESH_AHEAD_SECONDS (default 300), holding a
  short-lived refresh lease on the Credential row: a conditional UPDATE, committed at once, that
  only one worker wins (on PostgreSQL and SQLite alike). The call to the token endpoint runs
  outside any transaction, so no database lock is held while the provider answers (on SQLite a
  write transaction would stop every other writer of the hub for up to OUTBOUND_TIMEOUT), and the
  result is stored only by the lease holder. Workers that lose the race wait for the lease to be
  released and re-read the row: they find the fresh token and do not refresh again (with rotating
  refresh tokens, a second refresh would be refused as invalid_grant). A lease outlives the
  slowest token request, so it only lapses when its holder died;
- saves a rotated refresh token, and keeps the old one when the response carries none (Google);
- on invalid_grant (the grant was revoked, expired or rotated out): marks the integration
  needs_reauth with what to do, and raises AuthError (syncs pause);
- on invalid_client / unauthorized_client / HTTP 401 from the token endpoint (the provider refuses
  the hub's own OAuth client: a rotated client secret, a disabled app): raises ClientRejected, a
  config error naming what the operator must fix, logged once; no connection is sent to
  re-authenticate and the failed syncs do not count against it (no failure streak, no backoff),
  so every connection of the type works again at its next sync once the client is fixed;
- on a network error, 5xx or 429 from the token endpoint: raises TransientError / RateLimited and
  changes nothing; if the current token is still valid it is used meanwhile.
- `auth` (a requests auth) retries a request once with a refreshed token when the API answers
  401 to a token we believed valid (revoked early, clock skew).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
import time
from typing import NoReturn

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from connectors.errors import AuthError, ConfigError, ConnectorError, RateLimited, TransientError, classify
from connectors.http import OutboundPolicy, guarded_session, retry_after_seconds
from integrations import lifecycle
from integrations.models import Actor, AuditAction, AuditEvent, Credential
from integrations.oauth import clients
from integrations.sync.ports import RequestStats

log = logging.getLogger(__name__)

# The user's grant is gone (revoked, expired, rotated out): only they can fix it by signing in again.
# Some providers word a revocation as access_denied.
REJECTED_GRANT_ERRORS = {"invalid_grant", "access_denied"}
# The provider refuses the hub's own client (RFC 6749 5.2): an operator's fix, the same for every user.
REJECTED_CLIENT_ERRORS = {"invalid_client", "unauthorized_client"}
LEASE_POLL_SECONDS = 0.1
CLIENT_REFUSAL_LOG_EVERY = 3600  # seconds between two error logs of the same refused client


def refresh_ahead_seconds() -> int:
    return int(settings.OAUTH_REFRESH_AHEAD_SECONDS)


def lease_seconds() -> float:
    # Longer than the slowest token request (connect + read timeout, and a margin), so a lease
    # only lapses when the worker holding it died.
    return 2 * float(settings.OUTBOUND_TIMEOUT) + 10


class GrantRejected(AuthError):
    """The token endpoint refused our grant (invalid_grant): the user must sign in again."""

    def __init__(self, message: str, *, error: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.error = error


class ClientRejected(ConfigError):
    """The token endpoint refused the hub's OAuth client (invalid_client, unauthorized_client,
    HTTP 401). Not the user's doing: no connection is sent to re-authenticate, and a sync that
    meets it fails without counting against the connection."""

    operator_problem = True

    def __init__(self, message: str, *, error: str = "", detail: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.error = error
        self.detail = detail or error  # the provider's code and description

    def for_type(self, itype, client: clients.OAuthClient | None, *, connected: bool = True) -> ClientRejected:
        """The same refusal, saying which OAuth app to fix and where."""
        return ClientRejected(
            f"{itype.display_name} refused the hub's OAuth client ({self.detail}), so no token could be issued.",
            error=self.error,
            detail=self.detail,
            remediation=clients.client_fix(itype, client, connected=connected),
        )


# -- talking to the token endpoint (requests-oauthlib through the guarded session) -------------


def _refusal(error: str, status: int, description: str = ""):
    """The hub's error for a token endpoint that refused: the error code decides, then the status
    (RFC 6749 5.2: 401 is for client authentication)."""
    label = error or f"HTTP {status}"
    detail = f"{label}: {description}" if description else label
    if error in REJECTED_GRANT_ERRORS:
        return GrantRejected(f"The provider refused to issue a token ({detail}).", error=error)
    if error in REJECTED_CLIENT_ERRORS or status == 401:
        return ClientRejected(f"The provider refused the hub's OAuth client ({detail}).", error=label, detail=detail)
    return None


def _check_token_response(response):
    """requests-oauthlib compliance hook: classify a token endpoint answer before oauthlib parses
    it (oauthlib would turn a 503 page into a confusing 'missing token' error)."""
    status = response.status_code
    if status >= 500:
        raise TransientError(f"The provider's token endpoint had an error (HTTP {status}).")
    if status == 429:
        raise RateLimited(
            "The provider's token endpoint is rate limiting us (HTTP 429).", retry_after=retry_after_seconds(response)
        )
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        description = str(body.get("error_description") or "")[:200] if isinstance(body, dict) else ""
        refusal = _refusal(error, status, description)
        if refusal is not None:
            raise refusal
        raise ConfigError(
            f"The provider refused the token request ({error or f'HTTP {status}'}).",
            remediation="Check the OAuth app's client id, secret and URLs in the admin.",
        )
    return response


def oauth_session(client: clients.OAuthClient, *, integration=None, **kwargs) -> OAuth2Session:
    """An OAuth2Session whose every request takes the guarded outbound path."""
    session = OAuth2Session(client.client_id, **kwargs)
    # Token requests are counted in the integration's request metrics, never rate-limited or retried.
    policy = OutboundPolicy(
        integration=integration, windows=[], max_retries=0, metrics_sink=RequestStats() if integration else None
    )
    guarded_session(policy, session=session)
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _check_token_response)
    return session


def call_token_endpoint(func, *args, **kwargs) -> dict:
    """Run fetch_token / refresh_token, turning every failure into one of the hub's errors."""
    try:
        return dict(func(*args, **kwargs))
    except ConnectorError:
        raise
    except OAuth2Error as exc:
        error = getattr(exc, "error", "") or ""
        refusal = _refusal(error, int(getattr(exc, "status_code", 0) or 0))
        if refusal is not None:
            raise refusal from None
        raise ConfigError(
            f"The provider's token answer could not be used ({error or type(exc).__name__}).",
            remediation="Check the OAuth app's token URL in the admin.",
        ) from None
    except Warning as exc:  # oauthlib's "scope has changed": the token is in the warning
        token = getattr(exc, "token", None)
        if token is None:
            raise ConfigError("The provider's token answer could not be used.") from None
        return dict(token)
    except Exception as exc:  # noqa: BLE001 - network failures become transient errors
        raise classify(exc) from None


MAX_TOKEN_LIFETIME = datetime.timedelta(days=3650)


def expiry_from(token: dict):
    """When the access token expires, from expires_in (seconds). None when the answer does not say
    (absent, 0, unreadable): the token is used until the provider refuses it, then refreshed. A
    lifetime past ten years (1e400, a 64-bit "forever") is held at ten years instead of overflowing."""
    expires_in = token.get("expires_in")
    try:
        seconds = float(expires_in) if expires_in not in (None, "") and not isinstance(expires_in, bool) else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or not seconds > 0:  # NaN, 0 and negative say nothing usable
        return None
    lifetime = min(MAX_TOKEN_LIFETIME.total_seconds(), seconds)
    return timezone.now() + datetime.timedelta(seconds=int(lifetime))


def scopes_from(token: dict) -> list[str] | None:
    scope = token.get("scope")
    if scope is None:
        return None
    if isinstance(scope, str):
        return [s for s in scope.replace(",", " ").split() if s]
    return [str(s) for s in scope]


def apply_token(credential, token: dict) -> bool:
    """Write a token response onto a Credential (not saved). Returns True when the refresh token
    was rotated (a new one issued)."""
    credential.access_token = token["access_token"]
    credential.token_type = str(token.get("token_type") or "Bearer")[:32]
    credential.expires_at = expiry_from(token)
    new_refresh = token.get("refresh_token")
    rotated = bool(new_refresh) and new_refresh != credential.refresh_token
    if new_refresh:
        credential.refresh_token = new_refresh
    scopes = scopes_from(token)
    if scopes is not None:
        credential.granted_scopes = scopes
    return rotated


# -- the provider connectors use ---------------------------------------------------------------


class BearerAuth(requests.auth.AuthBase):
    """Adds the bearer token; on a 401 refreshes once and resends the request."""

    def __init__(self, provider):
        self.provider = provider

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.provider.access_token()}"
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response, **kwargs):
        if response.status_code != 401 or getattr(response.request, "_oauth_retried", False):
            return response
        stale = response.request.headers.get("Authorization", "")[len("Bearer ") :]
        fresh = self.provider.refresh(stale=stale)
        if not fresh or fresh == stale:
            return response
        response.content  # noqa: B018 - drain the 401 body so its connection can be reused
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {fresh}"
        retry._oauth_retried = True
        new = response.connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        return new


class StaticTokens:
    """An access token not (yet) saved: used to identify the account right after the callback."""

    def __init__(self, access_token: str, client: clients.OAuthClient):
        self._token = access_token
        self.client = client
        self.auth = BearerAuth(self)

    @property
    def api_base_url(self) -> str:
        return self.client.api_base_url

    def access_token(self) -> str:
        return self._token

    def refresh(self, *, stale: str | None = None) -> str:
        return self._token  # nothing to refresh with: the 401 stands

    def get_access_token(self, as_dict=False):  # spotipy's auth manager protocol
        return self.access_token()


class TokenProvider:
    def __init__(self, integration, *, credential=None, client: clients.OAuthClient | None = None):
        self.integration = integration
        self._client = client
        self._token = credential.access_token if credential is not None else None
        self._expires_at = credential.expires_at if credential is not None else None
        self.auth = BearerAuth(self)
        self.refreshed = 0  # refreshes this provider performed (for logs and tests)

    @property
    def client(self) -> clients.OAuthClient:
        if self._client is None:
            self._client = clients.require(self.integration.type)
        return self._client

    @property
    def api_base_url(self) -> str:
        return self.client.api_base_url

    @staticmethod
    def _due(expires_at, ahead: float) -> bool:
        return expires_at is not None and expires_at <= timezone.now() + datetime.timedelta(seconds=ahead)

    def access_token(self) -> str:
        if self._token and not self._due(self._expires_at, refresh_ahead_seconds()):
            return self._token
        return self._refresh(ahead=refresh_ahead_seconds())

    def refresh(self, *, stale: str | None = None) -> str:
        """Refresh now (the API refused `stale`), unless another worker already replaced it."""
        return self._refresh(ahead=refresh_ahead_seconds(), force=True, stale=stale)

    def refresh_if_expiring(self, within_seconds: float) -> bool:
        """For the scheduled task: refresh when the token lapses within the window. True if done.
        A failed refresh raises even while the current token is still valid: the task reports it."""
        before = self.refreshed
        self._refresh(ahead=within_seconds, keep_valid_token=False)
        return self.refreshed > before

    def get_access_token(self, as_dict=False):  # spotipy's auth manager protocol
        return self.access_token()

    # -- the refresh, under a lease ---------------------------------------------------------------
    def _refresh(self, *, ahead: float, force: bool = False, stale: str | None = None, keep_valid_token=True) -> str:
        """The current token if fresh enough, else a refreshed one. `keep_valid_token`: when the
        refresh fails for now but the current token has not expired yet, use it meanwhile."""
        deadline = time.monotonic() + lease_seconds() + 5
        while True:
            credential = self._read()
            if self._fresh_enough(credential, ahead=ahead, force=force, stale=stale):
                return self._adopt(credential)
            if not credential.refresh_token:
                if not force and self._still_valid(credential):
                    return self._adopt(credential)  # nothing to refresh with, but still valid
                self._refused(AuthError("The access token expired and the provider gave no refresh token."))
            lease = self._take_lease(credential)
            if lease:
                break
            # Another worker is refreshing: its result is what we want. Wait for it, then re-read.
            if time.monotonic() >= deadline:
                if keep_valid_token and not force and self._still_valid(credential):
                    return self._adopt(credential)
                raise TransientError("Another worker has been refreshing this connection's token for too long.")
            time.sleep(LEASE_POLL_SECONDS)
        try:
            # The worker that held the lease before us may have stored a fresh token just now.
            credential = self._read()
            if self._fresh_enough(credential, ahead=ahead, force=force, stale=stale):
                return self._adopt(credential)
            return self._exchange_and_store(credential, lease, force=force, keep_valid_token=keep_valid_token)
        finally:
            self._release(lease)

    def _exchange_and_store(self, credential, lease: str, *, force: bool, keep_valid_token: bool) -> str:
        used = credential.refresh_token
        try:
            token = self._exchange(used)
        except GrantRejected as exc:
            current = self._read()
            if current.refresh_token != used:
                return self._adopt(current)  # a worker whose lease had lapsed stored a rotated token
            self._refused(exc)
        except ClientRejected as exc:
            self._report_client_refused(exc)
            if keep_valid_token and not force and self._still_valid(credential):
                return self._adopt(credential)  # the operator has been told; this token still works
            raise
        except (TransientError, RateLimited):
            if keep_valid_token and not force and self._still_valid(credential):
                log.warning(
                    "Token refresh of integration %s failed for now; the current token is still valid",
                    self.integration.pk,
                )
                return self._adopt(credential)
            raise
        return self._save(credential, token, lease=lease, used=used)

    def _read(self):
        credential = Credential.objects.filter(integration_id=self.integration.pk).first()
        if credential is None or not credential.access_token:
            self._refused(AuthError("This connection has no OAuth tokens any more."))
        return credential

    @staticmethod
    def _still_valid(credential) -> bool:
        return bool(credential.expires_at and credential.expires_at > timezone.now())

    def _fresh_enough(self, credential, *, ahead, force, stale) -> bool:
        if force:
            # Someone else refreshed since the API refused our token: theirs is the new one.
            return bool(stale) and credential.access_token != stale
        return not self._due(credential.expires_at, ahead)

    def _adopt(self, credential) -> str:
        self._token, self._expires_at = credential.access_token, credential.expires_at
        return self._token

    @staticmethod
    def _take_lease(credential) -> str:
        """The lease's id if this worker won it (a committed conditional UPDATE), else ""."""
        now = timezone.now()
        lease = secrets.token_hex(16)
        free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now)
        won = (
            Credential.objects.filter(pk=credential.pk)
            .filter(free)
            .update(refresh_lease_until=now + datetime.timedelta(seconds=lease_seconds()), refresh_lease_owner=lease)
        )
        return lease if won else ""

    @staticmethod
    def _release(lease: str):
        if lease:
            Credential.objects.filter(refresh_lease_owner=lease).update(
                refresh_lease_until=None, refresh_lease_owner=""
            )

    def _exchange(self, refresh_token: str) -> dict:
        client = self.client
        clients.check_endpoint(client.token_url)
        session = oauth_session(client, integration=self.integration)
        try:
            return call_token_endpoint(
                session.refresh_token,
                client.token_url,
                refresh_token=refresh_token,
                auth=clients.client_auth(client),
                timeout=settings.OUTBOUND_TIMEOUT,
            )
        except ClientRejected as exc:
            raise exc.for_type(self.integration.type, client) from None
        finally:
            session.close()

    def _save(self, credential, token: dict, *, lease: str, used: str) -> str:
        rotated = apply_token(credential, {**token, "refresh_token": token.get("refresh_token") or used})
        with transaction.atomic():  # short: no network inside
            current = Credential.objects.select_for_update().get(pk=credential.pk)
            ours = current.refresh_lease_owner == lease
            if not ours and current.refresh_token != used:
                # Our lease lapsed and another worker has stored a newer token since: it wins.
                log.warning("Token refresh of integration %s lost its lease; keeping the newer token", current.pk)
                return self._adopt(current)
            fields = dict(
                access_token=credential.access_token,
                refresh_token=credential.refresh_token,
                token_type=credential.token_type,
                expires_at=credential.expires_at,
                granted_scopes=credential.granted_scopes,
                updated_at=timezone.now(),
            )
            if ours:
                fields.update(refresh_lease_until=None, refresh_lease_owner="")
            Credential.objects.filter(pk=credential.pk).update(**fields)
            AuditEvent.record(
                AuditAction.TOKEN_REFRESH,
                integration=self.integration,
                actor=Actor.TASK,
                rotated_refresh_token=rotated,
                expires_at=credential.expires_at.isoformat() if credential.expires_at else None,
            )
        self.refreshed += 1
        log.info(
            "Refreshed the OAuth token of integration %s (refresh token rotated: %s)", self.integration.pk, rotated
        )
        return self._adopt(credential)

    def _remediation(self) -> str:
        name = self.integration.type.display_name
        return f"Re-authenticate {name} from its page: your settings, synced data and sync position are kept."

    def _refused(self, failure: AuthError) -> NoReturn:
        """The grant is gone: mark the integration needs_reauth and raise."""
        self.integration.refresh_from_db(fields=["status", "status_detail"])
        detail = f"{self.integration.type.display_name} no longer accepts this connection: {failure.message} "
        lifecycle.needs_reauth(self.integration, detail + self._remediation())
        raise AuthError(failure.message, remediation=self._remediation()) from failure

    def _report_client_refused(self, exc: ClientRejected):
        """Every connection of the type meets the same refusal: tell the operator once, not once per
        connection and sync (the cache is shared by all processes)."""
        client = self.client
        digest = hashlib.sha256(f"{client.slug}|{client.client_id}".encode()).hexdigest()[:24]
        try:
            first = cache.add(f"oauth-client-refused:{digest}", 1, timeout=CLIENT_REFUSAL_LOG_EVERY)
        except Exception:  # noqa: BLE001 - a cache outage must not hide the problem: log it
            first = True
        if first:
            log.error("OAuth client of %s refused by the provider: %s %s", client.slug, exc.message, exc.remediation)
        else:
            log.info("Token refresh of integration %s: the OAuth client is still refused", self.integration.pk)
