"""The items page in real headless Chromium: a live search, then Older / Newer / Newest swap the
results in place (HTMX), keep the search and the kind in the address, and the Back button of the
browser is a normal history entry (the address holds the cursor)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import IntegrationType, SyncedItem
from tests.browser.conftest import wait_for_scripts
from tests.factories import PASSWORD, make_integration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.peer]


def test_older_newer_and_newest_keep_the_search_and_swap_in_place(new_page, catalogue):
    owner = make_user("pager@example.com")
    inbox = make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Inbox")
    now = timezone.now()
    SyncedItem.objects.bulk_create(
        SyncedItem(
            user=owner, integration=inbox, kind="message" if n % 4 else "event", external_id=f"INBOX/{n}",
            title=(f"Invoice {n:03}" if n % 2 else f"Newsletter {n:03}"), summary="Body", content_hash=str(n),
            source_type="imap", source_name="Inbox", fetched_at=now, occurred_at=now - datetime.timedelta(hours=n + 1),
        )
        for n in range(120)
    )  # fmt: skip

    page = new_page(width=1280, height=900)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(owner.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.goto(f"/integrations/{inbox.pk}/items/")
    results = page.locator("#items-results")
    expect(results.locator(".results-count")).to_contain_text("120 items")

    page.locator("#items-q").fill("invoice")  # the live search (HTMX), 60 matches
    expect(results.locator(".results-count")).to_contain_text("60 items matching")
    titles = results.locator("h3.item-title")
    expect(titles.first).to_have_text("Invoice 001")
    expect(titles).to_have_count(25)

    marker = page.evaluate("() => (window.__kept = 'same document')")  # a full page load would drop it
    page.get_by_role("link", name="Older →").click()
    expect(titles.first).to_have_text("Invoice 051")
    assert re.search(r"[?&]q=invoice&.*cursor=|[?&]cursor=.*&q=invoice|q=invoice&cursor=", page.url), page.url
    assert page.evaluate("() => window.__kept") == marker  # swapped in place
    page.get_by_role("link", name="Older →").click()
    expect(titles).to_have_count(10)
    expect(titles.last).to_have_text("Invoice 119")
    expect(page.locator("span[aria-disabled=true]", has_text="Older →")).to_be_visible()  # the end

    page.get_by_role("link", name="← Newer").click()
    expect(titles.first).to_have_text("Invoice 051")
    page.get_by_role("link", name="⇤ Newest").click()
    expect(titles.first).to_have_text("Invoice 001")
    assert page.evaluate("() => window.__kept") == marker

    # A kind (the badge links to it) is kept by the pages and by a new search.
    page.locator("#items-q").fill("")
    expect(results.locator(".results-count")).to_contain_text("120 items")
    results.locator("a.badge", has_text="event").first.click()
    expect(results.locator(".results-count")).to_contain_text("of kind event")
    expect(results.locator("a.badge", has_text="message")).to_have_count(0)
    wait_for_scripts(page)  # the badge is a plain link: a whole new page, whose search is live (htmx)
    page.locator("#items-q").fill("newsletter")
    expect(results.locator(".results-count")).to_contain_text("30 items matching “newsletter” of kind event")
    expect(titles).to_have_count(25)
    page.get_by_role("link", name="Older →").click()
    expect(titles).to_have_count(5)
    assert "kind=event" in page.url
    assert "q=newsletter" in page.url
    page.go_back()
    expect(titles).to_have_count(25)
