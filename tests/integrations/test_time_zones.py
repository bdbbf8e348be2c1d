"""Every person has a time zone (from the browser on sign-up, editable on the preferences page);
every time on pages and cards is shown in it, with the event's own zone where that shows another
time. Item lists open at today; dates carry the year only when it is not this year; items show
their integration's current name (issue 12: 20, 21, 26, 30)."""

import datetime
import re
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import SyncedItem, UserPreferences
from integrations.templatetags.hub import when
from tests.factories import PASSWORD, make_integration

ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")


@pytest.fixture(autouse=True)
def hub_on_utc(settings):
    settings.TIME_ZONE = "UTC"


def _item(integration, title, occurred_at, **data):
    return SyncedItem.objects.create(
        user=integration.user,
        integration=integration,
        kind="event",
        external_id=title,
        title=title,
        occurred_at=occurred_at,
        data=data,
        content_hash=title,
        source_type=integration.type.slug,
        source_name=integration.name,
        fetched_at=timezone.now(),
    )


@pytest.fixture
def zurich_owner(owner):
    UserPreferences.objects.create(user=owner, time_zone="Europe/Zurich")
    return owner


def test_sign_up_keeps_the_browsers_zone_and_ignores_a_made_up_one(client, db):
    client.post(
        reverse("account_signup"),
        {"email": "zurich@example.com", "password1": PASSWORD, "password2": PASSWORD, "time_zone": "Europe/Zurich"},
    )
    assert get_user_model().objects.get(email="zurich@example.com").preferences.time_zone == "Europe/Zurich"
    other = Client()
    other.post(
        reverse("account_signup"),
        {"email": "odd@example.com", "password1": PASSWORD, "password2": PASSWORD, "time_zone": "../../etc/passwd"},
    )
    assert get_user_model().objects.get(email="odd@example.com").preferences.time_zone == ""


def test_the_sign_up_form_is_the_hubs_own_with_errors_under_their_field(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "weak@example.com", "password1": "123", "password2": "123"}
    )
    page = response.content.decode()
    assert 'class="field field-invalid"' in page
    assert 'type="hidden" name="time_zone"' in page
    assert "data-browser-zone" in page
    assert "<p>" not in page.split('<form class="stack"')[1].split("</form>")[0]  # no as_p
    label = page.index('<label for="id_password1">')
    error = page.index('class="field-error"', page.index('<div class="field field-invalid">'))
    assert label < error  # the error stands under the password's label and input, not above them


def test_account_mails_name_and_link_the_site_url(client, db, settings):
    settings.SITE_URL = "https://hub.example.org"
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    client.post(reverse("account_signup"), {"email": "m@example.com", "password1": PASSWORD, "password2": PASSWORD})
    body = mail.outbox[-1].body
    assert "8000" not in body
    assert "testserver" not in body
    assert "hub.example.org" in body
    links = re.findall(r"https?://\S+", body)
    assert links
    assert all(link.startswith("https://hub.example.org/") for link in links)


