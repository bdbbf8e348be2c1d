"""A new user's first day, in real headless Chromium: sign up, search the gallery, connect an iCal
feed and an IMAP mailbox against the real local peers (a wrong address and a wrong password
first), Sync now with a real worker until the progress bar reaches 100%, see the items, rename,
and delete with the warning about the workflow that uses the integration.

Screenshots go to test-artifacts/browser/ (git-ignored); with UPDATE_SCREENSHOTS=1 (`make screenshots`)
the best are copied to docs/screenshots/.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_scripts, worker_log
from tests.connectors.helpers import DATA
from tests.integrations.ui import FEED_PATH, MISSING_PATH, TOKEN, serve_calendar
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.peer]

EMAIL = "new.user@example.com"
PASSWORD = "a long and lovely passphrase 31"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAILS = ["01-plain-utf8.eml", "08-nested-mime.eml", "09-html-only.eml", "02-latin1.eml"]


def shot(page, artifacts: Path, name: str, *, full_page=False, publish=False, locator=None):
    path = artifacts / f"{name}.png"
    (locator or page).screenshot(path=str(path), **({} if locator else {"full_page": full_page}))
    # The test never writes into the repository unless asked to (`make screenshots`).
    if publish and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


def wait_for_sync(page, tmp_path, job, timeout=60_000):
    """Wait until the job's progress bar reports it finished; fail with the worker's log if not.
    That job's own bar: another one that finished earlier may still be on the page for a moment."""
    progress = page.locator(f"#sync-panel #job-progress-{job.pk}")
    try:
        progress.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(
            f"the sync did not finish: {progress.inner_text() if progress.count() else 'no progress'}\n"
            + worker_log(tmp_path)
        ) from None
    return progress


