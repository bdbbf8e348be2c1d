"""The "Load images" button on a message really loads them. The page's Content-Security-Policy allowed images
from the hub only (img-src 'self' data:), so the browser refused the remote images the page then
linked: the button changed the page and still showed no image. The answer that shows one item's
images (the person asked, for that item) allows remote images; every other answer keeps them out."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")
NEWSLETTER = '<p>Hello</p><p><img src="https://images.example.com/pic.png" alt="pic"></p>'


def _img_src(response) -> list[str]:
    for directive in response["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        if name == "img-src":
            return values
    raise AssertionError("no img-src")


@pytest.fixture
def newsletter(owner):
    mailbox = make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Inbox")
    now = timezone.now()
    return SyncedItem.objects.create(
        user=owner, integration=mailbox, kind="message", external_id="INBOX/1/1", title="Newsletter",
        summary=NEWSLETTER, content_hash="1", source_type="imap", source_name="Inbox", fetched_at=now,
        occurred_at=now - datetime.timedelta(hours=1),
    )  # fmt: skip


def test_the_page_that_shows_an_items_images_lets_the_browser_load_them(owner_client, newsletter):
    url = reverse("integrations:items", args=[newsletter.integration_id])
    blocked = owner_client.get(url)
    assert "pic.png" not in blocked.content.decode()
    assert _img_src(blocked) == ["'self'", "data:"]
    for htmx in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "items-results"}):
        shown = owner_client.get(url, {"images": newsletter.pk}, **htmx)
        assert '<img src="https://images.example.com/pic.png"' in shown.content.decode()
        assert "https:" in _img_src(shown)
        assert "script-src 'self'" in shown["Content-Security-Policy"]  # nothing else is relaxed


def test_asking_for_images_of_an_item_not_on_the_page_changes_nothing(owner_client, newsletter, other_user):
    url = reverse("integrations:items", args=[newsletter.integration_id])
    assert _img_src(owner_client.get(url, {"images": "999999"})) == ["'self'", "data:"]
    assert _img_src(owner_client.get(url, {"images": "abc"})) == ["'self'", "data:"]
