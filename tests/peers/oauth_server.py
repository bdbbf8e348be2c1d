"""The real OAuth 2.0 authorization server: the small django-oauth-toolkit project in
tests/oauth_server/, started once per test session (`manage.py runserver 127.0.0.1:PORT
--noreload`) with its own SQLite database in a temp dir, stopped by PID at the end.

PKCE is required and refresh tokens rotate (a rotated-out one is refused with invalid_grant).
Two resource owners exist, alice and bob. The hub's confidential client is registered with the
loopback redirect URI http://127.0.0.1/oauth/callback/ (RFC 8252 7.3: any port is accepted, so
both the test client's SITE_URL and a live server's port work).

`oauth_server` (function scope) opens the SSRF guard for it, sets OAUTHLIB_INSECURE_TRANSPORT for
plain http, and offers the test's own hands on the server: posting the consent form as a user
(`authorize`), reading what it issued straight from its database (`token_owner`, used by the
provider fakes to accept only tokens it issued), counting refreshes, revoking, expiring.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.peers.availability import free_port, serve_in_tempdir, wait_for_port

PROJECT = Path(__file__).resolve().parent.parent / "oauth_server"
CLIENT_ID = "metacortex-hub"
CLIENT_SECRET = "hub-client-secret-42"
REDIRECT_URI = "http://127.0.0.1/oauth/callback/"
PASSWORD = "authz-secret-42"  # tests/oauth_server/bootstrap.py
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', re.I)


def _hidden_fields(html: str) -> dict:
    import html as htmllib

    return {name: htmllib.unescape(value) for name, value in HIDDEN_INPUT.findall(html)}


@dataclass
class OAuthServer:
    root: Path
    port: int
    process: subprocess.Popen | None = None
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    _sessions: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def authorize_url(self) -> str:
        return self.url("/o/authorize/")

    @property
    def token_url(self) -> str:
        return self.url("/o/token/")

    @property
    def revoke_url(self) -> str:
        return self.url("/o/revoke_token/")

    @property
    def db(self) -> Path:
        return self.root / "db.sqlite3"

    # -- a resource owner in a browser-less session ------------------------------------------
    def login(self, username: str = "alice") -> requests.Session:
        session = self._sessions.get(username)
        if session is not None:
            return session
        session = requests.Session()
        session.trust_env = False
        page = session.get(self.url("/admin/login/"), timeout=10)
        token = session.cookies["authz_csrftoken"]
        answer = session.post(
            self.url("/admin/login/"),
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
            headers={"Referer": page.url},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, f"could not log in to the authorization server as {username}"
        self._sessions[username] = session
        return session

    def authorize(self, authorize_url: str, *, username: str = "alice", allow: bool = True, scope: str | None = None):
        """Open the consent page as `username` and answer it. Returns the redirect back to the
        hub (its Location), carrying code and state, or error=access_denied."""
        session = self.login(username)
        page = session.get(authorize_url, timeout=10, allow_redirects=False)
        if page.status_code == 302:  # an error redirected straight back (e.g. no code_challenge)
            return page.headers["Location"]
        assert page.status_code == 200, page.text[:500]
        fields = _hidden_fields(page.text)
        assert "redirect_uri" in fields, f"no consent form: {page.text[:800]}"
        if scope is not None:
            fields["scope"] = scope
        if allow:
            fields["allow"] = "Authorize"
        fields["csrfmiddlewaretoken"] = session.cookies["authz_csrftoken"]
        answer = session.post(
            authorize_url, data=fields, headers={"Referer": page.url}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 302, answer.text[:800]
        return answer.headers["Location"]

    def consent_page(self, authorize_url: str, *, username: str = "alice") -> requests.Response:
        return self.login(username).get(authorize_url, timeout=10, allow_redirects=False)

    # -- the server's own records --------------------------------------------------------------
    def _query(self, sql: str, params=()) -> list:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def token_owner(self, token: str) -> dict | None:
        """Who an access token belongs to, if the server issued it and it is still valid."""
        if not token:
            return None
        checksum = hashlib.sha256(token.encode()).hexdigest()
        rows = self._query(
            "SELECT u.username, u.email, t.scope, t.expires > strftime('%Y-%m-%d %H:%M:%f', 'now') "
            "FROM oauth2_provider_accesstoken t JOIN auth_user u ON u.id = t.user_id WHERE t.token_checksum = ?",
            (checksum,),
        )
        if not rows or not rows[0][3]:
            return None
        username, email, scope, _valid = rows[0]
        return {"username": username, "email": email, "scopes": set((scope or "").split())}

    def refresh_count(self) -> int:
        """Access tokens issued by a refresh (each consumed one refresh token)."""
        return self._query(
            "SELECT COUNT(*) FROM oauth2_provider_accesstoken WHERE source_refresh_token_id IS NOT NULL"
        )[0][0]

    def expire_access_token(self, token: str):
        checksum = hashlib.sha256(token.encode()).hexdigest()
        with sqlite3.connect(self.db, timeout=30) as conn:
            conn.execute(
                "UPDATE oauth2_provider_accesstoken SET expires = '2000-01-01 00:00:00' WHERE token_checksum = ?",
                (checksum,),
            )

    def revoke(self, token: str):
        answer = requests.post(
            self.revoke_url, data={"token": token}, auth=(self.client_id, self.client_secret), timeout=10
        )
        assert answer.status_code == 200, answer.text

    # -- pointing a hub integration type at this server ----------------------------------------
    def configure(self, slug: str, *, api_base_url: str = "", revoke: bool | None = None):
        """An OAuthApp for the type: this server for the token exchange, `api_base_url` (a provider
        fake) for the API. Revocation only where the real provider offers it (unless told)."""
        from integrations.models import IntegrationType, OAuthApp

        itype = IntegrationType.objects.get(slug=slug)
        with_revoke = bool(itype.oauth_revoke_url) if revoke is None else revoke
        app, _ = OAuthApp.objects.update_or_create(
            integration_type=itype,
            defaults=dict(
                client_id=self.client_id,
                client_secret=self.client_secret,
                authorize_url=self.authorize_url,
                token_url=self.token_url,
                revoke_url=self.revoke_url if with_revoke else "",
                api_base_url=api_base_url,
                is_enabled=True,
            ),
        )
        return app

    def connect(self, client, slug: str, *, username="alice", name="", integration=None, scope=None):
        """The whole flow as a user would do it: consent page, start, the provider's consent
        form, the callback. Returns the hub's final response (the redirect after the callback)."""
        from django.urls import reverse

        consent_url = reverse("oauth:consent", args=[slug])
        page = client.get(consent_url + (f"?integration={integration.pk}" if integration else ""))
        assert page.status_code == 200, page.content[:500]
        data = {"integration": integration.pk} if integration else {"name": name or f"{slug} {username}"}
        start = client.post(reverse("oauth:start", args=[slug]), data)
        assert start.status_code == 302, start.content[:800]
        back = self.authorize(start["Location"], username=username, scope=scope)
        parts = urlsplit(back)
        return client.get(parts.path + "?" + parts.query)

    def stop(self):
        for session in self._sessions.values():
            session.close()
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_oauth_server(root: Path) -> OAuthServer:
    try:
        import oauth2_provider  # noqa: F401
    except ImportError:
        raise RuntimeError("django-oauth-toolkit is not installed (pip install -r requirements-dev.txt)") from None
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(OAUTH_SERVER_DB=str(root / "db.sqlite3"), PYTHONUNBUFFERED="1")
    setup = subprocess.run(
        [sys.executable, "bootstrap.py", CLIENT_ID, CLIENT_SECRET, REDIRECT_URI],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"the authorization server could not be set up: {setup.stderr[-2000:]}")
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - kept open for the child's lifetime
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = OAuthServer(root=root, port=port, process=process)
    if not wait_for_port(port, timeout=60) or process.poll() is not None:
        server.stop()
        raise RuntimeError(f"the authorization server did not start: {(root / 'server.log').read_text()[-2000:]}")
    return server


