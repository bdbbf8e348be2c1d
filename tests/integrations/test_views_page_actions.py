"""Connectors can add buttons to their integrations' pages without the page knowing about them."""

import pytest
from django.urls import reverse

from integrations.models import IntegrationType, Status
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")


def test_google_photos_pages_link_to_the_picker(owner, owner_client):
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    page = owner_client.get(photos.get_absolute_url()).content.decode()
    assert "Pick photos in Google Photos" in page
    assert reverse("oauth:photos_pick", args=[photos.pk]) in page


def test_other_types_and_inactive_integrations_get_no_extra_buttons(owner, owner_client):
    feed = make_integration(
        owner, IntegrationType.objects.get(slug="rss"), name="Feed", config={"url": "https://e.x/f"}
    )
    assert "Pick photos" not in owner_client.get(feed.get_absolute_url()).content.decode()
    photos = make_integration(
        owner, IntegrationType.objects.get(slug="google-photos"), name="Old", status=Status.DISCONNECTED
    )
    assert "Pick photos" not in owner_client.get(photos.get_absolute_url()).content.decode()
