"""The timeline in real headless Chromium, for a person in Europe/Zurich on a hub that runs on UTC,
at a phone's width (390 px) and a laptop's (1280 px): one event stored by an iCal feed and by CalDAV
(the same UID), a photo taken during it with coordinates and a mail from one of its attendees.

The day view shows the event once, with its two sources, at its Zurich time on its Zurich date (in
UTC it is still yesterday); Previous, Next and Today move between days and keep the kind filter;
the kind filter and search swap the results in place (HTMX); the record page lists both sources
and the photo "taken during" it; the photo's place page and the attendee's page list what
happened there and with her; nothing sticks out sideways.

Screenshots go to test-artifacts/browser/; with UPDATE_SCREENSHOTS=1 (`make screenshots`) the
laptop's are also copied to docs/screenshots/ (timeline.png, timeline-record.png, place.png).
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import zoneinfo
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_scripts
from tests.factories import PASSWORD, make_integration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.peer]

PERSON_ZONE = "Europe/Zurich"
ZURICH = zoneinfo.ZoneInfo(PERSON_ZONE)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_SCREENSHOT = 300 * 1024
KAUFLEUTEN = [47.372176, 8.535379]
ANN = {"name": "Ann Muster", "email": "ann@example.com"}


def publish(page, artifacts: Path, name: str, width: int, **kwargs):
    path = artifacts / f"{name}-{width}.png"
    page.screenshot(path=str(path), **kwargs)
    assert path.stat().st_size < MAX_SCREENSHOT, f"{path.name} is {path.stat().st_size // 1024} KB"
    # `make screenshots`; the tests never write docs/ otherwise, and the README shows the laptop's.
    if width == 1280 and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{name}.png")


def _store(integration, external_id, kind, when, title, **data):
    """A record as a sync stores it (see tests/timeline/test_pages.py)."""
    from integrations.models import SyncedItem

    return SyncedItem.objects.create(
        user=integration.user, integration=integration, kind=kind, external_id=external_id, title=title,
        occurred_at=when, data=data, content_hash=external_id, source_type=integration.type.slug,
        source_name=integration.name, fetched_at=timezone.now(),
    )  # fmt: skip


def _a_night_out(person, today: datetime.date) -> datetime.datetime:
    """A late show at 00:30 today in Zurich (23:30 yesterday in UTC), from a feed and from CalDAV;
    a photo 20 minutes in, a few metres from the stage; Ann's mail about the tickets the day before."""
    from integrations.models import IntegrationType
    from timeline.ingest import ingest

    def integration(slug, name):
        return make_integration(person, IntegrationType.objects.get(slug=slug), name=name)

    feed, dav = integration("ical-feed", "Concerts feed"), integration("caldav", "Home calendar")
    photos, mail = integration("google-photos", "Phone photos"), integration("imap", "Mailbox")
    start = datetime.datetime.combine(today, datetime.time(0, 30), tzinfo=ZURICH)
    end = start + datetime.timedelta(hours=1, minutes=30)
    show = {
        "uid": "late-show-2041@concerts.example", "start": start.isoformat(), "end": end.isoformat(),
        "tzid": PERSON_ZONE, "location": "Kaufleuten", "geo": KAUFLEUTEN, "attendees": [ANN],
        "organizer": {"name": "Kaufleuten", "email": "tickets@kaufleuten.example"},
    }  # fmt: skip
    taken = start + datetime.timedelta(minutes=20)
    sent = start - datetime.timedelta(days=1)
    items = [
        _store(feed, "late-show-2041@concerts.example", "event", start, "Late show at Kaufleuten", **show),
        _store(dav, "/calendars/me/home/late-show.ics", "event", start, "Late show at Kaufleuten", **show),
        _store(photos, "photo-2041", "photo", taken, "IMG_2041.jpg", taken_at=taken.isoformat(),
               geo={"lat": 47.37225, "lon": 8.53545}, width=4032, height=3024, sha256="2041"),
        _store(mail, "INBOX:41:1", "message", sent, "Tickets for tomorrow night", start=sent.isoformat(),
               message_id="<tickets-41@example.com>", to=[{"name": "", "email": person.email}],
               **{"from": ANN, "subject": "Tickets for tomorrow night"}),
    ]  # fmt: skip
    ingest(person.pk, [i.pk for i in items])
    return start


def _fits(page, width: int):
    """Nothing in the page sticks out sideways: every visible element of the main column ends
    within the viewport (a phone would otherwise scroll the whole page sideways or cut it off)."""
    wide = []
    for element in page.locator("main :visible").all():
        box = element.bounding_box()
        if box and box["width"] and box["x"] + box["width"] > width + 0.5:
            wide.append(f"{element.inner_text()[:40]!r} ends at {box['x'] + box['width']:.0f} px")
    assert not wide, f"sticks out of {width} px: {wide[:5]}"