@pytest.fixture(scope="session")
def _oauth_server_session():
    yield from serve_in_tempdir("oauth-peer-", start_oauth_server)


@pytest.fixture
def oauth_server(_oauth_server_session, allow_host, monkeypatch, settings):
    """The authorization server, reachable through the SSRF guard over plain http."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    allow_host(_oauth_server_session.host)
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.OAUTH_REDIRECT_URI = ""
    settings.SYNC_BACKOFF_BASE = 0.01  # retries of injected failures should not slow the suite
    return _oauth_server_session


def code_from(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# -- the provider contract fakes (tests/fakes/), served next to the authorization server ---------


def _fake(session_fake, oauth_server, allow_host):
    session_fake.reset()
    session_fake.token_owner = oauth_server.token_owner
    allow_host(session_fake.host)
    yield session_fake
    assert not session_fake.errors, "the fake met a request it could not answer:\n" + "\n".join(session_fake.errors)


def _provider_fixtures(name: str, module: str, cls: str):
    """A session-scoped contract fake and the per-test fixture `name` that hands it out."""
    session_name = f"_{name}_fake"

    @pytest.fixture(scope="session", name=session_name)
    def session_fake():
        fake = getattr(importlib.import_module(module), cls)()
        yield fake
        fake.stop()

    @pytest.fixture(name=name)
    def api(request, oauth_server, allow_host):
        yield from _fake(request.getfixturevalue(session_name), oauth_server, allow_host)

    return session_fake, api


_google_calendar_fake, google_calendar_api = _provider_fixtures(
    "google_calendar_api", "tests.fakes.google_calendar", "GoogleCalendarFake"
)
_gmail_fake, gmail_api = _provider_fixtures("gmail_api", "tests.fakes.google_gmail", "GmailFake")
_google_photos_fake, google_photos_api = _provider_fixtures(
    "google_photos_api", "tests.fakes.google_photos", "GooglePhotosFake"
)
_graph_fake, graph_api = _provider_fixtures("graph_api", "tests.fakes.microsoft_graph", "GraphFake")
_spotify_fake, spotify_api = _provider_fixtures("spotify_api", "tests.fakes.spotify", "SpotifyFake")
