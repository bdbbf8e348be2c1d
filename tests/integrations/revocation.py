"""An OAuth provider's token revocation endpoint (RFC 7009, as Google documents it at
https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke) served over real
HTTP, and a Google Calendar integration whose grant it revokes.

While it answers, the endpoint can also try to take SQLite's write lock from its own connection:
a caller that holds a database transaction across the revocation call blocks every other writer
(web requests, workers), and the probe sees that as "database is locked".
"""

from __future__ import annotations

import sqlite3

from django.db import connection

from integrations.models import Credential, IntegrationType, OAuthApp
from tests.factories import make_integration
from tests.fakes.contract import ContractFake

ACCESS_TOKEN = "ya29.access-to-revoke"
REFRESH_TOKEN = "1//refresh-to-revoke"


class RevocationEndpoint(ContractFake):
    ROUTES = [("POST", r"/revoke", "revoke")]

    def __init__(self):
        super().__init__()
        self.revoked: list[str] = []
        self.database_writable: list[bool] = []  # one per request, when probing
        self.probe_path: str | None = None

    def probe_database(self):
        """Check, during each revocation, whether another connection can write to the database."""
        self.probe_path = connection.settings_dict["NAME"]

    def revoke(self, request, seen):
        self.revoked.append(request.form.get("token", ""))
        if self.probe_path:
            self.database_writable.append(_can_take_write_lock(self.probe_path))
        return self.json({})


def _can_take_write_lock(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=1)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # "database is locked"
        return False
    finally:
        probe.close()


def oauth_integration(owner, endpoint: RevocationEndpoint, *, name="Work calendar"):
    """A connected Google Calendar integration; the OAuth app's revoke URL is the endpoint."""
    itype = IntegrationType.objects.get(slug="google-calendar")
    OAuthApp.objects.update_or_create(
        integration_type=itype,
        defaults={
            "client_id": "hub-client",
            "client_secret": "hub-client-secret",
            "revoke_url": endpoint.url + "/revoke",
        },
    )
    integration = make_integration(owner, itype, name=name)
    Credential.objects.create(
        integration=integration, access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, token_type="Bearer"
    )
    return integration
