"""What a new user tripped on (issue 12), in real headless Chromium at a phone's width (390 px) and a
laptop's (1280 px), for a person in Europe/Zurich on a hub that runs on UTC:

sign-up in the hub's own form (the password error under its field) takes the browser's time zone;
"available" means the same on the home page and in the gallery; a wrong calendar address stays in
its field, with Show; connecting starts the first sync; items open at today, in the person's zone;
a changed window starts a full sync, and Re-sync everything / Backfill are on the page; a workflow
paused by a disconnect is offered back at the reconnect; the webhook output asks once how cards go
out; the history tables fit the phone and My integrations' columns line up.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import WAIT_MS, wait_for_scripts, worker_log
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.peer]

PERSON_ZONE = "Europe/Zurich"
ZURICH = zoneinfo.ZoneInfo(PERSON_ZONE)
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
EMAIL = "zurich.user@example.com"
PASSWORD = "a long and lovely passphrase 31"
TOKEN = "pr1vate-t0ken-77"
FEED = f"/calendars/{TOKEN}/family.ics"
MISSING = f"/calendars/{TOKEN}/nope.ics"


def _ics(now: datetime.datetime) -> tuple[str, dict]:
    """A feed around today: a meeting two days ago at 14:00 in Zurich, a brunch last Sunday at 00:30
    in Zurich (Saturday evening in UTC) and a daily New York standup for the next 60 days."""
    local_today = now.astimezone(ZURICH).date()
    meeting = datetime.datetime.combine(local_today - datetime.timedelta(days=2), datetime.time(14, 0))
    sunday = local_today - datetime.timedelta(days=(local_today.weekday() + 1) % 7 or 7)
    brunch = datetime.datetime.combine(sunday, datetime.time(0, 30))
    standup = datetime.datetime.combine(local_today + datetime.timedelta(days=1), datetime.time(9, 0))

    def stamp(value):
        return value.strftime("%Y%m%dT%H%M%S")

    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//MetaCortex tests//EN",
            "X-WR-CALNAME:Family",
            "BEGIN:VEVENT",
            "UID:meeting@test",
            f"DTSTAMP:{stamp(meeting)}Z",
            f"DTSTART;TZID=Europe/Zurich:{stamp(meeting)}",
            f"DTEND;TZID=Europe/Zurich:{stamp(meeting + datetime.timedelta(hours=1))}",
            "SUMMARY:Zurich meeting",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:brunch@test",
            f"DTSTAMP:{stamp(brunch)}Z",
            f"DTSTART;TZID=Europe/Zurich:{stamp(brunch)}",
            f"DTEND;TZID=Europe/Zurich:{stamp(brunch + datetime.timedelta(hours=1))}",
            "SUMMARY:Sunday brunch",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:standup@test",
            f"DTSTAMP:{stamp(standup)}Z",
            f"DTSTART;TZID=America/New_York:{stamp(standup)}",
            f"DTEND;TZID=America/New_York:{stamp(standup + datetime.timedelta(minutes=15))}",
            "RRULE:FREQ=DAILY;COUNT=60",
            "SUMMARY:New York standup",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    first_standup = standup.replace(tzinfo=NEW_YORK)
    expected = {
        "meeting": "14:00",
        "sunday": sunday,
        "standup": f"{first_standup.astimezone(ZURICH):%H:%M} ({first_standup:%H:%M} America/New_York)",
    }
    return body, expected


def _no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def _wait_for_job(page, tmp_path, integration, kind: str, *, after: int = 0, timeout=60_000):
    """Wait for the integration's first job newer than job `after` to show as succeeded on the page."""
    job = wait_for(
        lambda: integration.sync_jobs.filter(pk__gt=after).order_by("pk").first(),
        seconds=timeout / 1000,
        explain=lambda: f"no {kind} sync was queued: " + page.locator("main").inner_text()[:500],
    )
    assert job.get_kind_display() == kind
    progress = page.locator(f"#job-progress-{job.pk}")
    try:
        progress.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=timeout)
    except PlaywrightTimeout:
        shown = page.locator("#sync-panel").inner_text() if page.locator("#sync-panel").count() else page.url
        raise AssertionError(f"the {kind} sync did not finish: {shown}\n" + worker_log(tmp_path)) from None
    return job.pk


