"""The authorization code flow with PKCE against the real local authorization server
(django-oauth-toolkit, PKCE required, rotating refresh tokens): consent page, state handling,
code exchange, scopes, identity, re-authentication in place."""

import base64
import datetime
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.urls import reverse

from integrations.models import (
    AuditAction,
    AuditEvent,
    Credential,
    Integration,
    IntegrationType,
    OAuthApp,
    Status,
    SyncedItem,
)
from integrations.oauth import clients
from tests.connectors.helpers import live_items, sync
from tests.factories import make_integration
from tests.oauth.helpers import connect_with_oauth, messages_of

pytestmark = pytest.mark.usefixtures("catalogue")
SLUG = "google-calendar"
CALENDAR_SCOPES = "https://www.googleapis.com/auth/calendar.readonly https://www.googleapis.com/auth/calendar.events"


def _start(client, slug=SLUG, **data):
    response = client.post(reverse("oauth:start", args=[slug]), data or {"name": "Work calendar"})
    assert response.status_code == 302, response.content[:400]
    return response["Location"]


def _callback(client, location):
    parts = urlsplit(location)
    return client.get(parts.path + "?" + parts.query)


# -- the consent page -----------------------------------------------------------------------------


def test_consent_page_lists_each_scope_with_its_purpose_and_what_is_read_and_written(owner_client, oauth_server):
    oauth_server.configure(SLUG)
    itype = IntegrationType.objects.get(slug=SLUG)
    page = owner_client.get(reverse("oauth:consent", args=[SLUG]))

    html = page.content.decode()
    assert page.status_code == 200
    for scope in itype.oauth_scopes:
        assert scope["scope"] in html
        assert scope["purpose"] in html
    for line in itype.data_read + itype.data_written:
        assert line in html
    assert "127.0.0.1" in html  # where the user will sign in
    assert 'name="name"' in html
    assert "not configured" not in html


def test_a_type_without_oauth_client_says_so_instead_of_redirecting(owner_client, monkeypatch):
    monkeypatch.delenv("OAUTH_GOOGLE_CALENDAR_CLIENT_ID", raising=False)
    itype = IntegrationType.objects.get(slug=SLUG)
    assert clients.oauth_client_configured(itype) is False

    page = owner_client.get(reverse("oauth:consent", args=[SLUG])).content.decode()
    assert "is not configured on this hub yet" in page
    assert 'id="continue"' not in page
    # What the operator must set up, and what the connection will ask for once it is.
    assert "OAUTH_GOOGLE_CALENDAR_CLIENT_ID" in page
    assert "OAUTH_GOOGLE_CALENDAR_CLIENT_SECRET" in page
    assert "/oauth/callback/" in page
    for scope in itype.oauth_scopes:
        assert scope["scope"] in page

    response = owner_client.post(reverse("oauth:start", args=[SLUG]), {"name": "Work"})
    assert response.status_code == 302
    assert response["Location"] == reverse("oauth:consent", args=[SLUG])
    assert any("no OAuth client configured" in m for m in messages_of(response))
    assert not Integration.objects.exists()


def test_the_gallery_can_ask_which_oauth_types_are_configured_in_one_query(
    db, catalogue, monkeypatch, django_assert_num_queries
):
    monkeypatch.delenv("OAUTH_GMAIL_CLIENT_ID", raising=False)
    monkeypatch.setenv("OAUTH_SPOTIFY_CLIENT_ID", "from-env")
    OAuthApp.objects.create(integration_type=IntegrationType.objects.get(slug=SLUG), client_id="c", client_secret="s")
    types = list(IntegrationType.objects.all())
    with django_assert_num_queries(1):
        slugs = clients.configured_slugs(types)
    assert {SLUG, "spotify"} <= slugs
    assert "gmail" not in slugs
    assert "ical-feed" not in slugs  # not an OAuth type


