"""An integration's page and its remove dialog say what is true of it: an output-only integration
(Slack, Discord, a webhook, Mailchimp) offers no Sync now and explains what it is for; the delete
dialog words itself by whether there is anything to keep."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import counts
from integrations.models import Integration, IntegrationType, SyncedItem
from tests.factories import make_integration
from tests.integrations.ui import text
from workflows.models import Workflow, WorkflowOutput

pytestmark = pytest.mark.usefixtures("catalogue")

SYNC_PANELS = ("Sync now", "syncs on its own", "Sync history", "Latest items", 'id="sync-panel"')


@pytest.mark.parametrize("slug", ["slack", "discord", "webhook", "mailchimp"])
def test_output_only_integrations_say_what_they_are_for_instead_of_syncing(owner_client, owner, slug):
    itype = IntegrationType.objects.get(slug=slug)
    assert not itype.can_sync
    integration = make_integration(owner, itype, name="Announcements")
    page = text(owner_client.get(integration.get_absolute_url()))
    for words in SYNC_PANELS:
        assert words not in page, words
    assert reverse("integrations:sync_now", args=[integration.pk]) not in page
    assert "What it is for" in page
    assert f"workflows deliver their cards to {itype.display_name}" in page
    assert "Never: no workflow has delivered through it yet." in page
    assert "Create a workflow" in page


def test_an_output_lists_the_workflows_that_deliver_through_it_and_its_last_delivery(owner_client, owner):
    slack = make_integration(
        owner, IntegrationType.objects.get(slug="slack"), name="Team chat",
        last_used_at=timezone.now() - timedelta(hours=2),
    )  # fmt: skip
    briefing = Workflow.objects.create(owner=owner, name="Morning briefing")
    WorkflowOutput.objects.create(workflow=briefing, integration=slack)
    page = text(owner_client.get(slack.get_absolute_url()))
    purpose = re.search(r'<section [^>]*id="output-purpose">.*?</section>', page, re.S).group(0)
    assert "2\xa0hours ago" in purpose
    assert "1 workflow" in purpose
    assert f'<a href="{reverse("workflows:detail", args=[briefing.pk])}">Morning briefing</a>' in purpose


def test_a_source_keeps_its_sync_panels(owner_client, owner):
    feed = make_integration(owner, IntegrationType.objects.get(slug="rss"), name="News", sync_interval_minutes=30)
    page = text(owner_client.get(feed.get_absolute_url()))
    assert reverse("integrations:sync_now", args=[feed.pk]) in page
    assert "after that it syncs on its own every 30 minutes" in page
    assert "Sync history" in page
    assert "Latest items" in page
    assert "What it is for" not in page


def test_a_source_without_a_schedule_does_not_promise_one(owner_client, owner):
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    assert not photos.type.supports_scheduling
    page = text(owner_client.get(photos.get_absolute_url()))
    assert "Press <strong>Sync now</strong> to bring in the first data." in page
    assert "on its own" not in page


def test_the_delete_dialog_words_itself_by_case(owner_client, owner):
    feed = make_integration(owner, IntegrationType.objects.get(slug="rss"), name="Empty feed")
    page = text(owner_client.get(reverse("integrations:delete", args=[feed.pk])))
    assert "tick the box" not in page  # there is no box: nothing to delete with it
    assert 'name="delete_data"' not in page
    assert "It has no synced items, so no data is lost." in page

    now = timezone.now()
    SyncedItem.objects.create(user=owner, integration=feed, kind="entry", external_id="1", content_hash="h",
                              source_type="rss", fetched_at=now)  # fmt: skip
    counts.recount(Integration.objects.filter(pk=feed.pk))  # a row written directly, not by a sync
    page = text(owner_client.get(reverse("integrations:delete", args=[feed.pk])))
    assert "Its 1 synced item is kept, with where it came from, unless you tick the box below." in page
    assert "Also delete its 1 synced item" in page

    slack = make_integration(owner, IntegrationType.objects.get(slug="slack"), name="Chat")
    page = text(owner_client.get(reverse("integrations:delete", args=[slack.pk])))
    assert "synced item" not in page  # an output never had any
    page = text(owner_client.get(reverse("integrations:disconnect", args=[slack.pk])))
    assert "Workflows can no longer deliver through it, and its credentials are deleted." in page
    assert "Syncing stops" not in page


def test_settings_show_a_choice_as_the_form_offered_it_not_its_stored_value(owner_client, owner):
    mail = make_integration(
        owner, IntegrationType.objects.get(slug="imap"), name="Work mail",
        config={"host": "imap.example.com", "port": 143, "security": "none", "username": "me@example.com",
                "smtp_security": "ssl", "folders": ["INBOX"]},
    )  # fmt: skip
    page = text(owner_client.get(mail.get_absolute_url()))
    settings_card = re.search(r"<h2[^>]*>Settings</h2>.*?</section>", page, re.S).group(0)
    assert "None (unencrypted)" in settings_card
    assert "SSL/TLS" in settings_card
    assert ">none<" not in settings_card
    assert ">ssl<" not in settings_card


@pytest.mark.parametrize("slug", ["kindle-highlights", "apple-health"])
def test_an_import_only_integration_offers_an_import_not_a_sync_that_finds_nothing(owner_client, owner, slug):
    """Its data comes only from uploaded exports: Sync now, Re-sync everything and Backfill could only
    end in "Nothing was imported"; its page and its row offer Import a newer export instead."""
    imported = make_integration(owner, IntegrationType.objects.get(slug=slug), name="My export")
    sync_url = reverse("integrations:sync_now", args=[imported.pk])
    page = text(owner_client.get(imported.get_absolute_url()))
    assert sync_url not in page
    assert "Re-sync everything" not in page
    assert "Import a newer export" in page
    assert "Nothing imported yet" in page
    assert sync_url not in text(owner_client.get(reverse("integrations:mine")))
    answer = owner_client.post(sync_url, HTTP_HX_REQUEST="true")
    assert "Use Import a newer export on its page." in text(answer)
    assert not imported.sync_jobs.exists()


def test_a_source_with_an_export_import_still_syncs_on_request(owner_client, owner):
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="Music")
    page = text(owner_client.get(spotify.get_absolute_url()))
    assert reverse("integrations:sync_now", args=[spotify.pk]) in page
    assert "Import an export" in page
