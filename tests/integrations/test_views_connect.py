"""Connect and edit through the browser forms, tested against the real local HTTP peer (and
Dovecot for IMAP). The connection is always tested before anything is saved."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from integrations.models import AuditEvent, Credential, Integration, Status
from integrations.secrets import secrets_for
from tests.integrations.ui import (
    FEED_PATH,
    MISSING_PATH,
    TOKEN,
    connect_ical,
    ical_form,
    serve_calendar,
    text,
    the_only_integration,
)

pytestmark = pytest.mark.usefixtures("catalogue")


def _without_the_url_field(page: str) -> str:
    return re.sub(r'(<input type="password" name="url" value=")[^"]*', r"\1", page)


def test_the_connect_form_is_generated_from_the_blueprint(owner_client):
    response = owner_client.get(reverse("integrations:connect", args=["ical-feed"]))
    page = text(response)
    assert response.status_code == 200
    assert "Connect iCal Feed" in page
    # auth_schema: the calendar address is a write-only secret field
    assert 'type="password" name="url"' in page
    assert "Calendar address" in page
    # source_schema: the window settings with their defaults and limits
    assert 'name="window_past_days"' in page
    assert 'value="30"' in page
    assert 'max="3650"' in page
    assert 'name="sync_interval_minutes"' in page
    # a name prefilled to tell several apart, and what the hub reads
    assert 'name="name"' in page
    assert 'value="iCal Feed"' in page
    assert "What the hub reads" in page
    assert "Test connection" in page


def test_wrong_address_shows_an_actionable_error_and_saves_nothing(owner_client, owner, feed_server):
    serve_calendar(feed_server)
    response = connect_ical(owner_client, feed_server.url(MISSING_PATH))
    page = text(response)
    assert response.status_code == 400
    assert "Nothing was found at" in page
    assert "(HTTP 404)" in page
    assert "Check the address" in page  # the remediation
    assert "Nothing was saved." in page
    assert not Integration.objects.exists()
    assert not Credential.objects.exists()
    # What the user typed is kept in its (password) field so they can fix it, and only there:
    # never in the error message, which names scheme and host only.
    assert re.search(r'<input type="password" name="url" value="[^"]*' + TOKEN, page)
    assert TOKEN not in _without_the_url_field(page)
    assert "Family calendar" in page  # what the user typed (not secret) is kept


def test_connecting_a_feed_tests_it_then_saves_it_encrypted(owner_client, owner, feed_server):
    url = serve_calendar(feed_server)
    response = connect_ical(owner_client, url)

    integration = the_only_integration(owner)
    assert response.status_code == 302
    assert response.url == integration.get_absolute_url()
    assert integration.name == "Family calendar"
    assert integration.status == Status.CONNECTED
    # The account is the calendar; what the test found is said once, in the message.
    assert integration.account_identity == "Awkward Calendar"
    assert integration.sync_interval_minutes == 30
    assert integration.config == {"window_past_days": 400, "window_future_days": 400}  # no secret in config
    assert secrets_for(integration, actor="user") == {"url": url}
    with connection.cursor() as cursor:  # encrypted at rest: the raw column does not hold the link
        cursor.execute("SELECT secrets FROM integrations_credential WHERE integration_id = %s", [integration.pk])
        raw = cursor.fetchone()[0]
    assert TOKEN not in str(raw)
    assert AuditEvent.objects.filter(integration=integration, action="connect").exists()
    assert feed_server.requests_to(FEED_PATH)  # the peer was asked before anything was saved

    page = text(owner_client.get(response.url))
    assert "Connected Family calendar: Awkward Calendar (7 events). The first sync has started." in page
    # ...and the first sync is queued at once, a full one, not left to the schedule.
    assert list(integration.sync_jobs.values_list("kind", "status")) == [("full", "queued")]
    assert f"http://{feed_server.host}/…" in page  # the address shown masked: scheme and host only
    assert TOKEN not in page


def test_the_test_button_answers_a_partial_with_the_identity_and_saves_nothing(owner_client, feed_server):
    url = serve_calendar(feed_server)
    response = owner_client.post(
        reverse("integrations:connect_test", args=["ical-feed"]), ical_form(url), HTTP_HX_REQUEST="true"
    )
    page = text(response)
    assert response.status_code == 200
    assert "Connection works:" in page
    assert "Awkward Calendar (7 events)" in page
    assert "<html" not in page  # a partial
    assert not Integration.objects.exists()
    assert TOKEN not in page


def test_the_test_button_puts_the_error_on_the_right_field(owner_client, feed_server):
    feed_server.serve("/page.html", "<html><body>Not a calendar</body></html>", content_type="text/html")
    response = owner_client.post(
        reverse("integrations:connect_test", args=["ical-feed"]),
        ical_form(feed_server.url("/page.html")),
        HTTP_HX_REQUEST="true",
    )
    page = text(response)
    assert "did not return an iCalendar file" in page
    assert "must be the calendar" in page  # remediation
    # the message lands in the url field's error slot (an out-of-band swap), the others are cleared
    assert '<div class="field-errors" id="errors-url" hx-swap-oob="true"><div class="field-error"' in page
    assert '<div class="field-errors" id="errors-name" hx-swap-oob="true"></div>' in page
    assert not Integration.objects.exists()


def test_the_test_button_without_javascript_renders_the_whole_form(owner_client, feed_server):
    url = serve_calendar(feed_server)
    response = owner_client.post(reverse("integrations:connect_test", args=["ical-feed"]), ical_form(url))
    page = text(response)
    assert response.status_code == 200
    assert "Connection works:" in page
    assert "<form" in page
    # the typed address is kept in its field for Connect, and only there
    assert re.search(r'<input type="password" name="url" value="[^"]*' + TOKEN, page)
    assert TOKEN not in _without_the_url_field(page)
    assert not Integration.objects.exists()


def test_validation_errors_are_shown_on_their_fields(owner_client, feed_server):
    response = owner_client.post(
        reverse("integrations:connect", args=["ical-feed"]),
        {"name": "", "url": "ftp://nowhere", "window_past_days": "-3", "window_future_days": "x"},
    )
    page = text(response)
    assert response.status_code == 400
    assert "Some settings need fixing" in page
    assert "Give this connection a name" in page
    assert "Calendar address must be a full http:// or https:// address." in page
    assert "Days of past events must be at least 0." in page
    assert "Days of future events must be a whole number." in page
    assert not Integration.objects.exists()


def test_two_of_one_type_need_different_names(owner_client, owner, feed_server):
    url = serve_calendar(feed_server)
    assert connect_ical(owner_client, url, name="iCal Feed").status_code == 302
    response = connect_ical(owner_client, url, name="ical feed")
    assert response.status_code == 400
    assert "You already have a iCal Feed called “ical feed”" in text(response)
    # the form suggests a free name for the next one
    form = text(owner_client.get(reverse("integrations:connect", args=["ical-feed"])))
    assert 'value="iCal Feed 2"' in form
    assert connect_ical(owner_client, url, name="iCal Feed 2").status_code == 302
    assert Integration.objects.for_user(owner).count() == 2


def test_coming_soon_types_cannot_be_connected(owner_client, catalogue):
    from tests.factories import make_type

    soon = make_type("someday", display_name="Someday Service", handler="", is_available=False)
    for method in ("get", "post"):
        response = getattr(owner_client, method)(reverse("integrations:connect", args=["someday"]))
        assert response.status_code == 404
        assert f"{soon.display_name} is coming soon: it cannot be connected yet." in text(response)
    response = owner_client.post(reverse("integrations:connect_test", args=["someday"]), {"name": "x"})
    assert response.status_code == 404
    assert not Integration.objects.exists()


def test_types_that_cannot_be_connected_say_why_on_their_connect_page(owner_client, catalogue):
    from django.utils.html import escape

    from integrations.models import IntegrationType

    fit = IntegrationType.objects.get(slug="google-fit")
    for method in ("get", "post"):
        response = getattr(owner_client, method)(reverse("integrations:connect", args=["google-fit"]))
        assert response.status_code == 404
        page = text(response)
        assert escape(f"Google Fit cannot be connected: {fit.unavailable_reason}") in page
        assert "coming soon" not in page
        for alternative in fit.alternatives:
            assert f'<a href="{alternative["url"]}">{escape(alternative["label"])}</a>' in page
    response = owner_client.post(reverse("integrations:connect_test", args=["instacart"]), {"name": "x"})
    assert response.status_code == 404
    assert "Instacart cannot be connected" in text(response)
    assert not Integration.objects.exists()


def test_archive_types_are_refused_even_if_marked_available(owner_client):
    from integrations.models import IntegrationType

    IntegrationType.objects.filter(slug="apple-health").update(is_available=True, handler="ical_feed")
    response = owner_client.get(reverse("integrations:connect", args=["apple-health"]))
    assert response.status_code == 404
    assert "archive" in text(response)


def test_oauth_types_go_to_the_consent_page(owner_client):
    from integrations.models import IntegrationType

    itype = IntegrationType.objects.filter(auth_kind="oauth2", is_available=True).first()
    if itype is None:
        itype = IntegrationType.objects.filter(auth_kind="oauth2").first()
        IntegrationType.objects.filter(pk=itype.pk).update(is_available=True, handler="ical_feed")
    response = owner_client.get(reverse("integrations:connect", args=[itype.slug]))
    assert response.status_code == 302
    assert response.url == reverse("oauth:consent", args=[itype.slug])


# -- edit ------------------------------------------------------------------------------------------


@pytest.fixture
def connected(owner_client, owner, feed_server):
    url = serve_calendar(feed_server)
    connect_ical(owner_client, url)
    return the_only_integration(owner), url


def test_the_edit_form_never_renders_the_stored_secret(owner_client, connected):
    integration, url = connected
    page = text(owner_client.get(reverse("integrations:edit", args=[integration.pk])))
    assert "Settings of Family calendar" in page
    assert "Replace credentials" in page
    assert "Leave blank to keep the current one" in page
    assert TOKEN not in page
    assert url not in page
    assert 'type="password" name="url"' in page
    assert 'name="url" value' not in page
    assert 'value="400"' in page  # plain settings are shown


def test_rename_keeps_the_credentials_and_does_not_retest(owner_client, connected, feed_server):
    integration, url = connected
    before = len(feed_server.log)
    response = owner_client.post(
        reverse("integrations:edit", args=[integration.pk]),
        {
            "name": "Kids' school",
            "url": "",
            "window_past_days": "400",
            "window_future_days": "400",
            "sync_interval_minutes": "30",
        },
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "Kids' school"
    assert secrets_for(integration, actor="user") == {"url": url}
    assert len(feed_server.log) == before  # a rename alone is not tested against the server
    assert AuditEvent.objects.filter(integration=integration, action="edit", detail__fields=["name"]).exists()


def test_failing_new_credentials_keep_the_old_ones(owner_client, connected, feed_server):
    integration, url = connected
    response = owner_client.post(
        reverse("integrations:edit", args=[integration.pk]),
        ical_form(feed_server.url(MISSING_PATH), name="Renamed too"),
    )
    page = text(response)
    assert response.status_code == 400
    assert "Nothing was found at" in page
    assert "Nothing was changed: the current settings are kept." in page
    # the address just typed stays in its field to be fixed; the stored one is never rendered
    assert f'value="{feed_server.url(MISSING_PATH)}"' in page
    assert TOKEN not in _without_the_url_field(page)
    assert url not in page
    integration.refresh_from_db()
    assert integration.name == "Family calendar"  # nothing of the failed edit was applied
    assert secrets_for(integration, actor="user") == {"url": url}
    assert integration.status == Status.CONNECTED


def test_working_new_credentials_replace_the_old_ones_and_clear_needs_reauth(owner_client, connected, feed_server):
    integration, _url = connected
    integration.set_status(Status.NEEDS_REAUTH, "The service refused our credentials.")
    other = feed_server.url("/other.ics")
    feed_server.serve("/other.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-CALNAME:Other\r\nEND:VCALENDAR\r\n")
    response = owner_client.post(reverse("integrations:edit", args=[integration.pk]), ical_form(other))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert secrets_for(integration, actor="user") == {"url": other}
    assert integration.status == Status.CONNECTED
    assert integration.account_identity == "Other"
    assert AuditEvent.objects.filter(integration=integration, action="reauth").exists()


def test_credentials_repaired_while_paused_resume_as_connected(owner_client, connected, feed_server):
    integration, _url = connected
    integration.set_status(Status.NEEDS_REAUTH, "The service refused our credentials.")
    owner_client.post(reverse("integrations:pause", args=[integration.pk]))
    other = feed_server.url("/repaired.ics")
    feed_server.serve("/repaired.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-CALNAME:Fixed\r\nEND:VCALENDAR\r\n")
    assert owner_client.post(reverse("integrations:edit", args=[integration.pk]), ical_form(other)).status_code == 302
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED  # still paused until the user resumes

    owner_client.post(reverse("integrations:resume", args=[integration.pk]))

    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    assert integration.status_detail == ""


def test_changing_settings_is_tested_and_saved(owner_client, connected):
    integration, _url = connected
    response = owner_client.post(
        reverse("integrations:edit", args=[integration.pk]),
        {
            "name": "Family calendar",
            "url": "",
            "window_past_days": "7",
            "window_future_days": "60",
            "sync_interval_minutes": "120",
        },
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.config == {"window_past_days": 7, "window_future_days": 60}
    assert integration.sync_interval_minutes == 120
    from django_q.models import Schedule

    assert Schedule.objects.get(name=f"sync-integration-{integration.pk}").minutes == 120


def test_a_disconnected_integration_is_reconnected_by_entering_its_secret_again(owner_client, connected):
    integration, url = connected
    owner_client.post(reverse("integrations:disconnect", args=[integration.pk]), {"proceed": "1"})
    integration.refresh_from_db()
    assert integration.status == Status.DISCONNECTED
    blank = owner_client.post(reverse("integrations:edit", args=[integration.pk]), ical_form(""))
    assert blank.status_code == 400
    assert "Calendar address is required." in text(blank)
    response = owner_client.post(reverse("integrations:edit", args=[integration.pk]), ical_form(url))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED
    assert secrets_for(integration, actor="user") == {"url": url}


def test_reconnecting_tells_the_workflows_it_paused_that_it_works_again(owner_client, owner, connected):
    """The workflows stay paused (their user resumes them), but their notice no longer says the
    integration is gone: workflows hear of it through the integration_reconnected signal."""
    from workflows.models import Workflow, WorkflowSource

    integration, url = connected
    workflow = Workflow.objects.create(owner=owner, name="Agenda")
    WorkflowSource.objects.create(workflow=workflow, integration=integration)
    owner_client.post(reverse("integrations:disconnect", args=[integration.pk]), {"proceed": "1"})
    workflow.refresh_from_db()
    assert (workflow.is_active, workflow.needs_attention) == (False, True)
    assert "which was disconnected on" in workflow.attention_reason

    owner_client.post(reverse("integrations:edit", args=[integration.pk]), ical_form(url))
    workflow.refresh_from_db()
    assert (workflow.is_active, workflow.needs_attention) == (False, True)
    assert f"{integration.name} works again" in workflow.attention_reason
    assert workflow.attention_reason.endswith("Resume this workflow to run it again.")
    page = text(owner_client.get(reverse("integrations:notifications")))
    assert "works again" in page


# -- IMAP against the real Dovecot peer --------------------------------------------------------------


def _imap_form(dovecot, user, password, **extra):
    return {
        "name": "Mailbox",
        "host": "127.0.0.1",
        "port": str(dovecot.port),
        "security": "none",
        "username": user,
        "password": password,
        "smtp_host": "",
        "smtp_port": "465",
        "smtp_security": "ssl",
        "folders": "INBOX",
        "max_body_kb": "64",
        "sync_interval_minutes": "15",
        **extra,
    }


@pytest.mark.peer
def test_imap_wrong_password_then_the_right_one(owner_client, owner, dovecot, allow_host, caplog):
    from tests.peers.dovecot import PASSWORD

    caplog.set_level("DEBUG")
    allow_host(dovecot.host)
    user = dovecot.new_user("ui")
    url = reverse("integrations:connect", args=["imap"])
    response = owner_client.post(url, _imap_form(dovecot, user, "not-the-password"))
    page = text(response)
    assert response.status_code == 400
    assert "The server refused the username or password" in page
    assert "not-the-password" not in page
    assert '<div class="field-errors" id="errors-password"><div class="field-error"' in page
    assert not Integration.objects.exists()

    response = owner_client.post(url, _imap_form(dovecot, user, PASSWORD))
    assert response.status_code == 302
    integration = the_only_integration(owner)
    assert integration.account_identity == user
    assert integration.config["username"] == user
    assert integration.config["host"] == "127.0.0.1"
    assert "password" not in integration.config
    assert secrets_for(integration, actor="user") == {"password": PASSWORD}
    for page_url in (integration.get_absolute_url(), reverse("integrations:edit", args=[integration.pk])):
        assert PASSWORD not in text(owner_client.get(page_url))
    assert "Connection test for a imap failed (auth)" in caplog.text  # logged, without the secrets
    assert PASSWORD not in caplog.text
    assert "not-the-password" not in caplog.text


@pytest.mark.peer
def test_imap_missing_folder_points_at_the_folders_field(owner_client, dovecot, allow_host):
    from tests.peers.dovecot import PASSWORD

    allow_host(dovecot.host)
    user = dovecot.new_user("ui")
    response = owner_client.post(
        reverse("integrations:connect_test", args=["imap"]),
        _imap_form(dovecot, user, PASSWORD, folders="INBOX\nArchive"),
        HTTP_HX_REQUEST="true",
    )
    page = text(response)
    assert "&#x27;Archive&#x27;" in page
    assert "does not exist on the mail server" in page
    assert '<div class="field-errors" id="errors-folders" hx-swap-oob="true"><div class="field-error"' in page


# -- errors that name no field land on the address field ---------------------------------------------


def test_a_refused_private_address_is_shown_on_the_address_field(owner_client):
    private = "http://10.255.255.1/calendar/private-abc/basic.ics"
    response = owner_client.post(
        reverse("integrations:connect_test", args=["ical-feed"]), ical_form(private), HTTP_HX_REQUEST="true"
    )
    page = text(response)
    assert "a private or internal address" in page
    assert '<div class="field-errors" id="errors-url" hx-swap-oob="true"><div class="field-error"' in page
    assert "private-abc" not in page

    response = owner_client.post(reverse("integrations:connect", args=["ical-feed"]), ical_form(private))
    page = text(response)
    assert response.status_code == 400
    field = re.search(
        r'<div class="field field-invalid" id="field-url">.*?id="errors-url">(.*?)</div>\s*</div>', page, re.S
    )
    assert field, "the address field is highlighted"
    assert "a private or internal address" in field.group(1)
    # the typed address stays in its field, to be corrected rather than typed again
    assert re.search(r'<input type="password" name="url" value="[^"]*private-abc', page)
    assert not Integration.objects.exists()


def test_an_unknown_host_is_shown_on_the_imap_server_field(owner_client):
    form = {
        "name": "Work mail", "host": "no-such-host.invalid", "port": "993", "security": "ssl", "username": "me",
        "password": "pw", "smtp_port": "587", "smtp_security": "starttls", "folders": "INBOX", "max_body_kb": "64",
        "sync_interval_minutes": "15",
    }  # fmt: skip
    response = owner_client.post(reverse("integrations:connect_test", args=["imap"]), form, HTTP_HX_REQUEST="true")
    page = text(response)
    assert "could not be found" in page
    assert '<div class="field-errors" id="errors-host" hx-swap-oob="true"><div class="field-error"' in page
    assert '<div class="field-errors" id="errors-password" hx-swap-oob="true"></div>' in page


def test_one_creation_path_for_forms_and_oauth_refuses_a_name_taken_meanwhile(owner):
    """connections.create is what the connect form, the API and the OAuth callback all use: a
    second submit that passed validation before the first was saved gets a sentence, not a 500."""
    from integrations import connections
    from tests.factories import make_type

    itype = make_type("test-feed")
    prepared = connections.Prepared(itype=itype, name="Family", interval=60, config={}, secrets={"password": "x"})
    first = connections.create(owner, prepared, "alice@example.com")
    assert (first.status, first.account_identity, first.sync_interval_minutes) == ("connected", "alice@example.com", 60)
    assert secrets_for(first, actor="user") == {"password": "x"}
    with pytest.raises(connections.Problem) as refused:
        connections.create(owner, prepared, "alice@example.com")
    assert refused.value.message == "You already have a Test Feed called “Family”."
    assert refused.value.field == connections.NAME_FIELD
    assert Integration.objects.filter(user=owner).count() == 1