@pytest.mark.parametrize("width", [390, 1280])
def test_what_a_new_user_tripped_on(
    width, browser, live_server, feed_server, worker, settings, artifacts, tmp_path, catalogue
):
    from django.contrib.auth import get_user_model

    from integrations.models import IntegrationType, JobKind
    from tests.factories import make_integration
    from workflows.models import Workflow, WorkflowSource

    settings.TIME_ZONE = "UTC"  # the hub runs on UTC, the person lives in Zurich
    body, expected = _ics(datetime.datetime.now(datetime.UTC))
    feed_server.serve(FEED, body)
    worker([feed_server.host])
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": 900},
        timezone_id=PERSON_ZONE,
        device_scale_factor=1,
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        # -- 22: the signed-out home page and the gallery agree on "available" ----------------------------
        page.goto("/")
        oauth_card = page.locator(".type-card", has=page.get_by_role("heading", name="Google Calendar", exact=True))
        assert "Not configured on this hub" in oauth_card.inner_text()
        assert "Available" not in oauth_card.inner_text()

        # -- 30 and 20: the hub's own sign-up form; the browser's zone is kept -----------------------------
        page.get_by_role("link", name="Create your account").click()
        wait_for_scripts(page)  # timezone.js puts the browser's zone in the form
        page.locator("#id_email").fill(EMAIL)
        page.locator("#id_password1").fill("short")
        page.locator("#id_password2").fill("short")
        page.get_by_role("button", name=re.compile("sign up", re.I)).click()
        error = page.locator(".field.field-invalid .field-error").first
        error.wait_for()
        wait_for_scripts(page)  # again on the re-rendered form
        label = page.locator("label[for=id_password1]")
        assert error.bounding_box()["y"] > label.bounding_box()["y"], "the error stands under its field"
        assert page.locator("#id_password1").evaluate("e => getComputedStyle(e).borderRadius") == "8px"
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"signup-error-{width}.png"), full_page=True)
        page.locator("#id_password1").fill(PASSWORD)
        page.locator("#id_password2").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("sign up", re.I)).click()
        page.get_by_role("heading", name="My integrations").wait_for()
        person = get_user_model().objects.get(email=EMAIL)
        assert person.preferences.time_zone == PERSON_ZONE
        assert page.locator("#time-zone-label").inner_text() == PERSON_ZONE

        page.goto("/integrations/gallery/?available=1")
        assert page.locator("article[data-slug=ical-feed]").is_visible()
        assert page.locator("article[data-slug=google-calendar]").count() == 0
        # 34: the whole card opens Connect, not only its button
        page.locator("article[data-slug=ical-feed]").evaluate("e => e.scrollIntoView({block: 'center'})")
        body_box = page.locator("article[data-slug=ical-feed] .card-body").bounding_box()
        page.mouse.click(body_box["x"] + 10, body_box["y"] + 5)  # on the description, not the button
        page.wait_for_url("**/integrations/connect/ical-feed/")
        page.get_by_role("heading", name="Connect iCal Feed").wait_for()

        # -- 24: a wrong address stays in its field, and Show reveals it ------------------------------------
        page.locator("#id_name").fill("Family")
        address = page.get_by_label("Calendar address")
        address.fill(feed_server.url(MISSING))
        page.get_by_role("button", name="Connect", exact=True).click()
        page.get_by_text("Nothing was found at").first.wait_for()
        address = page.get_by_label("Calendar address")
        assert address.input_value() == feed_server.url(MISSING)
        assert address.get_attribute("type") == "password"
        page.get_by_role("button", name="Show", exact=True).click()
        assert address.get_attribute("type") == "text"
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"connect-kept-address-{width}.png"), full_page=True)

        # -- 27: connecting starts the first sync at once -------------------------------------------------
        address.fill(feed_server.url(FEED))
        page.get_by_role("button", name="Connect", exact=True).click()
        page.get_by_text("The first sync has started.").wait_for()
        calendar = person.integrations.get()
        last = _wait_for_job(page, tmp_path, calendar, "Full")
        # 25: the subtitle is the account, not the test's findings
        assert calendar.account_identity == "Family"

        # -- 21 and 20: items open at today, times in the person's zone -----------------------------------
        page.goto(f"/integrations/{calendar.pk}/items/")
        today_line = page.locator("#today")
        today_line.wait_for()
        timeline = page.locator("ol.timeline").inner_text()
        assert timeline.index("New York standup") < timeline.index("Today") < timeline.index("Zurich meeting")
        meeting = page.locator("li.item", has_text="Zurich meeting")
        assert meeting.locator(".item-time").inner_text() == expected["meeting"]
        standup = page.locator("li.item", has_text="New York standup").last
        assert standup.locator(".item-time").inner_text() == expected["standup"]
        sunday = expected["sunday"]
        heading = f"{sunday:%A} {sunday.day} {sunday:%B}" + (
            f" {sunday.year}" if sunday.year != datetime.datetime.now(ZURICH).year else ""
        )
        brunch_day = page.locator("li.item", has_text="Sunday brunch").evaluate(
            "e => { let p = e.previousElementSibling; while (p && !p.classList.contains('timeline-day'))"
            " p = p.previousElementSibling; return p ? p.innerText : ''; }"
        )
        assert brunch_day.strip().lower() == heading.lower()
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"items-today-{width}.png"), full_page=True)

        # -- 19: a changed window starts a full sync; Re-sync everything and Backfill -------------------------
        page.goto(f"/integrations/{calendar.pk}/settings/")
        page.get_by_label("Days of past events").fill("20")
        page.get_by_role("button", name=re.compile("^Save")).click()
        page.get_by_text("A full sync has started").wait_for()
        wait_for_scripts(page)  # Re-sync and Backfill below answer in the sync panel (htmx)
        last = _wait_for_job(page, tmp_path, calendar, "Full", after=last)
        page.locator("summary", has_text="More sync options").click()
        page.get_by_role("button", name="Re-sync everything").click()
        last = _wait_for_job(page, tmp_path, calendar, "Full", after=last)
        if page.locator("details.sync-options").get_attribute("open") is None:  # still open after the swap
            page.locator("summary", has_text="More sync options").click()
        since = (datetime.datetime.now(ZURICH).date() - datetime.timedelta(days=10)).isoformat()
        page.locator("#backfill-since").fill(since)
        page.get_by_role("button", name="Backfill", exact=True).click()
        _wait_for_job(page, tmp_path, calendar, "Backfill", after=last)
        kinds = list(calendar.sync_jobs.order_by("pk").values_list("kind", flat=True))
        assert kinds == [JobKind.FULL, JobKind.FULL, JobKind.FULL, JobKind.BACKFILL]

        # -- 31: the sync history fits the phone; the rows of My integrations line up ------------------------
        page.goto(f"/integrations/{calendar.pk}/jobs/")
        page.locator("table.ledger").wait_for()
        _no_sideways_scroll(page)
        box = page.locator("table.ledger tbody tr").first.locator("td").last.bounding_box()
        assert box["x"] + box["width"] <= width, "the last column is not cut off"
        page.screenshot(path=str(artifacts / f"ledger-{width}.png"), full_page=True)
        webhook = IntegrationType.objects.get(slug="webhook")
        hook = make_integration(person, webhook, name="Team hook", secrets={"url": "https://example.com/hook"})
        page.goto("/integrations/")
        rows = page.locator(".int-row")
        assert rows.count() == 2
        if width >= 1280:  # on a phone the cells wrap under each other by design
            status_x = [rows.nth(i).locator(".int-cell").first.bounding_box()["x"] for i in range(2)]
            assert abs(status_x[0] - status_x[1]) < 1, status_x
        _no_sideways_scroll(page)

        # -- 29: the webhook output asks once how cards go out -------------------------------------------------
        workflow = Workflow.objects.create(owner=person, name="Morning briefing")
        WorkflowSource.objects.create(workflow=workflow, integration=calendar)
        page.goto(f"/workflows/{workflow.pk}/outputs/add/?integration={hook.pk}")
        page.get_by_label("Send").wait_for()
        assert "one chat message, mail or webhook request per run" in page.content()
        assert page.locator("[name=payload]").count() == 0

        # the schedule presets work from static/js (no inline handlers under the CSP)
        page.goto(f"/workflows/{workflow.pk}/edit/")
        page.get_by_role("button", name="Weekdays at 08:00").click()
        assert page.locator("#id_schedule").input_value() == "0 8 * * 1-5"

        # -- 28: paused by the disconnect, offered back at the reconnect ---------------------------------------
        page.goto(f"/integrations/{calendar.pk}/disconnect/")
        page.get_by_role("button", name=re.compile("Proceed: Disconnect")).click()
        page.get_by_text("was paused").first.wait_for()
        page.goto(f"/integrations/{calendar.pk}/settings/")
        page.get_by_label("Calendar address").fill(feed_server.url(FEED))
        page.get_by_role("button", name=re.compile("^Save")).click()
        page.get_by_text("Reconnected Family").wait_for()
        offer = page.locator(".resume-offer")
        assert "Family works again" in offer.inner_text()
        assert "disconnected" not in offer.inner_text()
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"resume-offer-{width}.png"), full_page=True)
        offer.get_by_role("button", name="Resume Morning briefing").click()
        page.get_by_text("Resumed Morning briefing.").wait_for()
        workflow.refresh_from_db()
        assert workflow.is_active

        # -- 20: the preferences page offers the browser's zone when another one is chosen ----------------
        page.goto("/accounts/preferences/")
        use_browser = page.locator("[data-use-browser-zone]")
        assert not use_browser.is_visible()  # already the browser's zone: nothing to offer
        page.get_by_label("Your time zone").select_option("UTC")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Times are now shown in UTC.").wait_for()
        wait_for_scripts(page)  # timezone.js names the browser's zone on the button
        assert use_browser.inner_text() == f"Use this browser's zone ({PERSON_ZONE})"
        use_browser.click()
        assert page.get_by_label("Your time zone").input_value() == PERSON_ZONE
        page.get_by_role("button", name="Save").click()
        page.get_by_text(f"Times are now shown in {PERSON_ZONE}.").wait_for()
        _no_sideways_scroll(page)
    finally:
        context.close()
