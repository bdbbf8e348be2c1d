"""Catalogue honesty: every card either connects, leads to a service the hub offers (Zapier,
IFTTT: they call the hub), or says plainly why it cannot be connected and what to use instead.
"Coming soon" is left only for a connector that is being built."""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from integrations import catalogue as loader
from integrations.models import ApiToken, CardState, Integration, IntegrationType
from tests.factories import make_type, make_user
from tests.integrations.ui import text

pytestmark = pytest.mark.usefixtures("catalogue")

# No card is left "coming soon": each connects, leads to a service page, or says why it cannot.
BEING_BUILT = set()  # nothing is left "coming soon"


def card_of(page: str, slug: str) -> str:
    return re.search(rf'<article[^>]*data-slug="{slug}".*?</article>', page, re.S).group(0)


def test_no_card_says_coming_soon_without_being_built():
    states = {itype.slug: itype.card_state for itype in IntegrationType.objects.all()}
    coming_soon = {slug for slug, state in states.items() if state == CardState.COMING_SOON}
    assert coming_soon <= BEING_BUILT
    assert {slug for slug, state in states.items() if state == CardState.NOT_POSSIBLE} == {
        "coursera",
        "instacart",
        "google-fit",
        "fitbit",
    }
    assert {slug for slug, state in states.items() if state == CardState.SERVICE} == {"zapier", "ifttt"}
    for itype in IntegrationType.objects.exclude(unavailable_reason=""):
        assert itype.unavailable_reason.strip(), itype.slug
        assert len(itype.unavailable_reason) <= 300, f"{itype.slug}: the reason is shown on a card: keep it short"
        assert not itype.is_available


def test_zapier_and_ifttt_cards_lead_to_the_automate_page(owner_client):
    automate = reverse("timeline:automate")
    page = text(owner_client.get(reverse("integrations:gallery")))
    for slug, name, anchor in (("zapier", "Zapier", "zapier-heading"), ("ifttt", "IFTTT", "ifttt-heading")):
        card = card_of(page, slug)
        assert 'data-state="service"' in card
        assert "Service the hub offers" in card
        assert "Coming soon" not in card
        link = re.search(r'<a class="[^"]*card-link[^"]*" href="([^"]+)"[^>]*>([^<]+)</a>', card)
        assert link, card
        assert link.group(1) == f"{automate}#{anchor}"
        assert link.group(2) == f"Set up in {name}"
        assert reverse("integrations:connect", args=[slug]) not in card
        # the page it leads to exists and carries the section the anchor names
        target = owner_client.get(link.group(1).split("#")[0])
        assert target.status_code == 200
        assert f'id="{anchor}"' in text(target)

    # "Available now" keeps them: they can be used now
    available = owner_client.get(reverse("integrations:gallery"), {"available": "1"})
    assert {"zapier", "ifttt"} <= set(re.findall(r'data-slug="([^"]+)"', text(available)))


def test_an_old_connect_link_to_zapier_goes_to_the_automate_page(owner_client):
    response = owner_client.get(reverse("integrations:connect", args=["zapier"]))
    assert response.status_code == 302
    assert response.url == reverse("timeline:automate") + "#zapier-heading"
    # a form post cannot create a Zapier integration: there is nothing to connect
    posted = owner_client.post(reverse("integrations:connect", args=["zapier"]), {"name": "x"})
    assert posted.status_code == 404
    assert "Zapier is a service the hub offers" in text(posted)
    assert not Integration.objects.exists()


