"""Every flow also works as plain forms: the same browser with JavaScript turned off searches the
gallery, connects a feed, runs Sync now (the job page refreshes itself until the worker is done),
creates and revokes an API token, and follows a notification to its fix."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import WAIT_MS, worker_log
from tests.browser.test_new_user_journey import shot
from tests.factories import PASSWORD, make_user
from tests.integrations.ui import serve_calendar
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.peer]


def test_the_hub_works_with_javascript_off(browser, live_server, feed_server, worker, artifacts, tmp_path, catalogue):
    from integrations.models import Integration, Status

    worker([feed_server.host])
    calendar_url = serve_calendar(feed_server)
    make_user("plain@example.com")
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto("/accounts/login/")
        page.locator("#id_login").fill("plain@example.com")
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.get_by_role("heading", name="My integrations").wait_for()

        # the gallery's search and filters submit as a normal GET form
        page.goto("/integrations/gallery/")
        page.get_by_placeholder("Search by name, description or domain…").fill("ics")
        page.get_by_placeholder("Search by name, description or domain…").press("Enter")
        page.wait_for_url("**/gallery/?q=ics**")
        assert page.locator("article[data-slug=ical-feed]").is_visible()
        page.get_by_role("link", name="Connect iCal Feed").click()

        # the "Test connection" button posts the whole form to the test endpoint
        page.locator("#id_name").fill("Plain calendar")
        page.get_by_label("Calendar address").fill(calendar_url)
        page.get_by_role("button", name="Test connection").click()
        page.get_by_text("Connection works:").wait_for()
        assert page.get_by_label("Calendar address").input_value() == calendar_url  # kept, not typed again
        page.get_by_role("button", name="Connect", exact=True).click()
        page.get_by_text("Connected Plain calendar").wait_for()

        # Sync now goes to the job page, which refreshes itself until the job is done
        page.get_by_role("button", name="Sync now").click()
        page.wait_for_url("**/jobs/*/")
        try:
            page.locator(".job-progress[data-status=succeeded]").wait_for(timeout=60_000)
        except PlaywrightTimeout:
            raise AssertionError("the job page never showed the finished job\n" + worker_log(tmp_path)) from None
        assert "100%" in page.locator(".job-progress").inner_text()
        shot(page, artifacts, "job-page-no-js")

        # API tokens: created (shown once) and revoked with plain forms
        page.goto("/integrations/api-tokens/")
        page.get_by_label("Name").fill("backup script")
        page.get_by_role("button", name="Create token").click()
        token = page.locator("#new-token").input_value()
        assert token.startswith("mc_")
        shot(page, artifacts, "api-tokens")  # not published: it shows a (throwaway) token
        page.goto("/integrations/api-tokens/")
        assert token not in page.content()
        page.get_by_role("button", name="Revoke backup script").click()
        page.get_by_text("Revoked the token “backup script”").wait_for()

        # a notification links to the fix
        integration = Integration.objects.get(name="Plain calendar")
        integration.set_status(Status.NEEDS_REAUTH, "The service refused our credentials (HTTP 401).")
        page.goto("/integrations/notifications/")
        assert page.get_by_text("1 integration needs your attention").is_visible()
        shot(page, artifacts, "notifications", publish=True)
        page.get_by_role("link", name="Re-authenticate").click()
        page.get_by_role("heading", name="Settings of Plain calendar").wait_for()
        page.get_by_label("Calendar address").fill(calendar_url)
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Reconnected Plain calendar: Awkward Calendar (7 events).").wait_for()
        # reconnecting queues a sync at once, so the worker may hold it at "syncing" for a moment
        wait_for(
            lambda: Integration.objects.get(pk=integration.pk).status == Status.CONNECTED,
            seconds=60,
            explain=lambda: f"status {Integration.objects.get(pk=integration.pk).status}\n{worker_log(tmp_path)}",
        )
        assert "need your attention" not in page.content()
    finally:
        context.close()
