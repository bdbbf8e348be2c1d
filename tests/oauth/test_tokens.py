"""Token lifecycle against the real local authorization server: refresh ahead of expiry, rotation,
revocation, invalid_grant -> needs_reauth, a refused OAuth client (an operator's fix, no status
change), transient failures, one refresh for two workers (under a lease, no database lock held
during the token request), the scheduled refresh and its schedule, and revocation on disconnect."""

import datetime
import json
import logging
import threading

import pytest
import requests
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from connectors.errors import AuthError, ConfigError, TransientError
from connectors.http import HttpClient
from integrations import lifecycle
from integrations.models import AuditAction, AuditEvent, Credential, Integration, IntegrationType, OAuthApp, Status
from integrations.oauth import clients, tasks, tokens
from integrations.oauth.tokens import TokenProvider
from integrations.sync.jobs import SyncRefused, queue_sync
from tests.connectors.helpers import sync
from tests.factories import make_integration
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
SLUG = "google-calendar"


def _expire_soon(integration, seconds=60):
    Credential.objects.filter(integration=integration).update(
        expires_at=timezone.now() + datetime.timedelta(seconds=seconds)
    )


def _me(provider, oauth_server):
    with HttpClient() as http:
        return http.get(oauth_server.url("/api/me"), auth=provider.auth).json()


def _credential(integration):
    return Credential.objects.get(integration=integration)


@pytest.fixture
def connected(owner_client, oauth_server, google_calendar_api):
    return connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api)


def test_code_token_call_refresh_rotation_revocation_invalid_grant_needs_reauth(connected, oauth_server):
    integration = connected
    provider = TokenProvider(integration, credential=_credential(integration))
    first = _credential(integration)

    # An API call with the token from the code exchange.
    assert _me(provider, oauth_server)["email"] == "alice@example.com"

    # Ahead of expiry: refreshed, and the authorization server rotated the refresh token.
    _expire_soon(integration)
    refreshes = oauth_server.refresh_count()
    provider = TokenProvider(integration, credential=_credential(integration))
    new_access = provider.access_token()
    second = _credential(integration)
    assert new_access != first.access_token
    assert new_access == second.access_token
    assert second.refresh_token != first.refresh_token
    assert oauth_server.refresh_count() == refreshes + 1
    assert AuditEvent.objects.filter(
        integration=integration, action=AuditAction.TOKEN_REFRESH, detail__rotated_refresh_token=True
    ).exists()
    assert _me(provider, oauth_server)["email"] == "alice@example.com"

    # The rotated-out refresh token is dead at the provider.
    old = requests.post(
        oauth_server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        auth=(oauth_server.client_id, oauth_server.client_secret),
        timeout=10,
    )
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_grant"

    # The user revokes the hub's access at the provider: the next refresh gets invalid_grant.
    oauth_server.revoke(second.refresh_token)
    _expire_soon(integration, seconds=-10)
    with pytest.raises(AuthError):
        TokenProvider(integration, credential=_credential(integration)).access_token()

    integration.refresh_from_db()
    assert integration.status == Status.NEEDS_REAUTH
    assert "invalid_grant" in integration.status_detail
    assert "Re-authenticate Google Calendar" in integration.status_detail
    assert AuditEvent.objects.filter(integration=integration, action=AuditAction.AUTH_FAILED).exists()
    with pytest.raises(SyncRefused, match="re-authenticate"):
        queue_sync(integration, enqueue=False)
    assert _credential(integration).refresh_token == second.refresh_token  # nothing overwritten


def test_a_sync_with_a_revoked_grant_pauses_the_integration_and_says_what_to_do(connected, oauth_server):
    oauth_server.revoke(_credential(connected).refresh_token)
    _expire_soon(connected, seconds=-10)
    job = sync(connected)
    assert job.status == "failed"
    assert job.error_class == "auth"
    assert connected.status == Status.NEEDS_REAUTH
    assert "Re-authenticate" in connected.status_detail


def test_an_api_401_for_a_token_we_thought_valid_refreshes_once_and_retries(connected, oauth_server):
    credential = _credential(connected)
    oauth_server.expire_access_token(credential.access_token)  # revoked early at the provider
    refreshes = oauth_server.refresh_count()
    provider = TokenProvider(connected, credential=credential)

    assert _me(provider, oauth_server)["email"] == "alice@example.com"
    assert oauth_server.refresh_count() == refreshes + 1
    assert _credential(connected).access_token != credential.access_token


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_make_one_refresh(connected, oauth_server):
    _expire_soon(connected)
    refreshes = oauth_server.refresh_count()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            integration = Integration.objects.select_related("type").get(pk=connected.pk)
            provider = TokenProvider(integration, credential=_credential(integration))
            barrier.wait(timeout=60)
            results.append(provider.access_token())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(results) == 2
    assert results[0] == results[1]
    assert oauth_server.refresh_count() == refreshes + 1  # with rotation, a second refresh would fail
    connected.refresh_from_db()
    assert connected.status == Status.CONNECTED
    assert AuditEvent.objects.filter(integration=connected, action=AuditAction.TOKEN_REFRESH).count() == 1
    assert _credential(connected).refresh_lease_owner == ""


