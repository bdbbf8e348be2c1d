"""The gallery (search, filters, HTMX partial, "N connected") and My integrations, with a fixed
number of SQL queries whatever the number of types and integrations."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from integrations.models import IntegrationType, JobKind, Status, SyncJob
from tests.factories import make_integration
from tests.integrations.ui import text

pytestmark = pytest.mark.usefixtures("catalogue")


def slugs(response) -> list[str]:
    return re.findall(r'data-slug="([^"]+)"', text(response))


def test_every_type_has_a_card_with_its_details(owner_client):
    response = owner_client.get(reverse("integrations:gallery"))
    page = text(response)
    assert response.status_code == 200
    assert len(slugs(response)) == IntegrationType.objects.count() >= 39
    ical = IntegrationType.objects.get(slug="ical-feed")
    assert ical.description in page
    assert "/static/icons/ical-feed.svg" in page
    assert 'aria-label="Connect iCal Feed"' in page
    assert "Source · Calendar" in page


def card_of(page: str, slug: str) -> str:
    return re.search(rf'<article[^>]*data-slug="{slug}".*?</article>', page, re.S).group(0)


def test_coming_soon_types_have_no_connect_button(owner_client):
    from tests.factories import make_type

    make_type("someday", display_name="Someday Service", handler="", is_available=False)
    page = text(owner_client.get(reverse("integrations:gallery")))
    card = card_of(page, "someday")
    assert 'data-state="coming_soon"' in card
    assert "Coming soon" in card
    assert "Connect" not in card
    assert reverse("integrations:connect", args=["someday"]) not in page


def test_types_that_cannot_be_connected_say_why_instead_of_coming_soon(owner_client):
    page = text(owner_client.get(reverse("integrations:gallery")))
    for slug in ("instacart", "coursera", "google-fit"):
        itype = IntegrationType.objects.get(slug=slug)
        card = card_of(page, slug)
        assert not itype.is_available
        assert 'data-state="not_possible"' in card
        assert "Not possible" in card
        assert "Coming soon" not in card
        assert escape(itype.unavailable_reason) in card
        assert "card-link" not in card  # no Connect button
        assert reverse("integrations:connect", args=[slug]) not in page
    fit = card_of(page, "google-fit")
    assert 'href="/integrations/connect/google-health/"' in fit  # the successor
    assert 'href="https://takeout.google.com/" rel="noopener noreferrer"' in fit
    assert 'href="/integrations/?domain=finance"' in card_of(page, "instacart")  # the charges reach the bank


def test_available_types_come_first(owner_client):
    order = slugs(owner_client.get(reverse("integrations:gallery")))
    usable = set(
        IntegrationType.objects.filter(is_available=True).exclude(auth_kind="oauth2").values_list("slug", flat=True)
    ) | set(IntegrationType.objects.exclude(service_url="").values_list("slug", flat=True))
    not_possible = set(IntegrationType.objects.exclude(unavailable_reason="").values_list("slug", flat=True))
    assert {"zapier", "ifttt"} <= usable
    assert {"coursera", "instacart", "google-fit"} <= not_possible
    flags = [slug in usable for slug in order]
    assert flags == sorted(flags, reverse=True)
    last = [slug in not_possible for slug in order]
    assert last == sorted(last)  # what never can be connected comes last


def test_search_matches_name_description_and_domain(owner_client):
    url = reverse("integrations:gallery")
    assert "ical-feed" in slugs(owner_client.get(url, {"q": "ical"}))  # name
    by_description = slugs(owner_client.get(url, {"q": "timetables"}))  # only in the iCal description
    assert by_description == ["ical-feed"]
    by_domain = slugs(owner_client.get(url, {"q": "finance"}))
    assert set(by_domain) == set(IntegrationType.objects.filter(domain="finance").values_list("slug", flat=True))
    assert slugs(owner_client.get(url, {"q": "CALENDAR feed"})) == ["ical-feed"]  # every word, any case
    nothing = owner_client.get(url, {"q": "zzzz-no-such-thing"})
    assert slugs(nothing) == []
    assert "No integration matches “zzzz-no-such-thing”" in text(nothing)


def test_filters_by_category_and_domain(owner_client):
    url = reverse("integrations:gallery")
    outputs = set(slugs(owner_client.get(url, {"category": "output"})))
    assert outputs == set(IntegrationType.objects.outputs().values_list("slug", flat=True))
    sources = set(slugs(owner_client.get(url, {"category": "source"})))
    assert sources == set(IntegrationType.objects.sources().values_list("slug", flat=True))
    both = set(slugs(owner_client.get(url, {"category": "both"})))
    assert (
        both == set(IntegrationType.objects.filter(category="both").values_list("slug", flat=True)) == outputs & sources
    )
    mail_sources = set(slugs(owner_client.get(url, {"category": "source", "domain": "mail"})))
    assert "imap" in mail_sources
    assert all(IntegrationType.objects.get(slug=s).domain == "mail" for s in mail_sources)
    available = set(slugs(owner_client.get(url, {"available": "1"})))
    # "Available now" means connectable here: no OAuth client is configured in this test, so the
    # OAuth types (shown as "not configured on this hub") are not among them.
    # Zapier and IFTTT are usable now too: services the hub offers, set up from the automate page.
    working = IntegrationType.objects.available().values_list("slug", "auth_kind")
    services = set(IntegrationType.objects.exclude(service_url="").values_list("slug", flat=True))
    assert services == {"zapier", "ifttt"}
    assert available == {slug for slug, auth_kind in working if auth_kind != "oauth2"} | services
    # nonsense filter values are ignored, not errors
    assert len(slugs(owner_client.get(url, {"category": "nope", "domain": "<x>"}))) == IntegrationType.objects.count()


def test_htmx_search_answers_only_the_results(owner_client):
    response = owner_client.get(
        reverse("integrations:gallery"), {"q": "mail"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-results"
    )
    page = text(response)
    assert page.lstrip().startswith('<section id="gallery-results"')
    assert "<html" not in page
    assert "<form" not in page
    assert "imap" in slugs(response)
    assert response["Vary"]
    assert "HX-Request" in response["Vary"]
    # the same URL without HTMX is the whole page (what the address bar shows after a live search)
    full = text(owner_client.get(reverse("integrations:gallery"), {"q": "mail"}))
    assert "<html" in full
    assert 'value="mail"' in full


def test_cards_count_my_integrations_of_each_type(owner_client, owner, other_user):
    ical = IntegrationType.objects.get(slug="ical-feed")
    make_integration(owner, ical, name="One")
    make_integration(owner, ical, name="Two")
    make_integration(other_user, ical, name="Not mine")
    page = text(owner_client.get(reverse("integrations:gallery")))
    card = re.search(r'<article[^>]*data-slug="ical-feed".*?</article>', page, re.S).group(0)
    assert "2 connected" in card
    assert 'aria-label="Connect another iCal Feed"' in card


def test_a_disconnected_integration_is_not_counted_as_connected(owner_client, owner):
    ical = IntegrationType.objects.get(slug="ical-feed")
    make_integration(owner, ical, name="Live")
    make_integration(owner, ical, name="Gone", status=Status.DISCONNECTED)
    page = text(owner_client.get(reverse("integrations:gallery")))
    card = re.search(r'<article[^>]*data-slug="ical-feed".*?</article>', page, re.S).group(0)
    assert "1 connected" in card


def test_a_live_search_pushes_a_clean_address(owner_client):
    response = owner_client.get(
        reverse("integrations:gallery"),
        {"q": "calendar", "category": "", "domain": ""},  # what the form sends
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    )
    assert response["HX-Push-Url"] == reverse("integrations:gallery") + "?q=calendar"
    cleared = owner_client.get(
        reverse("integrations:gallery"),
        {"q": "", "category": ""},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    )
    assert cleared["HX-Push-Url"] == reverse("integrations:gallery")


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("integrations:gallery"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


# -- My integrations ----------------------------------------------------------------------------------


def test_my_integrations_lists_status_last_sync_items_and_actions(owner_client, owner, other_user):
    from django.utils import timezone

    from integrations import counts
    from integrations.models import SyncedItem

    ical = IntegrationType.objects.get(slug="ical-feed")
    from datetime import timedelta

    good = make_integration(owner, ical, name="Family", last_synced_at=timezone.now() - timedelta(hours=2))
    make_integration(owner, ical, name="Broken", status=Status.NEEDS_REAUTH)
    make_integration(owner, ical, name="Resting", status=Status.PAUSED)
    make_integration(other_user, ical, name="Somebody else's")
    now = timezone.now()
    SyncedItem.objects.bulk_create(
        SyncedItem(user=owner, integration=good, kind="event", external_id=str(n), content_hash="x",
                   source_type="ical-feed", fetched_at=now, deleted_at=now if n == 0 else None)
        for n in range(4)
    )  # fmt: skip
    counts.recount()  # rows written directly, not by a sync: the live count rebuilt from them
    page = text(owner_client.get(reverse("integrations:mine")))
    assert "Family" in page
    assert "Broken" in page
    assert "Somebody else" not in page
    assert "✔</span> Connected" in page
    assert "⚠</span> Needs re-auth" in page
    assert "‖</span> Paused" in page
    assert "Never" in page
    assert "2\xa0hours ago" in page  # last sync
    assert (
        f'href="{reverse("integrations:items", args=[good.pk])}"><span id="item-count-{good.pk}">3</span></a>' in page
    )
    assert reverse("integrations:sync_now", args=[good.pk]) in page
    assert reverse("integrations:resume", args=[good.pk + 2]) in page  # the paused one can be resumed
    assert reverse("integrations:disconnect", args=[good.pk]) in page
    assert reverse("integrations:delete", args=[good.pk]) in page


def test_output_only_integrations_offer_no_sync_in_the_list(owner_client, owner):
    from datetime import timedelta

    from django.utils import timezone

    slack = make_integration(
        owner, IntegrationType.objects.get(slug="slack"), name="Team chat",
        last_used_at=timezone.now() - timedelta(hours=3),
    )  # fmt: skip
    webhook = make_integration(owner, IntegrationType.objects.get(slug="webhook"), name="Hook")
    page = text(owner_client.get(reverse("integrations:mine")))
    for integration in (slack, webhook):
        row = re.search(rf'<li class="card int-row" id="integration-{integration.pk}">.*?</li>', page, re.S).group(0)
        assert reverse("integrations:sync_now", args=[integration.pk]) not in row
        assert "Last sync" not in row
        assert "Last delivery" in row
    assert "3\xa0hours ago" in page  # Slack's last delivery
    assert "Never" in page  # the webhook has not delivered yet


def test_an_empty_list_points_to_the_gallery(owner_client):
    page = text(owner_client.get(reverse("integrations:mine")))
    assert "Nothing connected yet" in page
    assert reverse("integrations:gallery") in page


def test_a_running_job_shows_its_progress_in_the_list(owner_client, owner):
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"))
    SyncJob.objects.create(
        integration=integration, kind=JobKind.FULL, status="running", progress_done=5, progress_total=20
    )
    page = text(owner_client.get(reverse("integrations:mine")))
    assert 'aria-valuenow="25"' in page
    assert 'hx-trigger="every 1s"' in page


# -- a fixed number of queries ------------------------------------------------------------------------


def _many(owner, count):
    ical = IntegrationType.objects.get(slug="ical-feed")
    types = list(IntegrationType.objects.all())
    for n in range(count):
        itype = ical if n % 2 else types[n % len(types)]
        integration = make_integration(
            owner, itype, name=f"Integration {n}", status=Status.NEEDS_REAUTH if n % 7 == 0 else Status.CONNECTED
        )
        if n % 5 == 0:
            SyncJob.objects.create(integration=integration, status="running")


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("page", ["integrations:gallery", "integrations:mine"])
def test_pages_run_the_same_queries_for_5_or_200_integrations(client, page):
    from tests.factories import make_user

    small, big = make_user("small@example.com"), make_user("big@example.com")
    _many(small, 5)
    _many(big, 200)
    client.force_login(small)
    _queries(client, reverse(page))  # warm up (session, content types)
    few = _queries(client, reverse(page))
    client.force_login(big)
    _queries(client, reverse(page))
    many = _queries(client, reverse(page))
    assert few == many, f"{page}: {few} queries with 5 integrations, {many} with 200"
    assert many <= 6


def test_oauth_types_without_a_client_say_so_instead_of_failing(owner_client, catalogue):
    from integrations.models import IntegrationType, OAuthApp

    page = owner_client.get(reverse("integrations:gallery"), {"q": "Google Calendar"}).content.decode()
    card = page[page.index('data-slug="google-calendar"') :]
    card = card[: card.index("</article>")]
    assert "Not configured on this hub" in card
    assert "Connect" not in card.split("card-foot", 1)[1]

    OAuthApp.objects.create(integration_type=IntegrationType.objects.get(slug="google-calendar"), client_id="abc")
    page = owner_client.get(reverse("integrations:gallery"), {"q": "Google Calendar"}).content.decode()
    card = page[page.index('data-slug="google-calendar"') :]
    card = card[: card.index("</article>")]
    assert "Not configured on this hub" not in card
    assert reverse("oauth:consent", args=["google-calendar"]) in card