def test_the_api_says_why_a_type_cannot_be_connected(owner):
    _token, plain = ApiToken.issue(owner, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    for slug, message, remediation in (
        ("coursera", "Coursera cannot be connected: Coursera's API is only for organisations", ""),
        ("google-fit", "Google Fit cannot be connected: Google closed", "Instead: Google Health"),
        ("ifttt", "IFTTT is a service the hub offers", "/timeline/automate/#ifttt-heading"),
    ):
        answer = api.post(
            f"/api/v1/integrations/{slug}/connect", data=json.dumps({"name": "x"}), content_type="application/json"
        )
        assert answer.status_code == 409
        error = answer.json()["error"]
        assert error["code"] == "not_connectable"
        assert error["message"].startswith(message), error
        assert remediation in error["remediation"]
    assert not Integration.objects.exists()


def test_the_signed_out_home_page_says_not_possible_and_service(client):
    page = text(client.get(reverse("home")))
    coursera = re.search(r'<div class="card type-card[^"]*" data-slug="coursera">.*?</div>\s*</div>', page, re.S).group(
        0
    )
    assert "Not possible" in coursera
    assert escape(IntegrationType.objects.get(slug="coursera").unavailable_reason) in coursera
    zapier = re.search(r'<div class="card type-card[^"]*" data-slug="zapier">.*?</div>\s*</div>', page, re.S).group(0)
    assert "Service the hub offers" in zapier
    assert "Coming soon" not in coursera + zapier


# -- the model and its admin ----------------------------------------------------------------------


def test_a_reason_and_a_working_connector_contradict_each_other():
    itype = make_type("contradiction", handler="ical_feed", is_available=True, unavailable_reason="No API at all.")
    with pytest.raises(ValidationError) as raised:
        itype.full_clean()
    assert "unavailable_reason" in raised.value.message_dict


@pytest.mark.parametrize(
    "alternatives",
    [
        [{"label": "Somewhere", "url": "javascript:alert(1)"}],
        [{"label": "Elsewhere", "url": "//evil.example/"}],
        [{"label": "", "url": "/integrations/"}],
        [{"url": "/integrations/"}],
        ["/integrations/"],
        {"label": "x", "url": "/"},
    ],
)
def test_alternatives_are_hub_paths_or_https_links(alternatives):
    itype = make_type("no-way", handler="", is_available=False, unavailable_reason="No API.", alternatives=alternatives)
    with pytest.raises(ValidationError) as raised:
        itype.full_clean()
    assert "alternatives" in raised.value.message_dict


def test_a_service_page_is_a_path_of_the_hub():
    itype = make_type("offsite", handler="", is_available=False, service_url="https://elsewhere.example/")
    with pytest.raises(ValidationError) as raised:
        itype.full_clean()
    assert "service_url" in raised.value.message_dict


def test_staff_edit_the_reason_in_the_admin_and_the_card_shows_it(client, owner_client):
    from tests.integrations.test_admin import _type_form

    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    coursera = IntegrationType.objects.get(slug="coursera")
    url = reverse("admin:integrations_integrationtype_change", args=[coursera.pk])
    form = text(client.get(url))
    for name in ("unavailable_reason", "alternatives", "service_url"):
        assert f'name="{name}"' in form
    new_reason = "Coursera still offers learners no API (checked again this year)."
    alternatives = [{"label": "Your certificates, as PDFs", "url": "https://www.coursera.org/accomplishments"}]
    saved = client.post(url, _type_form(coursera, unavailable_reason=new_reason, alternatives=alternatives))
    assert saved.status_code == 302, text(saved)[:2000]
    card = card_of(text(owner_client.get(reverse("integrations:gallery"))), "coursera")
    assert escape(new_reason) in card
    assert 'href="https://www.coursera.org/accomplishments"' in card

    # the staff's reason survives reloading the fixtures
    loader.load()
    assert IntegrationType.objects.get(slug="coursera").unavailable_reason == new_reason

    # and the admin refuses a reason on a type that works
    refused = client.post(
        url, _type_form(coursera, unavailable_reason=new_reason, handler="ical_feed", is_available=True)
    )
    assert refused.status_code == 200
    assert "has no reason to be unavailable" in text(refused)


def test_the_catalogue_api_says_the_state_the_reason_and_the_service_page(owner):
    _token, plain = ApiToken.issue(owner, "tests")
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/v1/integrations")
    assert answer.status_code == 200
    types = {t["slug"]: t for t in answer.json()["types"]}
    assert types["ical-feed"]["state"] == "available"
    assert types["ical-feed"]["unavailable_reason"] == ""
    fit = types["google-fit"]
    assert fit["state"] == "not_possible"
    assert fit["unavailable_reason"] == IntegrationType.objects.get(slug="google-fit").unavailable_reason
    assert [a["url"] for a in fit["alternatives"]] == [
        "/integrations/connect/google-health/",
        "https://takeout.google.com/",
    ]
    assert fit["links"] == {"connect": None, "page": None, "service": None}
    zapier = types["zapier"]
    assert zapier["state"] == "service"
    assert zapier["links"]["service"] == "/timeline/automate/#zapier-heading"
    assert zapier["links"]["connect"] is None
