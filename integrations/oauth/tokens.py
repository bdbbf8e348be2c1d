"""OAuth access tokens for connectors: refreshed ahead of expiry, one refresh at a time.

`TokenProvider(integration)` is what `Context.tokens` holds for OAuth types. Connectors call
`access_token()` (or pass `auth=ctx.tokens.auth` to requests, or give the provider to spotipy as
its auth manager). The provider:

- refreshes when the token expires within OAUTH_REFRESH_AHEAD_SECONDS (default 300), under a
  per-integration lock: a row lock on the Credential (SELECT ... FOR UPDATE on PostgreSQL; on
  SQLite the write transaction itself, taken at BEGIN IMMEDIATE) and re-checks the expiry once it
  holds the lock, so when two workers race, the second one finds the fresh token and does not
  refresh again (with rotating refresh tokens, a second refresh would be refused as invalid_grant);
- saves a rotated refresh token, and keeps the old one when the response carries none (Google);
- on invalid_grant (revoked, expired or rotated-out grant) or a refused client: marks the
  integration needs_reauth with what to do, and raises AuthError (syncs pause);
- on a network error, 5xx or 429 from the token endpoint: raises TransientError / RateLimited and
  changes nothing; if the current token is still valid it is used meanwhile.
- `auth` (a requests auth) retries a request once with a refreshed token when the API answers
  401 to a token we believed valid (revoked early, clock skew).
"""

from __future__ import annotations

import datetime
import logging

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from connectors.errors import AuthError, ConfigError, ConnectorError, RateLimited, TransientError, classify
from connectors.http import OutboundPolicy, guarded_session, retry_after_seconds
from integrations.oauth import clients

log = logging.getLogger(__name__)

REJECTED_GRANT_ERRORS = {"invalid_grant", "unauthorized_client", "invalid_client", "access_denied"}


def refresh_ahead_seconds() -> int:
    return int(settings.OAUTH_REFRESH_AHEAD_SECONDS)


class GrantRejected(AuthError):
    """The token endpoint refused our grant (invalid_grant, revoked client...)."""

    def __init__(self, message: str, *, error: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.error = error


# -- talking to the token endpoint (requests-oauthlib through the guarded session) -------------


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
        if error in REJECTED_GRANT_ERRORS or status == 401:
            raise GrantRejected(
                f"The provider refused to issue a token ({error or f'HTTP {status}'}"
                f"{': ' + description if description else ''}).",
                error=error or str(status),
            )
        raise ConfigError(
            f"The provider refused the token request ({error or f'HTTP {status}'}).",
            remediation="Check the OAuth app's client id, secret and URLs in the admin.",
        )
    return response


def oauth_session(client: clients.OAuthClient, *, integration=None, **kwargs) -> OAuth2Session:
    """An OAuth2Session whose every request takes the guarded outbound path."""
    session = OAuth2Session(client.client_id, **kwargs)
    policy = OutboundPolicy(integration=integration, windows=[], max_retries=0)
    guarded_session(policy, session=session)
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _check_token_response)
    return session


def client_auth(client: clients.OAuthClient):
    # HTTP Basic (client_secret_basic): every authorization server must support it (RFC 6749 2.3.1)
    # and Spotify requires it; Google, Microsoft and django-oauth-toolkit accept it.
    return requests.auth.HTTPBasicAuth(client.client_id, client.client_secret)


def call_token_endpoint(func, *args, **kwargs) -> dict:
    """Run fetch_token / refresh_token, turning every failure into one of the hub's errors."""
    try:
        return dict(func(*args, **kwargs))
    except ConnectorError:
        raise
    except OAuth2Error as exc:
        error = getattr(exc, "error", "") or ""
        if error in REJECTED_GRANT_ERRORS:
            raise GrantRejected(f"The provider refused to issue a token ({error}).", error=error) from None
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


def expiry_from(token: dict):
    expires_in = token.get("expires_in")
    try:
        seconds = int(float(expires_in)) if expires_in not in (None, "") else None
    except (TypeError, ValueError):
        seconds = None
    return timezone.now() + datetime.timedelta(seconds=seconds) if seconds else None


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
        return self._locked_refresh(ahead=refresh_ahead_seconds())

    def refresh(self, *, stale: str | None = None) -> str:
        """Refresh now (the API refused `stale`), unless another worker already replaced it."""
        return self._locked_refresh(ahead=refresh_ahead_seconds(), force=True, stale=stale)

    def refresh_if_expiring(self, within_seconds: float) -> bool:
        """For the scheduled task: refresh when the token lapses within the window. True if done."""
        before = self.refreshed
        self._locked_refresh(ahead=within_seconds)
        return self.refreshed > before

    def get_access_token(self, as_dict=False):  # spotipy's auth manager protocol
        return self.access_token()

    # -- the locked refresh ----------------------------------------------------------------------
    def _locked_refresh(self, *, ahead: float, force: bool = False, stale: str | None = None) -> str:
        from integrations.models import Credential

        failure: AuthError | None = None
        with transaction.atomic():
            credential = Credential.objects.select_for_update().filter(integration_id=self.integration.pk).first()
            if credential is None or not credential.access_token:
                failure = AuthError("This connection has no OAuth tokens any more.")
            elif self._fresh_enough(credential, ahead=ahead, force=force, stale=stale):
                return self._adopt(credential)
            elif not credential.refresh_token:
                if not force and credential.expires_at and credential.expires_at > timezone.now():
                    return self._adopt(credential)  # nothing to refresh with, but still valid
                failure = AuthError("The access token expired and the provider gave no refresh token.")
            else:
                try:
                    token = self._exchange(credential.refresh_token)
                except GrantRejected as exc:
                    failure = exc
                except (TransientError, RateLimited):
                    if not force and credential.expires_at and credential.expires_at > timezone.now():
                        log.warning(
                            "Token refresh of integration %s failed for now; the current token is still valid",
                            self.integration.pk,
                        )
                        return self._adopt(credential)
                    raise
                else:
                    return self._save(credential, token)
        self._mark_needs_reauth(failure)
        raise AuthError(failure.message, remediation=self._remediation()) from failure

    def _fresh_enough(self, credential, *, ahead, force, stale) -> bool:
        if force:
            # Someone else refreshed since the API refused our token: theirs is the new one.
            return bool(stale) and credential.access_token != stale
        return not self._due(credential.expires_at, ahead)

    def _adopt(self, credential) -> str:
        self._token, self._expires_at = credential.access_token, credential.expires_at
        return self._token

    def _exchange(self, refresh_token: str) -> dict:
        client = self.client
        clients.check_endpoint(client.token_url)
        session = oauth_session(client, integration=self.integration)
        try:
            return call_token_endpoint(
                session.refresh_token,
                client.token_url,
                refresh_token=refresh_token,
                auth=client_auth(client),
                timeout=settings.OUTBOUND_TIMEOUT,
            )
        finally:
            session.close()

    def _save(self, credential, token: dict) -> str:
        from integrations.models import Actor, AuditAction, AuditEvent

        old_refresh = credential.refresh_token
        rotated = apply_token(credential, {**token, "refresh_token": token.get("refresh_token") or old_refresh})
        credential.save(
            update_fields=["access_token", "refresh_token", "token_type", "expires_at", "granted_scopes", "updated_at"]
        )
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

    def _mark_needs_reauth(self, failure: AuthError):
        from integrations import lifecycle

        self.integration.refresh_from_db(fields=["status", "status_detail"])
        detail = f"{self.integration.type.display_name} no longer accepts this connection: {failure.message} "
        lifecycle.needs_reauth(self.integration, detail + self._remediation())