def test_preferences_change_the_zone_and_refuse_an_unknown_one(client, owner):
    client.force_login(owner)
    page = client.get(reverse("preferences")).content.decode()
    assert '<option value="UTC" selected>' in page
    assert "data-use-browser-zone" in page
    response = client.post(reverse("preferences"), {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "Choose a time zone from the list" in response.content.decode()
    client.post(reverse("preferences"), {"time_zone": "Europe/Zurich"})
    assert owner.preferences.time_zone == "Europe/Zurich"
    assert "Times are shown in <a" in client.get(reverse("preferences")).content.decode()


def test_times_and_days_are_the_persons_own(client, zurich_owner):
    client.force_login(zurich_owner)
    feed = make_integration(zurich_owner, name="Work")
    # In winter 13:00 UTC is 14:00 in Zurich; Saturday 23:30 UTC is already Sunday there.
    _item(feed, "Lunch", datetime.datetime(2024, 1, 5, 13, 0, tzinfo=datetime.UTC), tzid="Europe/Zurich")
    _item(feed, "Brunch", datetime.datetime(2024, 1, 6, 23, 30, tzinfo=datetime.UTC), tzid="Europe/Zurich")
    _item(feed, "Call", datetime.datetime(2024, 1, 4, 13, 0, tzinfo=datetime.UTC), tzid="America/New_York")
    page = client.get(reverse("integrations:items", args=[feed.pk])).content.decode()
    assert "Europe/Zurich" in page  # the zone is named on the page
    assert re.search(r"Lunch.*?14:00</time>", page, re.S)
    assert re.search(r"Sunday 7 January 2024</h2>.*?Brunch", page, re.S)  # not Saturday
    # The New York meeting: 14:00 for the person, 08:00 in its own zone.
    assert re.search(r"Call.*?14:00 \(08:00 America/New_York\)</time>", page, re.S)
    assert "(14:00 Europe/Zurich)" not in page  # no second time where the zones agree


def test_the_list_opens_at_today_with_the_future_above_a_today_line(client, owner):
    client.force_login(owner)
    feed = make_integration(owner, name="Recurring")
    now = timezone.now()
    for day in range(1, 60):  # two months of daily future recurrences: more than two pages
        _item(feed, f"Future {day:02}", now + datetime.timedelta(days=day))
    _item(feed, "Yesterday's standup", now - datetime.timedelta(days=1))
    page = client.get(reverse("integrations:items", args=[feed.pk])).content.decode()
    assert "Yesterday&#x27;s standup" in page or "Yesterday's standup" in page
    line = page.index('class="today-line"')
    assert page.index("Future 01") < line < page.index("standup")
    assert "Future 59" not in page  # the far future is on the newer pages
    assert "upcoming items on the newer pages" in page


def test_the_year_is_shown_only_when_it_is_not_this_year():
    this_year = timezone.localdate().year
    assert str(this_year) not in when(datetime.datetime(this_year, 3, 4, 12, 0, tzinfo=datetime.UTC))
    assert "2019" in when(datetime.datetime(2019, 3, 4, 12, 0, tzinfo=datetime.UTC))


def test_items_show_the_integrations_current_name(client, owner):
    client.force_login(owner)
    feed = make_integration(owner, name="Old name")
    _item(feed, "Dentist", timezone.now() - datetime.timedelta(hours=2))
    feed.name = "New name"
    feed.save()
    page = client.get(reverse("integrations:all_items")).content.decode()
    assert ">New name</a>" in page
    assert "Old name" not in page


def test_workflow_cards_show_the_owners_zone(zurich_owner):
    from workflows.cards import Entry, _event_when

    with timezone.override(ZURICH):
        start = datetime.datetime(2024, 5, 3, 13, 0, tzinfo=datetime.UTC)
        text = _event_when(Entry(title="Call", when=start, data={"tzid": "America/New_York"}))
    assert text == "Fri 03 May 2024 15:00 (09:00 America/New_York)"


def test_latest_items_on_the_integration_page_are_not_the_far_future(client, owner, catalogue):
    from integrations.models import IntegrationType

    client.force_login(owner)
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Recurring")
    now = timezone.now()
    _item(feed, "Next year's standup", now + datetime.timedelta(days=300))
    _item(feed, "This morning's standup", now - datetime.timedelta(hours=3))
    page = client.get(feed.get_absolute_url()).content.decode()
    latest = page[page.index('id="latest-items"') :]
    assert "This morning" in latest
    assert "Next year" not in latest


def _page_zone(client) -> str:
    page = client.get(reverse("preferences")).content.decode()
    return re.search(r'<option value="([^"]+)" selected>', page).group(1)


def test_a_sign_up_sent_before_the_script_ran_takes_the_zone_the_browser_told_earlier(client, db):
    client.cookies["browser_zone"] = "Europe/Zurich"  # timezone.js, on the home page before
    client.post(reverse("account_signup"), {"email": "fast@example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert get_user_model().objects.get(email="fast@example.com").preferences.time_zone == "Europe/Zurich"
    assert _page_zone(client) == "Europe/Zurich"


def test_an_account_still_on_the_hubs_zone_takes_the_browsers_on_the_next_page(client, db):
    client.post(reverse("account_signup"), {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})
    person = get_user_model().objects.get(email="new@example.com")
    assert person.preferences.time_zone == ""  # the form went before timezone.js filled it in
    client.cookies["browser_zone"] = "Mars/Olympus"  # not a zone: ignored
    assert _page_zone(client) == "UTC"
    client.cookies["browser_zone"] = "Asia/Kolkata"  # the script ran on the page after sign-up
    assert _page_zone(client) == "Asia/Kolkata"
    person.preferences.refresh_from_db()
    assert person.preferences.time_zone == "Asia/Kolkata"

    # From then on the zone is the person's: another browser (a trip) does not change it.
    client.cookies["browser_zone"] = "America/New_York"
    assert _page_zone(client) == "Asia/Kolkata"


def test_a_zone_the_person_chose_is_never_replaced_by_the_browsers(client, owner):
    UserPreferences.objects.create(user=owner, time_zone="UTC")  # chosen on the preferences page
    client.force_login(owner)
    client.cookies["browser_zone"] = "Europe/Zurich"
    assert _page_zone(client) == "UTC"
    assert _page_zone(client) == "UTC"
    owner.preferences.refresh_from_db()
    assert owner.preferences.time_zone == "UTC"


def test_first_login_of_an_account_without_a_zone_takes_the_browsers(client, owner):
    assert not UserPreferences.objects.filter(user=owner).exists()  # made by an operator, say
    client.cookies["browser_zone"] = "Pacific/Auckland"
    client.post(reverse("account_login"), {"login": owner.email, "password": PASSWORD})
    assert _page_zone(client) == "Pacific/Auckland"
