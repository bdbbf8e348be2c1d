"""A workflow paused because its source was disconnected is offered back at the reconnect: its
message changes to say the source works again, and the integration page and notifications offer
Resume (issue 12: 28)."""

import pytest
from django.urls import reverse

from tests.integrations.ui import connect_ical, ical_form, serve_calendar, text, the_only_integration
from workflows.models import Workflow, WorkflowSource

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def paused_by_disconnect(owner_client, owner, feed_server):
    url = serve_calendar(feed_server)
    connect_ical(owner_client, url)
    calendar = the_only_integration(owner)
    workflow = Workflow.objects.create(owner=owner, name="Morning briefing")
    WorkflowSource.objects.create(workflow=workflow, integration=calendar)
    owner_client.post(reverse("integrations:disconnect", args=[calendar.pk]), {"proceed": "1"})
    workflow.refresh_from_db()
    assert not workflow.is_active
    assert "was disconnected" in workflow.attention_reason
    return calendar, workflow, url


def test_reconnecting_updates_the_message_and_offers_resume(owner_client, paused_by_disconnect):
    calendar, workflow, url = paused_by_disconnect
    response = owner_client.post(reverse("integrations:edit", args=[calendar.pk]), ical_form(url), follow=True)
    assert "Reconnected Family calendar" in text(response)
    workflow.refresh_from_db()
    assert not workflow.is_active  # the person decides
    assert workflow.attention_reason == "Family calendar works again. Resume this workflow to run it again."
    page = text(response)  # the integration's page, where the reconnect lands
    assert "The workflow Morning briefing is paused." in page
    assert "was disconnected" not in page
    assert "▶ Resume Morning briefing" in page
    notifications = text(owner_client.get(reverse("integrations:notifications")))
    assert "works again" in notifications
    assert reverse("workflows:resume", args=[workflow.pk]) in notifications

    back = calendar.get_absolute_url()
    response = owner_client.post(reverse("workflows:resume", args=[workflow.pk]), {"next": back})
    assert response.url == back
    workflow.refresh_from_db()
    assert workflow.is_active
    assert not workflow.needs_attention


def test_while_disconnected_no_resume_is_offered(owner_client, paused_by_disconnect):
    calendar, workflow, _url = paused_by_disconnect
    page = text(owner_client.get(calendar.get_absolute_url()))
    assert "▶ Resume Morning briefing" not in page
    response = owner_client.post(reverse("workflows:resume", args=[workflow.pk]), follow=True)
    assert "It cannot resume yet" in text(response)
    workflow.refresh_from_db()
    assert not workflow.is_active