@pytest.mark.django_db(transaction=True)
def test_the_database_is_not_locked_while_the_token_endpoint_answers(owner, token_endpoint):
    """Another process writes to the hub (here: to this very credential row) while a refresh waits
    for the provider: it must not wait for the refresh (on SQLite a write transaction around the
    HTTP call would lock the whole database for up to OUTBOUND_TIMEOUT)."""
    integration = _integration_on(owner, token_endpoint, expires_in=60)
    writes = []

    def slow_provider(request):
        try:
            # Meanwhile, elsewhere: a write to the same row (a row lock would block it too).
            writes.append(Credential.objects.filter(integration=integration).update(token_type="Bearer"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            writes.append(exc)
        finally:
            connection.close()
        body = {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 3600}
        return Response(json.dumps(body), content_type="application/json")

    token_endpoint.expect_request("/token").respond_with_handler(slow_provider)

    assert TokenProvider(integration).access_token() == "new-access"
    assert writes == [1]
    credential = _credential(integration)
    assert (credential.access_token, credential.refresh_token) == ("new-access", "new-refresh")
    assert (credential.refresh_lease_owner, credential.refresh_lease_until) == ("", None)


# -- a token endpoint that behaves like Google's or fails ----------------------------------------


@pytest.fixture(scope="module")
def _token_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token_endpoint(_token_server, allow_host, monkeypatch):
    """One server for the module (stopping one takes half a second), as pytest-httpserver's own
    fixture does: each test starts with no handlers and an empty log."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    _token_server.clear()
    allow_host(f"127.0.0.1:{_token_server.port}")
    yield _token_server
    _token_server.clear()


def _integration_on(owner, server, *, expires_in=60):
    itype = IntegrationType.objects.get(slug=SLUG)
    OAuthApp.objects.update_or_create(
        integration_type=itype,
        defaults=dict(
            client_id="c", client_secret="s", token_url=server.url_for("/token"), authorize_url=server.url_for("/a")
        ),
    )
    integration = make_integration(owner, itype, name="Cal")
    Credential.objects.create(
        integration=integration,
        access_token="old-access",
        refresh_token="old-refresh",
        expires_at=timezone.now() + datetime.timedelta(seconds=expires_in),
    )
    return integration


def test_a_refresh_answer_without_refresh_token_keeps_the_old_one(owner, token_endpoint):
    token_endpoint.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "new-access", "expires_in": 3599, "token_type": "Bearer", "scope": "x"}
    )
    integration = _integration_on(owner, token_endpoint)
    assert TokenProvider(integration).access_token() == "new-access"

    credential = _credential(integration)
    assert credential.refresh_token == "old-refresh"
    assert credential.expires_at > timezone.now() + datetime.timedelta(minutes=59)
    body = token_endpoint.log[0][0].get_data(as_text=True)
    assert "grant_type=refresh_token" in body
    assert "refresh_token=old-refresh" in body
    assert token_endpoint.log[0][0].headers["Authorization"].startswith("Basic ")


def test_a_transient_refresh_failure_keeps_the_connection_and_uses_the_still_valid_token(owner, token_endpoint):
    token_endpoint.expect_request("/token").respond_with_data("unavailable", status=503)
    integration = _integration_on(owner, token_endpoint, expires_in=60)

    assert TokenProvider(integration).access_token() == "old-access"  # within the refresh-ahead window

    Credential.objects.filter(integration=integration).update(expires_at=timezone.now() - datetime.timedelta(seconds=5))
    with pytest.raises(TransientError):
        TokenProvider(integration).access_token()
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    assert _credential(integration).refresh_token == "old-refresh"


def test_invalid_grant_from_the_token_endpoint_needs_reauth(owner, token_endpoint):
    token_endpoint.expect_request("/token").respond_with_json(
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, status=400
    )
    integration = _integration_on(owner, token_endpoint, expires_in=-5)
    with pytest.raises(AuthError):
        TokenProvider(integration).access_token()
    integration.refresh_from_db()
    assert integration.status == Status.NEEDS_REAUTH
    assert "Token has been expired or revoked" in integration.status_detail


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}),
        (400, {"error": "unauthorized_client"}),
        (401, None),  # RFC 6749 5.2: a 401 is about the client's authentication, whatever the body
    ],
)
def test_a_refused_oauth_client_is_the_operators_fix_and_leaves_the_connection_alone(
    owner, token_endpoint, monkeypatch, status, body
):
    monkeypatch.setenv("OAUTH_GOOGLE_CALENDAR_CLIENT_ID", "c")
    monkeypatch.setenv("OAUTH_GOOGLE_CALENDAR_CLIENT_SECRET", "rotated-at-google")
    if body is None:
        token_endpoint.expect_request("/token").respond_with_data("Unauthorized", status=status)
    else:
        token_endpoint.expect_request("/token").respond_with_json(body, status=status)
    integration = _integration_on(owner, token_endpoint, expires_in=-5)

    with pytest.raises(ConfigError) as raised:
        TokenProvider(integration).access_token()

    assert "refused the hub's OAuth client" in raised.value.message
    assert "OAUTH_GOOGLE_CALENDAR_CLIENT_ID and OAUTH_GOOGLE_CALENDAR_CLIENT_SECRET" in raised.value.remediation
    assert "rotated-at-google" not in raised.value.message + raised.value.remediation
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    assert _credential(integration).refresh_token == "old-refresh"


def test_a_rotated_client_secret_fails_syncs_as_a_config_error_until_the_operator_fixes_it(
    connected, oauth_server, caplog
):
    app = OAuthApp.objects.get(integration_type=connected.type)
    app.client_secret = "the-old-secret"  # the provider rotated it; the hub still has the old one
    app.save()
    _expire_soon(connected, seconds=-10)

    with caplog.at_level(logging.ERROR, logger="integrations.oauth.tokens"):
        job = sync(connected)
        again = sync(connected)

    assert job.status == again.status == "failed"
    assert job.error_class == "config"
    assert "refused the hub's OAuth client (invalid_client)" in job.error_message
    assert "OAuth app for Google Calendar in the admin" in job.remediation
    assert connected.status != Status.NEEDS_REAUTH
    connected.refresh_from_db()
    assert connected.consecutive_failures == 0  # not the connection's fault: no streak, no backoff
    assert not connected.is_failing
    assert queue_sync(connected, enqueue=False)  # syncs are not paused
    assert len([r for r in caplog.records if "refused by the provider" in r.getMessage()]) == 1  # told once
    assert "the-old-secret" not in caplog.text

    app.client_secret = oauth_server.client_secret  # the operator updates it
    app.save()
    assert sync(connected).status == "succeeded"
    connected.refresh_from_db()
    assert connected.status == Status.CONNECTED


def test_plain_http_token_endpoints_are_refused_unless_allowlisted(settings):
    settings.SSRF_ALLOWED_HOSTS = ["127.0.0.1:9999"]
    assert clients.check_endpoint("https://oauth2.googleapis.com/token")
    assert clients.check_endpoint("http://127.0.0.1:9999/token")
    with pytest.raises(ConfigError, match="not served over HTTPS"):
        clients.check_endpoint("http://auth.example.com/token")


# -- the scheduled refresh ------------------------------------------------------------------------


def test_the_scheduled_task_refreshes_idle_connections_before_they_lapse(connected, oauth_server, owner):
    from django_q.models import Schedule

    assert Schedule.objects.filter(name=tasks.SCHEDULE_NAME).count() == 1  # created at connect
    tasks.ensure_refresh_schedule()
    assert Schedule.objects.filter(name=tasks.SCHEDULE_NAME).count() == 1

    _expire_soon(connected, seconds=10 * 60)
    paused = make_integration(owner, connected.type, name="Paused", status=Status.PAUSED)
    Credential.objects.create(
        integration=paused,
        access_token="a",
        refresh_token="r",
        expires_at=timezone.now() + datetime.timedelta(minutes=5),
    )
    before = _credential(connected).access_token

    result = tasks.refresh_expiring(within_minutes=20)

    assert result["refreshed"] == [connected.pk]
    assert _credential(connected).access_token != before
    assert _credential(paused).access_token == "a"
    assert tasks.refresh_expiring(within_minutes=20)["refreshed"] == []  # fresh now


def test_the_scheduled_task_retries_later_when_the_token_endpoint_is_down(owner, token_endpoint):
    token_endpoint.expect_request("/token").respond_with_data("unavailable", status=503)
    integration = _integration_on(owner, token_endpoint, expires_in=10 * 60)  # idle, lapses in 10 minutes

    result = tasks.refresh_expiring(within_minutes=20)

    assert result["retry_later"] == [integration.pk]
    assert result["refreshed"] == result["fresh"] == []
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    credential = _credential(integration)
    assert (credential.access_token, credential.refresh_token) == ("old-access", "old-refresh")
    assert credential.refresh_lease_owner == ""  # the next run can take the lease


def test_the_scheduled_task_tries_a_refused_client_once_per_run_and_says_what_to_fix(owner, token_endpoint, caplog):
    token_endpoint.expect_request("/token").respond_with_json({"error": "invalid_client"}, status=401)
    first = _integration_on(owner, token_endpoint, expires_in=5 * 60)
    second = make_integration(owner, first.type, name="Cal 2")
    Credential.objects.create(
        integration=second,
        access_token="a2",
        refresh_token="r2",
        expires_at=timezone.now() + datetime.timedelta(minutes=5),
    )

    with caplog.at_level(logging.ERROR, logger="integrations.oauth.tokens"):
        result = tasks.refresh_expiring(within_minutes=20)

    assert sorted(result["config_error"]) == sorted([first.pk, second.pk])
    assert result["needs_reauth"] == []
    assert "OAuth app for Google Calendar in the admin" in result["problems"][SLUG]
    assert len(token_endpoint.log) == 1  # the second connection would meet the same refusal
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    for integration in (first, second):
        integration.refresh_from_db()
        assert integration.status == Status.CONNECTED


def test_the_refresh_schedule_exists_on_every_hub_and_comes_back_after_migrate(db):
    from django.core.management.sql import emit_post_migrate_signal
    from django_q.models import Schedule

    assert Schedule.objects.filter(name=tasks.SCHEDULE_NAME).count() == 1  # made by the test database's migrate
    Schedule.objects.filter(name=tasks.SCHEDULE_NAME).delete()  # e.g. by staff in the admin

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what every `migrate` ends with
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    schedule = Schedule.objects.get(name=tasks.SCHEDULE_NAME)
    assert schedule.func == "integrations.oauth.tasks.refresh_expiring"
    assert schedule.repeats == -1


def test_the_scheduled_task_reports_revoked_connections(connected, oauth_server):
    oauth_server.revoke(_credential(connected).refresh_token)
    _expire_soon(connected, seconds=5 * 60)
    assert tasks.refresh_expiring(within_minutes=20)["needs_reauth"] == [connected.pk]
    connected.refresh_from_db()
    assert connected.status == Status.NEEDS_REAUTH


# -- disconnect -----------------------------------------------------------------------------------


def test_disconnect_revokes_the_grant_at_the_provider(connected, oauth_server):
    credential = _credential(connected)
    assert oauth_server.token_owner(credential.access_token) is not None

    lifecycle.disconnect(connected)

    assert oauth_server.token_owner(credential.access_token) is None
    assert not Credential.objects.filter(integration=connected).exists()
    event = AuditEvent.objects.get(integration=connected, action=AuditAction.DISCONNECT)
    assert event.detail["revocation"]["revoked"] is True
    assert credential.refresh_token not in json.dumps(event.detail)


def test_a_failed_revocation_does_not_block_the_disconnect(connected, oauth_server, allow_host):
    from tests.peers.availability import free_port

    port = free_port()
    allow_host(f"127.0.0.1:{port}")
    OAuthApp.objects.filter(integration_type=connected.type).update(revoke_url=f"http://127.0.0.1:{port}/revoke")

    lifecycle.disconnect(connected)

    connected.refresh_from_db()
    assert connected.status == Status.DISCONNECTED
    event = AuditEvent.objects.get(integration=connected, action=AuditAction.DISCONNECT)
    assert event.detail["revocation"]["revoked"] is False
    assert "revocation failed" in event.detail["revocation"]["detail"]


def test_providers_without_revocation_are_not_called_and_the_audit_says_so(owner, catalogue):
    itype = IntegrationType.objects.get(slug="outlook-calendar")
    integration = make_integration(owner, itype, name="Work")
    Credential.objects.create(integration=integration, access_token="a", refresh_token="r")
    lifecycle.disconnect(integration)
    event = AuditEvent.objects.get(integration=integration, action=AuditAction.DISCONNECT)
    assert event.detail["revocation"] == {"revoked": False, "detail": "Outlook Calendar offers no token revocation"}


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (3600, datetime.timedelta(hours=1)),
        ("3599.9", datetime.timedelta(seconds=3599)),
        (0, None),  # says nothing usable: used until refused, then refreshed
        (-60, None),
        ("NaN", None),
        ("soon", None),
        (True, None),
        ("1e400", tokens.MAX_TOKEN_LIFETIME),  # was an OverflowError: the connection failed
        (2**63, tokens.MAX_TOKEN_LIFETIME),
    ],
)
def test_a_token_answers_lifetime_is_read_or_left_unknown_never_a_crash(expires_in, lifetime):
    before = timezone.now()
    expiry = tokens.expiry_from({"access_token": "a", "expires_in": expires_in})
    if lifetime is None:
        assert expiry is None
    else:
        assert before + lifetime <= expiry <= timezone.now() + lifetime