def test_staff_see_the_environment_variables_to_set(client, owner, monkeypatch):
    monkeypatch.delenv("OAUTH_SPOTIFY_CLIENT_ID", raising=False)
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    html = client.get(reverse("oauth:consent", args=["spotify"])).content.decode()
    assert "OAUTH_SPOTIFY_CLIENT_ID" in html
    assert "OAUTH_SPOTIFY_CLIENT_SECRET" in html


def test_client_from_the_environment_wins_over_the_admin_record(db, catalogue, monkeypatch):
    itype = IntegrationType.objects.get(slug=SLUG)
    OAuthApp.objects.create(integration_type=itype, client_id="from-admin", client_secret="s1")
    assert clients.resolve(itype).client_id == "from-admin"
    monkeypatch.setenv("OAUTH_GOOGLE_CALENDAR_CLIENT_ID", "from-env")
    monkeypatch.setenv("OAUTH_GOOGLE_CALENDAR_CLIENT_SECRET", "s2")
    client = clients.resolve(itype)
    assert (client.client_id, client.client_secret, client.source) == ("from-env", "s2", "environment")
    assert "s2" not in repr(client)


def test_anonymous_visitors_are_sent_to_log_in(client, oauth_server):
    response = client.get(reverse("oauth:consent", args=[SLUG]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_another_user_cannot_reauthenticate_my_integration(other_client, owner, oauth_server):
    oauth_server.configure(SLUG)
    mine = make_integration(owner, IntegrationType.objects.get(slug=SLUG), name="Mine")
    assert other_client.get(reverse("oauth:consent", args=[SLUG]) + f"?integration={mine.pk}").status_code == 404
    assert other_client.post(reverse("oauth:start", args=[SLUG]), {"integration": mine.pk}).status_code == 404


# -- authorization request ------------------------------------------------------------------------


def test_authorization_request_uses_pkce_s256_state_and_the_blueprint_scopes(owner_client, oauth_server):
    oauth_server.configure(SLUG)
    location = _start(owner_client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    assert location.startswith(oauth_server.authorize_url)
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["response_type"] == "code"
    assert query["scope"] == CALENDAR_SCOPES
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"  # the blueprint's extras
    assert query["redirect_uri"] == "http://127.0.0.1:8000/oauth/callback/"
    attempt = owner_client.session["oauth_attempts"][query["state"]]
    assert attempt["verifier"] not in location  # only the challenge travels
    # The challenge is the S256 of the verifier kept for the exchange (RFC 7636 4.2), not the verifier.
    assert 43 <= len(attempt["verifier"]) <= 128
    digest = hashlib.sha256(attempt["verifier"].encode("ascii")).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == query["code_challenge"]


def test_a_name_already_used_is_refused_before_leaving_the_hub(owner_client, owner, oauth_server):
    oauth_server.configure(SLUG)
    make_integration(owner, IntegrationType.objects.get(slug=SLUG), name="Work")
    response = owner_client.post(reverse("oauth:start", args=[SLUG]), {"name": "work"})
    assert response.status_code == 400
    assert "already have a Google Calendar called" in response.content.decode()


# -- the callback ---------------------------------------------------------------------------------


def test_connecting_stores_encrypted_tokens_scopes_and_the_account(
    owner_client, owner, oauth_server, google_calendar_api
):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api, name="Work calendar")

    assert integration.status == Status.CONNECTED
    assert integration.name == "Work calendar"
    assert integration.account_identity == "alice@example.com"
    credential = Credential.objects.get(integration=integration)
    assert credential.access_token
    assert credential.refresh_token
    assert credential.expires_at is not None
    assert set(credential.granted_scopes) == set(CALENDAR_SCOPES.split())
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM integrations_credential WHERE id = %s", [credential.pk])
        raw_access, raw_refresh = cursor.fetchone()
    for raw in (raw_access, raw_refresh):
        text = raw.decode() if isinstance(raw, bytes | memoryview) else str(raw)
        assert credential.access_token not in text
        assert credential.refresh_token not in text
    assert AuditEvent.objects.filter(integration=integration, action=AuditAction.CONNECT).exists()
    assert integration.sync_jobs.count() == 1  # the first sync is queued


def test_landing_back_reports_the_connected_account(owner_client, oauth_server, google_calendar_api):
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    response = oauth_server.connect(owner_client, SLUG, name="Cal")
    integration = Integration.objects.get(name="Cal")
    assert response["Location"] == integration.get_absolute_url()
    assert any("is connected as alice@example.com" in m for m in messages_of(response))


def test_a_state_that_does_not_match_is_refused(owner_client, oauth_server, google_calendar_api):
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    back = oauth_server.authorize(_start(owner_client))
    tampered = back.replace("state=", "state=x")
    response = _callback(owner_client, tampered)
    assert response.status_code == 302
    assert any("does not match a sign-in started here" in m for m in messages_of(response))
    assert not Integration.objects.exists()


def test_a_state_is_single_use_and_a_replayed_code_is_refused(owner_client, oauth_server, google_calendar_api):
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    back = oauth_server.authorize(_start(owner_client))
    assert _callback(owner_client, back).status_code == 302
    assert Integration.objects.count() == 1

    replay = _callback(owner_client, back)  # the same callback URL again
    assert any("does not match a sign-in started here" in m for m in messages_of(replay))

    # The same code with a fresh state of this session: the authorization server refuses it.
    fresh_state = parse_qs(urlsplit(_start(owner_client, name="Second")).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = owner_client.get(reverse("oauth:callback") + f"?code={code}&state={fresh_state}")
    assert any("refused the sign-in code" in m for m in messages_of(response))
    assert Integration.objects.count() == 1


def test_the_code_only_works_with_the_verifier_of_its_own_attempt(owner_client, oauth_server, google_calendar_api):
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    location = _start(owner_client)
    state = parse_qs(urlsplit(location).query)["state"][0]
    session = owner_client.session
    attempts = session["oauth_attempts"]
    attempts[state]["verifier"] = "x" * 64  # a verifier that does not match the challenge sent
    session["oauth_attempts"] = attempts
    session.save()

    response = _callback(owner_client, oauth_server.authorize(location))
    assert any("refused the sign-in code" in m for m in messages_of(response))
    assert not Integration.objects.exists()


def test_an_attempt_older_than_the_time_limit_is_refused(owner_client, oauth_server, settings, google_calendar_api):
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    location = _start(owner_client)
    back = oauth_server.authorize(location)
    settings.OAUTH_STATE_TTL_SECONDS = 0
    response = _callback(owner_client, back)
    assert response.status_code == 302
    assert response["Location"] == reverse("oauth:consent", args=[SLUG])  # back where to start again
    assert messages_of(response) == ["The sign-in took too long and expired. Start again."]
    assert not Integration.objects.exists()


def test_a_refused_oauth_client_at_sign_in_says_the_operator_must_fix_it(owner_client, oauth_server):
    oauth_server.configure(SLUG)
    app = OAuthApp.objects.get(integration_type__slug=SLUG)
    app.client_secret = "rotated-at-the-provider"
    app.save()

    response = _callback(owner_client, oauth_server.authorize(_start(owner_client)))

    assert response["Location"] == reverse("oauth:consent", args=[SLUG])
    [message] = messages_of(response)
    assert "Google Calendar refused the hub's OAuth client (invalid_client" in message
    assert "the OAuth app for Google Calendar in the admin" in message
    assert "refused the sign-in code" not in message  # not the user's doing
    assert "rotated-at-the-provider" not in message
    assert not Integration.objects.exists()


def test_declining_at_the_provider_connects_nothing(owner_client, oauth_server):
    oauth_server.configure(SLUG)
    back = oauth_server.authorize(_start(owner_client), allow=False)
    assert "error=access_denied" in back
    response = _callback(owner_client, back)
    assert response["Location"] == reverse("oauth:consent", args=[SLUG])
    assert any("You did not allow the hub" in m for m in messages_of(response))
    assert not Integration.objects.exists()


def test_fewer_scopes_granted_tells_the_user_what_will_not_work(owner_client, oauth_server, google_calendar_api):
    read_only = "https://www.googleapis.com/auth/calendar.readonly"
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.url())
    response = oauth_server.connect(owner_client, SLUG, name="Read only", scope=read_only)

    integration = Integration.objects.get(name="Read only")
    assert Credential.objects.get(integration=integration).granted_scopes == [read_only]
    warnings = [m for m in messages_of(response) if "did not grant every permission" in m]
    assert warnings
    assert "Create and update the events your workflows send to your calendar" in warnings[0]
    assert "List your calendars" not in warnings[0]

    # Not only once: the integration's page says so for as long as the scope is missing.
    page = owner_client.get(integration.get_absolute_url()).content.decode()
    assert "Some permissions were not granted" in page
    assert "Create and update the events your workflows send to your calendar" in page
    assert "https://www.googleapis.com/auth/calendar.events" in page
    assert f"{reverse('oauth:consent', args=[SLUG])}?integration={integration.pk}" in page

    oauth_server.connect(owner_client, SLUG, integration=integration)  # allowed this time
    assert "Some permissions were not granted" not in owner_client.get(integration.get_absolute_url()).content.decode()


# -- re-authentication ----------------------------------------------------------------------------


def test_reauthenticating_keeps_the_same_instance_settings_data_and_cursor(
    owner_client, oauth_server, google_calendar_api
):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api)
    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    google_calendar_api.put_event("alice@example.com", {"id": "e1", "summary": "Dentist", "start": {"date": soon}})
    assert sync(integration).status == "succeeded"
    integration.config = {**integration.config, "window_past_days": 7}
    integration.status, integration.status_detail = Status.NEEDS_REAUTH, "Refused."
    integration.save()
    cursor, old_refresh = integration.sync_cursor, Credential.objects.get(integration=integration).refresh_token

    response = oauth_server.connect(owner_client, SLUG, integration=integration)

    assert response["Location"] == integration.get_absolute_url()
    integration.refresh_from_db()
    assert Integration.objects.count() == 1
    assert integration.status == Status.CONNECTED
    assert integration.status_detail == ""
    assert integration.config["window_past_days"] == 7
    assert integration.sync_cursor == cursor
    assert live_items(integration).count() == 1
    assert Credential.objects.get(integration=integration).refresh_token != old_refresh
    assert AuditEvent.objects.filter(integration=integration, action=AuditAction.REAUTH).exists()


def test_reauthenticating_as_another_account_asks_first(owner_client, oauth_server, google_calendar_api):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api)
    integration.sync_cursor = {"sync_tokens": {"primary": "abc"}}
    integration.save()
    token_before = Credential.objects.get(integration=integration).access_token

    response = oauth_server.connect(owner_client, SLUG, integration=integration, username="bob")
    assert response["Location"] == reverse("oauth:confirm_account")
    page = owner_client.get(reverse("oauth:confirm_account")).content.decode()
    assert "bob@example.com" in page
    assert "alice@example.com" in page

    kept = owner_client.post(reverse("oauth:confirm_account"), {"choice": "cancel"})
    integration.refresh_from_db()
    assert kept.status_code == 302
    assert integration.account_identity == "alice@example.com"
    assert Credential.objects.get(integration=integration).access_token == token_before

    oauth_server.connect(owner_client, SLUG, integration=integration, username="bob")
    owner_client.post(reverse("oauth:confirm_account"), {"choice": "switch"})
    integration.refresh_from_db()
    assert integration.account_identity == "bob@example.com"
    assert integration.sync_cursor is None  # another account: read it from the start
    assert Integration.objects.count() == 1


