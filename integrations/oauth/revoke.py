"""Token revocation at the provider (RFC 7009) when an integration is disconnected.

Only providers that offer it (the type's, or the OAuth app's, revoke URL: Google) are called.
Revocation is best effort: a failure never blocks the disconnect, and its outcome is recorded in
the disconnect's audit event. Microsoft and Spotify offer no revocation endpoint; their type
details tell users where to remove the app's access themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError
from connectors.http import HttpClient, OutboundPolicy
from integrations.models import AuthKind, Credential
from integrations.oauth import clients

log = logging.getLogger(__name__)


def revoke_token(itype, token: str | None, *, hint: str = "") -> dict:
    """Revoke one token. Returns {"revoked": bool, "detail": str}; never raises."""
    if not token:
        return {"revoked": False, "detail": "no token was stored"}
    client = clients.resolve(itype)
    if client is None or not client.revoke_url:
        return {"revoked": False, "detail": f"{itype.display_name} offers no token revocation"}
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    try:
        clients.check_endpoint(client.revoke_url)
        with HttpClient(OutboundPolicy(windows=[], max_retries=0, timeout=10)) as http:
            response = http.post(client.revoke_url, data=data, auth=clients.client_auth(client), allow=(400,))
    except ConnectorError as exc:
        log.warning("Revoking a %s token failed: %s", itype.slug, exc.message)
        return {"revoked": False, "detail": f"revocation failed: {exc.message}"[:300]}
    if response.status_code == 400:
        # Google answers 400 invalid_token for a token that is already revoked or expired.
        return {"revoked": True, "detail": "the provider already considered the token invalid"}
    return {"revoked": True, "detail": "revoked at the provider"}


@dataclass(frozen=True)
class Grant:
    """What revoking an integration's grant needs, read before its credentials are deleted."""

    itype: Any
    token: str
    hint: str

    def __repr__(self):  # never the token
        return f"Grant({self.itype.slug}, {self.hint})"


def grant_of(integration) -> Grant | None:
    """The token to revoke (the refresh token, which also ends its access tokens); None for types
    that hold no OAuth grant."""
    if integration.type.auth_kind != AuthKind.OAUTH2:
        return None
    credential = Credential.objects.filter(integration=integration).first()
    if credential is None:
        return Grant(integration.type, "", "")
    if credential.refresh_token:
        return Grant(integration.type, credential.refresh_token, "refresh_token")
    return Grant(integration.type, credential.access_token or "", "access_token")


def revoke_grant(grant: Grant) -> dict:
    return revoke_token(grant.itype, grant.token, hint=grant.hint)


def revoke_at_provider(integration) -> dict:
    """Revoke an integration's grant now: {"revocation": outcome}, or {} when it holds none."""
    grant = grant_of(integration)
    return {} if grant is None else {"revocation": revoke_grant(grant)}