def _results(page):
    return page.locator("#results")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_timeline_a_record_a_place_and_a_person_in_zurich(width, new_page, settings, artifacts, catalogue):
    from integrations.timezones import set_zone
    from timeline.models import Entity

    settings.TIME_ZONE = "UTC"  # the hub runs on UTC, the person lives in Zurich
    person = make_user("night.owl@example.com")
    set_zone(person, PERSON_ZONE)
    today = datetime.datetime.now(ZURICH).date()
    start = _a_night_out(person, today)
    assert start.astimezone(datetime.UTC).date() == today - datetime.timedelta(days=1)
    event = Entity.objects.get(user=person, kind="event")
    assert event.sources.count() == 2

    page = new_page(width=width, timezone_id=PERSON_ZONE)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(person.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.get_by_role("heading", name="My integrations").wait_for()

    # -- the day view: the event once, with two sources, at its Zurich time on its Zurich date ----
    page.goto("/timeline/")
    results = _results(page)
    show = results.locator("li.entity", has_text="Late show at Kaufleuten")
    expect(show).to_have_count(1)
    expect(show.locator("time")).to_have_text("00:30\u201302:00")
    expect(show).to_contain_text("2 sources")
    expect(results.locator(".timeline-day h2")).to_have_text(f"{today:%A} {today.day} {today:%B %Y} · today")
    expect(results.locator("li.entity", has_text="IMG_2041.jpg")).to_have_count(1)
    expect(results).not_to_contain_text("Tickets for tomorrow night")  # that was yesterday
    expect(results.locator(".results-count")).to_contain_text(f"times in {PERSON_ZONE}")
    _fits(page, width)
    publish(page, artifacts, "timeline", width, full_page=True)

    # -- the kind filter swaps the results in place, and the days around keep it --------------
    page.get_by_label("Kind").select_option("photo")
    expect(results.locator("li.entity", has_text="Late show at Kaufleuten")).to_have_count(0)
    expect(results.locator("li.entity", has_text="IMG_2041.jpg")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/timeline/\?.*kind=photo"))
    page.get_by_role("link", name="← Previous day").click()
    yesterday = today - datetime.timedelta(days=1)
    expect(results.locator(".results-count")).to_contain_text(f"{yesterday:%A} {yesterday.day} {yesterday:%B}")
    expect(page.get_by_label("Kind")).to_have_value("photo")
    expect(results).to_contain_text("Nothing on this day")  # the mail is yesterday, but not a photo
    wait_for_scripts(page)  # the day links load a whole page; its filter is live (htmx)
    page.get_by_label("Kind").select_option("")
    expect(results.locator("li.entity", has_text="Tickets for tomorrow night")).to_have_count(1)
    page.get_by_role("link", name="Next day →").click()
    expect(results.locator("li.entity", has_text="Late show at Kaufleuten")).to_have_count(1)
    page.get_by_role("link", name="Next day →").click()
    expect(results).to_contain_text("Nothing on this day")
    page.get_by_role("link", name="Today", exact=True).click()
    expect(results.locator(".timeline-day h2")).to_contain_text("today")
    expect(results.locator("li.entity", has_text="Late show at Kaufleuten")).to_have_count(1)
    wait_for_scripts(page)

    # -- search looks through every day ---------------------------------------------------------
    page.get_by_label("Search everything").fill("kaufleuten")
    expect(results.locator(".results-count")).to_contain_text("matching “kaufleuten”, across all days")
    expect(results.locator("li.entity", has_text="Late show at Kaufleuten")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=kaufleuten"))
    _fits(page, width)

    # -- the record: both sources, the photo taken during it, its attendee ------------------------
    results.get_by_role("link", name="Late show at Kaufleuten").click()
    expect(page.get_by_role("heading", name="Late show at Kaufleuten", level=1)).to_be_visible()
    expect(page.locator(".page-head time")).to_contain_text(
        f"{today.day} {today:%B %Y}, 00:30 \u2013 02:00 ({PERSON_ZONE})"
    )
    sources = page.locator("section", has=page.get_by_role("heading", name="Sources")).locator("tbody tr")
    expect(sources).to_have_count(2)
    expect(sources.nth(0)).to_contain_text("Concerts feed")
    expect(sources.nth(1)).to_contain_text("Home calendar")
    linked = page.locator("section", has=page.get_by_role("heading", name="Linked"))
    taken = linked.locator("li", has=page.get_by_text("taken during", exact=True))
    expect(taken.get_by_role("link", name="IMG_2041.jpg")).to_be_visible()
    expect(linked.locator("li", has_text="with an attendee")).to_contain_text("Tickets for tomorrow night")
    _fits(page, width)
    publish(page, artifacts, "timeline-record", width, full_page=True)

    # -- the photo, and its place: what happened there ----------------------------------------------
    taken.get_by_role("link", name="IMG_2041.jpg").click()
    expect(page.get_by_role("heading", name="IMG_2041.jpg", level=1)).to_be_visible()
    page.locator(".item-facts").get_by_role("link", name="Kaufleuten").click()
    expect(page.get_by_role("heading", name="Kaufleuten", level=1)).to_be_visible()
    expect(page.locator(".page-head")).to_contain_text("Zurich")
    here = page.locator("ol.timeline li.entity")
    expect(here.filter(has_text="IMG_2041.jpg")).to_have_count(1)
    expect(here.filter(has_text="Late show at Kaufleuten")).to_have_count(1)
    expect(here.filter(has_text="IMG_2041.jpg").locator("time")).to_contain_text(f"00:50 · {today:%a} {today.day}")
    _fits(page, width)
    publish(page, artifacts, "place", width, full_page=True)

    # -- the attendee: the event and her mail ---------------------------------------------------------
    page.goto(f"/timeline/records/{event.pk}/")
    page.locator("section", has=page.get_by_role("heading", name="People")).get_by_role(
        "link", name="Ann Muster"
    ).first.click()
    expect(page.get_by_role("heading", name="Ann Muster", level=1)).to_be_visible()
    together = page.locator("ol.timeline li.entity")
    expect(together.filter(has_text="Late show at Kaufleuten")).to_have_count(1)
    expect(together.filter(has_text="Tickets for tomorrow night")).to_have_count(1)
    _fits(page, width)
    page.screenshot(path=str(artifacts / f"person-{width}.png"), full_page=True)
