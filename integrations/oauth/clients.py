"""Which OAuth client (id, secret, endpoints) the hub uses for an integration type.

Client id and secret come from the environment first, then from the admin-editable OAuthApp:

    OAUTH_<SLUG>_CLIENT_ID / OAUTH_<SLUG>_CLIENT_SECRET   (slug upper-cased, "-" -> "_",
                                                            e.g. OAUTH_GOOGLE_CALENDAR_CLIENT_ID)

Endpoints are the blueprint's (authorize, token, revoke URLs), each replaceable by the OAuthApp's
override (a Microsoft tenant, a sovereign cloud, the test suite's local authorization server), and
the OAuthApp's api_base_url replaces the provider API base the connector would use. A type with
neither environment variables nor an enabled OAuthApp is "not configured": the gallery and the
consent page say so instead of sending the user to a broken sign-in.

Plain http:// endpoints are refused unless their host is in SSRF_ALLOWED_HOSTS (the test suite's
local peers); requests-oauthlib additionally needs OAUTHLIB_INSECURE_TRANSPORT=1 for them, which
only the test fixtures set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from connectors.errors import ConfigError
from integrations.models import OAuthApp


@dataclass(frozen=True)
class OAuthClient:
    slug: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str
    api_base_url: str  # "" = the connector's own default
    source: str  # "environment" or "admin"

    def __repr__(self):  # never show the secret
        return f"<OAuthClient {self.slug} from {self.source}: {self.client_id}>"


def env_names(slug: str) -> tuple[str, str]:
    prefix = "OAUTH_" + slug.upper().replace("-", "_")
    return f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET"


def _oauth_app(itype):
    return OAuthApp.objects.filter(integration_type=itype, is_enabled=True).first()


def resolve(itype) -> OAuthClient | None:
    """The configured client of an OAuth type, or None when the operator has not set one up."""
    id_name, secret_name = env_names(itype.slug)
    app = _oauth_app(itype)
    env_id = os.environ.get(id_name, "").strip()
    if env_id:
        client_id, secret, source = env_id, os.environ.get(secret_name, ""), "environment"
    elif app is not None and app.client_id:
        client_id, secret, source = app.client_id, app.client_secret or "", "admin"
    else:
        return None
    authorize = (app.authorize_url if app else "") or itype.oauth_authorize_url
    token = (app.token_url if app else "") or itype.oauth_token_url
    if not (authorize and token):
        return None
    return OAuthClient(
        slug=itype.slug,
        client_id=client_id,
        client_secret=secret,
        authorize_url=authorize,
        token_url=token,
        revoke_url=(app.revoke_url if app else "") or itype.oauth_revoke_url,
        api_base_url=((app.api_base_url if app else "") or "").rstrip("/"),
        source=source,
    )


def oauth_client_configured(itype) -> bool:
    """For the gallery: can this OAuth type be connected here (a client id is configured)?"""
    return itype.auth_kind == "oauth2" and resolve(itype) is not None


def configured_slugs(itypes) -> set[str]:
    """The gallery's bulk form of oauth_client_configured: slugs of the given OAuth types that have a
    client id (environment or an enabled OAuthApp), in one query."""
    oauth = [t for t in itypes if t.auth_kind == "oauth2" and t.oauth_authorize_url and t.oauth_token_url]
    with_app = set(
        OAuthApp.objects.filter(integration_type__in=oauth, is_enabled=True)
        .exclude(client_id="")
        .values_list("integration_type__slug", flat=True)
    )
    return {t.slug for t in oauth if t.slug in with_app or os.environ.get(env_names(t.slug)[0], "").strip()}


def require(itype) -> OAuthClient:
    client = resolve(itype)
    if client is None:
        id_name, secret_name = env_names(itype.slug)
        raise ConfigError(
            f"{itype.display_name} has no OAuth client configured on this hub.",
            remediation=(
                f"An operator must set {id_name} and {secret_name} in the environment, or add an OAuth app "
                f"for {itype.display_name} in the admin."
            ),
        )
    return client


def client_fix(itype, client: OAuthClient | None = None, *, connected: bool = True) -> str:
    """What an operator must do when the provider refuses the hub's OAuth client itself (a client
    secret rotated at the provider, a deleted or disabled app): it is never the user's to fix.
    `connected`: said about an existing connection (which recovers by itself) or a new sign-in."""
    id_name, secret_name = env_names(itype.slug)
    name = itype.display_name
    if client is not None and client.source == "admin":
        where = f"the client id and secret of the OAuth app for {name} in the admin"
    else:
        where = f"{id_name} and {secret_name} in the hub's environment (they win over the admin's OAuth app)"
    after = (
        "Nothing is wrong with your connection and there is nothing for you to do: its syncs fail "
        "until then and work again by themselves once it is fixed."
        if connected
        else "Signing in again will not help until then; connect once the operator has fixed it."
    )
    return f"An operator must update {where} to match the app registered with {name}. {after}"


def check_endpoint(url: str) -> str:
    """Refuse plain-http endpoints except for hosts explicitly allowlisted (local test peers)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return url
    allowed = {entry.strip().lower() for entry in settings.SSRF_ALLOWED_HOSTS or []}
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and (host in allowed or f"{host}:{parts.port}" in allowed):
        return url
    raise ConfigError(
        f"The OAuth endpoint {parts.scheme}://{host} is not served over HTTPS.",
        remediation="Fix the OAuth app's URLs in the admin: tokens are only ever sent over HTTPS.",
    )


def client_auth(client: OAuthClient):
    # HTTP Basic (client_secret_basic): every authorization server must support it (RFC 6749 2.3.1)
    # and Spotify requires it; Google, Microsoft and django-oauth-toolkit accept it.
    return requests.auth.HTTPBasicAuth(client.client_id, client.client_secret)
