"""Synced text cannot reorder what a page shows with Unicode bidi controls (the "Trojan Source" /
RLO file-name trick, CVE-2021-42574): a mail attachment or photo named "Invoice \u202efdp.exe"
showed as "Invoice exe.pdf", and an override left open reversed the hub's own words after it on the
same line. Every HTML page and fragment shows such text in its real order: the explicit direction
controls are taken out (text in right-to-left scripts keeps its order, which comes from its letters)."""

import datetime

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity

pytestmark = pytest.mark.usefixtures("catalogue")

RLO, LRO, RLE, LRE, PDF = "\u202e", "\u202d", "\u202b", "\u202a", "\u202c"
RLI, LRI, FSI, PDI = "\u2067", "\u2066", "\u2068", "\u2069"
CONTROLS = [RLO, LRO, RLE, LRE, PDF, RLI, LRI, FSI, PDI]
SPOOFED = f"Invoice {RLO}fdp.exe"
HEBREW = "\u05e9\u05dc\u05d5\u05dd"  # "shalom": right-to-left by its own letters, no control needed


@pytest.fixture
def spoofed(owner):
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name=f"Work {LRE}cal{PDF}")
    when = timezone.now() - datetime.timedelta(hours=1)
    item = SyncedItem.objects.create(
        user=owner, integration=feed, kind="event", external_id="e1", title=SPOOFED,
        summary=f"{RLI}{HEBREW}{PDI} and {FSI}x{PDI} {LRO}abc", content_hash="h", occurred_at=when,
        fetched_at=timezone.now(), source_type="ical-feed", source_name=feed.name,
        data={"start": when.isoformat(), "location": f"Room {RLO}101", "attendees": [{"email": "a@example.com",
              "name": f"Ann {RLO}nosmhoJ"}]},
    )  # fmt: skip
    ingest(owner.pk, [item.pk])
    return feed, Entity.objects.get(user=owner, kind="event")


def _pages(feed, entity):
    return [
        "/integrations/",
        "/integrations/items/",
        f"/integrations/{feed.pk}/",
        f"/integrations/{feed.pk}/items/",
        f"/integrations/{feed.pk}/settings/",
        "/timeline/",
        "/timeline/?q=Invoice",
        f"/timeline/records/{entity.pk}/",
        f"/timeline/places/{entity.place_id}/",
        f"/timeline/people/{entity.entityperson_set.first().person_id}/",
    ]


def test_no_page_or_fragment_carries_a_bidi_control_and_the_name_reads_in_its_real_order(owner_client, spoofed):
    feed, entity = spoofed
    for url in _pages(feed, entity):
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = owner_client.get(url, **htmx)
            assert response.status_code == 200, url
            page = response.content.decode()
            assert int(response["Content-Length"]) == len(response.content), url
            for control in CONTROLS:
                assert control not in page, (url, htmx, hex(ord(control)))
    record = owner_client.get(f"/timeline/records/{entity.pk}/").content.decode()
    assert "Invoice fdp.exe" in record  # what the name really is, in the order it is stored
    assert HEBREW in record  # right-to-left text itself is untouched


def test_the_admin_too(admin_client, spoofed):
    feed, _ = spoofed
    item = SyncedItem.objects.get(external_id="e1")
    for url in (
        "/admin/integrations/synceditem/",
        f"/admin/integrations/synceditem/{item.pk}/change/",
        f"/admin/integrations/integration/{feed.pk}/change/",
    ):
        page = admin_client.get(url).content.decode()
        assert RLO not in page, url
        assert LRE not in page, url


def test_json_answers_keep_the_data_as_stored(owner_client, spoofed):
    """The API is for programs: it returns what was synced, byte for byte."""
    _, entity = spoofed
    answer = owner_client.get(f"/api/v1/records/{entity.pk}")
    assert answer.status_code == 200
    assert answer.json()["title"] == SPOOFED
