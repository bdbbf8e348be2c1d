"""Staff actions in the admin go through the same lifecycle as the user's own buttons: pause and
resume keep "disconnected" and "needs re-auth" as they were; deleting an integration, its
credentials or a whole user revokes the grant at the provider and is audited."""

import pytest
from django.urls import reverse
from django_q.models import Schedule

from integrations.models import AuditEvent, Credential, Integration, IntegrationType, Status
from integrations.sync.schedules import schedule_name
from tests.factories import make_integration, make_user
from tests.integrations.revocation import REFRESH_TOKEN, RevocationEndpoint, oauth_integration
from tests.oauth.helpers import messages_of
from workflows.models import Workflow, WorkflowSource

pytestmark = pytest.mark.usefixtures("catalogue")
REAUTH_DETAIL = "The server refused the password. Enter the new password in the settings."


@pytest.fixture
def staff_client(client, db):
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def revocation(allow_host):
    endpoint = RevocationEndpoint()
    allow_host(endpoint.host)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def calendar(owner):
    itype = IntegrationType.objects.get(slug="ical-feed")
    return make_integration(owner, itype, name="Family", secrets={"url": "https://example.com/x.ics"})


def _action(client, action, *integrations):
    return client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": action, "_selected_action": [i.pk for i in integrations]},
        follow=True,
    )


def test_a_disconnected_integration_cannot_be_paused_or_resumed_back_to_connected(staff_client, calendar):
    calendar.set_status(Status.DISCONNECTED, "Disconnected: credentials removed; synced data kept.")
    Credential.objects.filter(integration=calendar).delete()

    paused = _action(staff_client, "pause", calendar)
    assert "Family is disconnected, so there is nothing to pause: reconnect it instead." in messages_of(paused)
    resumed = _action(staff_client, "resume", calendar)
    assert "None of the selected integrations was paused." in messages_of(resumed)

    calendar.refresh_from_db()
    assert calendar.status == Status.DISCONNECTED
    assert not Schedule.objects.filter(name=schedule_name(calendar.pk)).exists()


def test_pause_then_resume_keeps_needs_reauth_and_its_instructions(staff_client, calendar):
    calendar.set_status(Status.NEEDS_REAUTH, REAUTH_DETAIL)

    _action(staff_client, "pause", calendar)
    calendar.refresh_from_db()
    assert calendar.status == Status.PAUSED
    resumed = _action(staff_client, "resume", calendar)

    assert "Resumed as needs re-auth: Family." in messages_of(resumed)
    calendar.refresh_from_db()
    assert (calendar.status, calendar.status_detail) == (Status.NEEDS_REAUTH, REAUTH_DETAIL)
    assert AuditEvent.objects.filter(integration=calendar, action="resume", actor="staff").exists()


def test_pause_then_resume_of_a_connected_integration_connects_it_again(staff_client, calendar):
    _action(staff_client, "pause", calendar)
    resumed = _action(staff_client, "resume", calendar)
    assert "Resumed as connected: Family." in messages_of(resumed)
    calendar.refresh_from_db()
    assert calendar.status == Status.CONNECTED
    assert Schedule.objects.filter(name=schedule_name(calendar.pk)).exists()


def test_staff_cannot_type_a_status_in(staff_client, calendar):
    calendar.set_status(Status.DISCONNECTED, "Disconnected")
    page = staff_client.get(reverse("admin:integrations_integration_change", args=[calendar.pk])).content.decode()
    assert '<select name="status"' not in page


def test_deleting_an_integration_in_the_admin_revokes_audits_and_pauses_its_workflows(
    staff_client, owner, revocation, django_capture_on_commit_callbacks
):
    integration = oauth_integration(owner, revocation)
    workflow = Workflow.objects.create(owner=owner, name="Agenda")
    WorkflowSource.objects.create(workflow=workflow, integration=integration)
    url = reverse("admin:integrations_integration_delete", args=[integration.pk])
    assert staff_client.get(url).status_code == 200  # the confirmation page

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        staff_client.post(url, {"post": "yes"})
        assert revocation.revoked == []  # not while Django's delete transaction is open

    assert len(callbacks) == 1
    assert not Integration.objects.filter(pk=integration.pk).exists()
    assert revocation.revoked == [REFRESH_TOKEN]
    event = AuditEvent.objects.get(action="delete", integration_label="Work calendar (Google Calendar)")
    assert event.actor == "staff"
    assert event.detail["revocation"]["revoked"] is True
    assert REFRESH_TOKEN not in str(event.detail)
    workflow.refresh_from_db()
    assert not workflow.is_active
    assert workflow.needs_attention


def test_bulk_deleting_integrations_in_the_admin_revokes_each(
    staff_client, owner, revocation, django_capture_on_commit_callbacks
):
    first = oauth_integration(owner, revocation, name="Work")
    second = oauth_integration(owner, revocation, name="Home")

    with django_capture_on_commit_callbacks(execute=True):
        _action_delete = staff_client.post(
            reverse("admin:integrations_integration_changelist"),
            {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
        )
    assert _action_delete.status_code == 302

    assert not Integration.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert revocation.revoked == [REFRESH_TOKEN, REFRESH_TOKEN]
    assert AuditEvent.objects.filter(action="delete", actor="staff").count() == 2


def test_deleting_credentials_in_the_admin_disconnects_the_integration(
    staff_client, owner, revocation, django_capture_on_commit_callbacks
):
    integration = oauth_integration(owner, revocation)
    credential = Credential.objects.get(integration=integration)
    url = reverse("admin:integrations_credential_delete", args=[credential.pk])
    assert "Disconnect this integration?" in staff_client.get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"post": "yes"})

    integration.refresh_from_db()
    assert integration.status == Status.DISCONNECTED
    assert not Credential.objects.filter(integration=integration).exists()
    assert revocation.revoked == [REFRESH_TOKEN]
    assert AuditEvent.objects.filter(integration=integration, action="disconnect", actor="staff").exists()


def test_deleting_a_user_in_the_admin_revokes_their_grants(
    staff_client, revocation, django_capture_on_commit_callbacks
):
    leaving = make_user("leaving@example.com")
    integration = oauth_integration(leaving, revocation)

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("admin:auth_user_delete", args=[leaving.pk]), {"post": "yes"})

    assert not Integration.objects.filter(pk=integration.pk).exists()
    assert revocation.revoked == [REFRESH_TOKEN]
    event = AuditEvent.objects.get(action="delete", user=None)
    assert event.actor == "staff"
    assert event.detail["integrations"] == 1
    assert [r["revoked"] for r in event.detail["revocations"]] == [True]
    assert "leaving@example.com" not in str(event.detail)