def test_a_new_user_connects_syncs_renames_and_deletes(
    new_page, live_server, feed_server, dovecot, allow_host, worker, artifacts, tmp_path, catalogue
):
    from django.contrib.auth import get_user_model

    from integrations.models import Integration, SyncedItem
    from tests.peers.dovecot import PASSWORD as MAIL_PASSWORD
    from workflows.models import Workflow, WorkflowSource

    allow_host(dovecot.host)  # feed_server opened itself already
    hosts = [feed_server.host, dovecot.host]  # the worker starts once the first sync is on the page
    calendar_url = serve_calendar(feed_server)
    mailbox = dovecot.new_user("browser")
    dovecot.deliver(mailbox, [(DATA / "mail" / name).read_bytes() for name in MAILS])

    page = new_page()
    # -- sign up ------------------------------------------------------------------------------------
    page.goto("/")
    page.get_by_role("link", name="Create your account").click()
    page.locator("#id_email").fill(EMAIL)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign up", re.I)).click()
    page.get_by_role("heading", name="My integrations").wait_for()
    assert page.get_by_text("Nothing connected yet").is_visible()
    shot(page, artifacts, "empty-start")

    # -- the gallery and its live search --------------------------------------------------------------
    page.get_by_role("link", name="Browse the gallery").click()
    page.get_by_role("heading", name="Integrations gallery").wait_for()
    wait_for_scripts(page)  # the filters below are live (htmx)
    cards = page.locator("#gallery-results article.type-card")
    total = cards.count()
    assert total >= 39
    shot(page, artifacts, "gallery-first-visit")
    page.locator("label.chip-option", has_text="Outputs").click()  # a category filter, applied live
    page.wait_for_url("**category=output**")
    page.locator("article[data-slug=slack]").wait_for()
    assert page.locator("article[data-slug=ical-feed]").count() == 0
    page.locator("label.chip-option", has_text="All").click()
    # Locator assertions, not wait_for_function: that one evals in the page, which the CSP forbids.
    expect(cards).to_have_count(total)
    searches = []
    page.on("request", lambda r: searches.append(r.url) if "/integrations/gallery/?" in r.url else None)
    search_box = page.get_by_placeholder("Search by name, description or domain…")
    # When each keystroke reached the page: a busy machine may pause between two for longer than
    # the 300 ms debounce, and that pause rightly makes a request of its own.
    search_box.evaluate(
        "e => { window.keyTimes = []; e.addEventListener('input', () => keyTimes.push(performance.now())); }"
    )
    search_box.press_sequentially("calendar", delay=40)
    expect(cards).not_to_have_count(total)
    # the last search's answer (a pause may have made an earlier one), shareable: back button works, no empty params
    expect(page).to_have_url(re.compile(r"/integrations/gallery/\?q=calendar$"))
    expect(page.locator("article[data-slug=spotify]")).to_have_count(0)
    page.get_by_role("heading", name="Integrations gallery").click()  # leaving the box fires "change"
    page.wait_for_timeout(600)
    key_times = page.evaluate("window.keyTimes")
    pauses = sum(later - earlier >= 300 for earlier, later in itertools.pairwise(key_times))
    assert len(key_times) == len("calendar")
    # one request per pause in typing (one in all, typed at 40 ms a key), none for leaving the box
    assert 1 <= len(searches) <= 1 + pauses, (searches, key_times)
    assert page.locator("article[data-slug=ical-feed]").is_visible()
    assert page.locator("article[data-slug=spotify]").count() == 0
    assert page.url.endswith("/integrations/gallery/?q=calendar")
    shot(page, artifacts, "gallery-search")
    page.locator("article[data-slug=ical-feed]").get_by_role("link", name="Connect iCal Feed").click()

    # -- connect the iCal feed: a wrong address first ----------------------------------------------------
    page.get_by_role("heading", name="Connect iCal Feed").wait_for()
    wait_for_scripts(page)  # Test connection answers in place (htmx)
    page.locator("#id_name").fill("Family calendar")
    page.get_by_label("Calendar address").fill(feed_server.url(MISSING_PATH))
    page.get_by_label("Days of past events").fill("400")
    page.get_by_label("Days of future events").fill("400")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    result.get_by_text("(HTTP 404)").wait_for()
    assert "Check the address" in result.inner_text()
    assert TOKEN not in page.content()
    shot(page, artifacts, "connect-test-error", publish=True)
    assert Integration.objects.count() == 0  # testing saved nothing

    page.get_by_label("Calendar address").fill(calendar_url)
    page.get_by_role("button", name="Test connection").click()
    result.get_by_text("Connection works").wait_for()
    page.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_text("Connected Family calendar").wait_for()
    wait_for_scripts(page)  # Sync now answers in the sync panel (htmx), not on the job's own page
    assert page.get_by_role("heading", name="Family calendar").is_visible()
    assert feed_server.requests_to(FEED_PATH)

    # -- Sync now: a real worker runs it, the progress bar polls itself to 100% -------------------------
    # Connecting queued the first sync. No worker runs yet, so the page is surely still empty, and
    # Sync now shows that same job waiting; then the worker starts and takes it.
    assert page.locator("#latest-items").get_by_text("No items yet.").is_visible()
    first = Integration.objects.get().sync_jobs.get()
    page.get_by_role("button", name="Sync now").click()
    page.locator(f"#job-progress-{first.pk}").get_by_text("waiting for a worker").wait_for()
    assert Integration.objects.get().sync_jobs.count() == 1
    worker(hosts)
    progress = wait_for_sync(page, tmp_path, first)
    assert "100%" in progress.inner_text()
    assert progress.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
    assert page.locator(f"#status-{Integration.objects.get().pk}").inner_text().strip().endswith("Connected")
    # the rest of the page catches up without a reload: latest items, their count and the health panel
    page.locator("#latest-items").get_by_text("No items yet.").wait_for(state="detached")
    count = SyncedItem.objects.filter(integration=Integration.objects.get(), deleted_at__isnull=True).count()
    assert page.locator(f"#item-count-{Integration.objects.get().pk}").inner_text() == str(count)
    assert page.locator("#health-panel dd").first.inner_text() != "0"  # the feed was fetched
    shot(page, artifacts, "sync-progress", publish=True, locator=page.locator("#sync-panel").locator(".."))
    page.get_by_role("link", name="See the items").first.click()
    page.get_by_role("heading", name="Items from Family calendar").wait_for()
    assert page.get_by_text("Labour Day").first.is_visible()
    calendar = Integration.objects.get(name="Family calendar")
    assert SyncedItem.objects.filter(integration=calendar).count() > 0

    # -- connect an IMAP mailbox: the wrong password first -------------------------------------------------
    page.goto("/integrations/gallery/?q=imap")
    page.locator("article[data-slug=imap]").get_by_role("link", name="Connect IMAP Mail", exact=True).click()
    page.get_by_role("heading", name="Connect IMAP Mail").wait_for()
    page.locator("#id_name").fill("Work mail")
    page.get_by_label("IMAP server").fill("127.0.0.1")
    page.get_by_label("IMAP port").fill(str(dovecot.port))
    page.get_by_label("IMAP security").select_option("none")
    page.get_by_label("Username").fill(mailbox)
    page.locator("#id_password").fill("definitely-wrong")
    page.get_by_role("button", name="Connect", exact=True).click()  # a plain submit tests first too
    page.locator("#errors-password").get_by_text("refused the username or password").wait_for()
    assert page.get_by_text("Nothing was saved.").is_visible()
    assert page.locator("#id_password").input_value() == ""  # never re-rendered
    shot(page, artifacts, "connect-form", publish=True)
    page.locator("#id_password").fill(MAIL_PASSWORD)
    page.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_text(f"Connected Work mail: {mailbox}").wait_for()
    wait_for_scripts(page)  # the first sync may show as finished at once: Sync now below needs htmx
    mail = Integration.objects.get(name="Work mail")
    # the first sync runs at once; after it, Sync now is a job of its own
    first = mail.sync_jobs.get()
    wait_for_sync(page, tmp_path, first)
    page.get_by_role("button", name="Sync now").click()
    again = wait_for(lambda: mail.sync_jobs.exclude(pk=first.pk).first(), seconds=60)
    wait_for_sync(page, tmp_path, again)
    page.get_by_role("link", name="See the items").first.click()
    page.get_by_role("heading", name="Items from Work mail").wait_for()
    assert page.get_by_text("HTML only").first.is_visible()
    assert MAIL_PASSWORD not in page.content()
    shot(page, artifacts, "items", publish=True)

    # -- the gallery now counts what is connected ---------------------------------------------------------
    page.goto("/integrations/gallery/")
    assert "1 connected" in page.locator("article[data-slug=imap]").inner_text()
    shot(page, artifacts, "gallery", publish=True)

    # -- rename --------------------------------------------------------------------------------------------
    page.goto(calendar.get_absolute_url())
    page.get_by_role("link", name="Settings").first.click()
    page.locator("#id_name").fill("School timetable")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_role("heading", name="School timetable").wait_for()
    shot(page, artifacts, "integration-detail", full_page=True, publish=True)

    # -- delete, warned about the workflow that uses it -----------------------------------------------------
    user = get_user_model().objects.get(email=EMAIL)
    workflow = Workflow.objects.create(owner=user, name="Morning briefing", description="Today's events by mail")
    WorkflowSource.objects.create(workflow=workflow, integration=calendar)
    page.reload()
    page.get_by_text("More ▾").click()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("heading", name="Delete “School timetable”?").wait_for()
    warning = page.locator(".workflow-warning")
    assert "Morning briefing" in warning.inner_text()
    shot(page, artifacts, "delete-warning", publish=True)
    page.get_by_role("button", name=re.compile("Proceed: Delete")).click()
    page.get_by_text("Deleted School timetable.").wait_for()
    assert page.get_by_text("1 workflow using it was paused.").is_visible()
    workflow.refresh_from_db()
    assert (workflow.is_active, workflow.needs_attention) == (False, True)
    assert not Integration.objects.filter(pk=calendar.pk).exists()
    assert SyncedItem.objects.filter(source_name="Family calendar").exists()  # kept: the box was not ticked
    shot(page, artifacts, "my-integrations", publish=True)

    # -- the same pages on a phone: none scrolls sideways ----------------------------------------------------
    mail = Integration.objects.get(name="Work mail")
    page.goto("/integrations/api-tokens/")
    page.get_by_label("Name").fill("phone check")
    page.get_by_role("button", name="Create token").click()  # the tokens page with a table
    phone = new_page(width=390, height=844)
    phone.context.add_cookies(page.context.cookies())
    main_pages = {
        "my-integrations": "/integrations/",
        "gallery": "/integrations/gallery/",
        "integration-detail": mail.get_absolute_url(),
        "items": f"/integrations/{mail.pk}/items/",
        "notifications": "/integrations/notifications/",
        "api-tokens": "/integrations/api-tokens/",
        "workflows": "/workflows/",
    }
    for name, url in main_pages.items():
        phone.goto(url)
        phone.locator("h1").first.wait_for()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} scrolls sideways on a phone ({width}px wide)"
        publish = name in ("my-integrations", "gallery")
        shot(phone, artifacts, f"mobile-{name}", full_page=name != "gallery", publish=publish)