def test_switching_accounts_replaces_the_old_accounts_records_as_the_page_says(
    owner_client, oauth_server, google_calendar_api
):
    api = google_calendar_api
    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    api.put_event("alice@example.com", {"id": "a1", "summary": "Alice's dentist", "start": {"date": soon}})
    api.put_event("alice@example.com", {"id": "a2", "summary": "Alice's yoga", "start": {"date": soon}})
    api.put_event("bob@example.com", {"id": "b1", "summary": "Bob's football", "start": {"date": soon}})
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, api)
    assert sync(integration).status == "succeeded"
    assert live_items(integration).count() == 2

    oauth_server.connect(owner_client, SLUG, integration=integration, username="bob")
    page = " ".join(owner_client.get(reverse("oauth:confirm_account")).content.decode().split())
    assert (
        "the 2 records synced from alice@example.com will be marked as removed (no longer shown as current) "
        "and replaced by bob@example.com's, which the next sync reads from the start." in page
    )
    answer = owner_client.post(reverse("oauth:confirm_account"), {"choice": "switch"})
    assert any("records synced from alice@example.com were marked as removed" in m for m in messages_of(answer))

    job = integration.sync_jobs.get(status="queued")  # queued by the switch, a full read of bob's calendar
    assert job.kind == "full"
    sync(integration)

    assert [i.title for i in live_items(integration)] == ["Bob's football"]
    removed = SyncedItem.objects.filter(integration=integration, deleted_at__isnull=False)
    assert sorted(removed.values_list("title", flat=True)) == ["Alice's dentist", "Alice's yoga"]
    event = AuditEvent.objects.filter(integration=integration, action=AuditAction.REAUTH).latest("pk")
    assert event.detail["replaced_account"] == "alice@example.com"
    assert event.detail["records_retired"] == 2

    # Alice's calendar changes later: nothing of it reaches this integration any more.
    api.put_event("alice@example.com", {"id": "a3", "summary": "Alice's new event", "start": {"date": soon}})
    sync(integration)
    assert [i.title for i in live_items(integration)] == ["Bob's football"]


