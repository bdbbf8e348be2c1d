"""The pages load their JavaScript deferred: on a slow connection a person sees a page and can act on
it before its scripts have run. What they can press then must not silently do nothing. A test holds
a script back with page.route and lets it go only after looking at the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, hold_scripts, log_in
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.peer]

# ui.js carries the schedule presets' click handler (static/js, hashed names in CI).
PRESET_SCRIPTS = re.compile(r".*/static/js/ui(\.[0-9a-f]+)?\.js$")


def test_the_schedule_presets_show_only_once_their_script_can_act(new_page, catalogue):
    page = new_page()
    log_in(page, make_user("early.bird@example.com").email)
    release = hold_scripts(page, PRESET_SCRIPTS)
    page.goto("/workflows/new/", wait_until="commit")
    page.get_by_role("button", name="Create and add steps").wait_for()  # the whole form is there
    presets = page.locator("button[data-cron]")
    assert presets.count() > 1
    # A preset pressed now would fill nothing, and its click would not come back later.
    for index in range(presets.count()):
        expect(presets.nth(index)).to_be_hidden()

    release()
    preset = presets.last
    preset.click()  # waits until it is shown
    expect(page.locator("#id_schedule")).to_have_value(preset.get_attribute("data-cron"))
    expect(page.locator("#cron-preview")).to_contain_text("Next runs:")


def test_without_javascript_the_schedule_offers_its_presets_as_suggestions_only(browser, live_server, catalogue):
    user = make_user("no.script@example.com")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        log_in(page, user.email)
        page.goto("/workflows/new/")
        presets = page.locator("button[data-cron]")
        assert presets.count() > 1
        for index in range(presets.count()):
            expect(presets.nth(index)).to_be_hidden()  # a button that could never do anything
        # the field's own suggestions (a datalist) work without a script
        assert page.locator("#cron-presets option").count() == presets.count()
        assert page.locator("#id_schedule").get_attribute("list") == "cron-presets"
    finally:
        context.close()


HTMX = re.compile(r".*/static/django_htmx/htmx[^/]*\.js$")


def test_a_filter_chosen_and_words_typed_before_htmx_ran_are_answered_once_it_has(new_page, catalogue):
    page = new_page()
    log_in(page, make_user("quick.hands@example.com").email)
    release = hold_scripts(page, HTMX)  # the scripts after it (static/js) wait for it too: they run in order
    page.goto("/integrations/gallery/", wait_until="commit")
    results = page.locator("#gallery-results")
    results.locator("article[data-slug=ical-feed]").wait_for()  # every service, before any filter
    page.locator("label.chip-option", has_text="Outputs").click()
    page.get_by_placeholder("Search by name, description or domain…").fill("slack")
    assert results.locator("article[data-slug=ical-feed]").count() == 1  # nothing listened yet

    release()
    expect(page).to_have_url(re.compile(r"/integrations/gallery/\?(?=.*category=output)(?=.*q=slack)"))
    expect(results.locator("article[data-slug=ical-feed]")).to_have_count(0)
    expect(results.locator("article[data-slug=slack]")).to_have_count(1)
    expect(page.locator("label.chip-option", has_text="Outputs").locator("input")).to_be_checked()