def test_a_sync_running_during_the_switch_stops_without_writing_the_old_account(
    owner_client, oauth_server, google_calendar_api
):
    from integrations.sync.jobs import claim

    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    google_calendar_api.put_event("alice@example.com", {"id": "a1", "summary": "Dentist", "start": {"date": soon}})
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api)
    running = integration.sync_jobs.get()
    assert claim(running.pk, "worker-1") is not None  # a worker has started it

    oauth_server.connect(owner_client, SLUG, integration=integration, username="bob")
    owner_client.post(reverse("oauth:confirm_account"), {"choice": "switch"})

    running.refresh_from_db()
    assert running.status == "cancelled"
    assert "switched to bob@example.com" in running.error_message


def test_reauthenticating_with_an_account_the_hub_cannot_read_asks_instead_of_saving(
    owner_client, oauth_server, google_calendar_api
):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, google_calendar_api)
    integration.sync_cursor = {"sync_tokens": {"primary": "abc"}}
    integration.save()
    token_before = Credential.objects.get(integration=integration).access_token

    # Only the write scope: the calendar (and so the account) cannot be read with it.
    events_only = "https://www.googleapis.com/auth/calendar.events"
    response = oauth_server.connect(owner_client, SLUG, integration=integration, username="bob", scope=events_only)

    assert response["Location"] == reverse("oauth:confirm_account")
    assert Credential.objects.get(integration=integration).access_token == token_before  # nothing saved yet
    page = owner_client.get(reverse("oauth:confirm_account")).content.decode()
    assert "Did you sign in as alice@example.com?" in page
    assert "cannot check that it is still" in page

    owner_client.post(reverse("oauth:confirm_account"), {"choice": "cancel"})
    assert Credential.objects.get(integration=integration).access_token == token_before

    oauth_server.connect(owner_client, SLUG, integration=integration, username="alice", scope=events_only)
    owner_client.post(reverse("oauth:confirm_account"), {"choice": "same"})
    integration.refresh_from_db()
    assert Credential.objects.get(integration=integration).access_token != token_before
    assert integration.account_identity == "alice@example.com"
    assert integration.sync_cursor == {"sync_tokens": {"primary": "abc"}}  # the same account: all kept
