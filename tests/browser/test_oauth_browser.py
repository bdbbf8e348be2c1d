"""Connecting Google Calendar in real headless Chromium: gallery -> the hub's consent page -> the
local authorization server (django-oauth-toolkit: log in, authorize) -> back on the hub with the
integration connected -> Sync now, run by a real worker against the Calendar API contract fake.

The hub is browsed at 127.0.0.1 (not localhost): its redirect URI is then a loopback IP one, which
the authorization server accepts on any port (RFC 8252 7.3), so the live server's port works."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from tests.browser.conftest import worker_log
from tests.factories import PASSWORD, make_user
from tests.peers.oauth_server import PASSWORD as AUTHZ_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.peer]
ALICE = "alice@example.com"
SLUG = "google-calendar"


def _day(offset: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def test_connect_google_calendar_through_consent_and_the_authorization_server_then_sync(
    oauth_server, google_calendar_api, new_page, live_server, worker, settings, catalogue, artifacts, tmp_path
):
    from integrations.models import Integration, IntegrationType, SyncedItem

    hub = live_server.url.replace("localhost", "127.0.0.1")
    settings.SITE_URL = hub
    oauth_server.configure(SLUG, api_base_url=google_calendar_api.base_url)
    google_calendar_api.put_event(ALICE, {"id": "e1", "summary": "Dentist", "start": {"date": _day(3)}})
    google_calendar_api.put_event(ALICE, {"id": "e2", "summary": "Team lunch", "start": {"date": _day(4)}})
    worker([oauth_server.host, google_calendar_api.host])
    make_user("browser.oauth@example.com")
    itype = IntegrationType.objects.get(slug=SLUG)

    page = new_page()
    # -- log in to the hub -------------------------------------------------------------------------
    page.goto(f"{hub}/accounts/login/")
    page.locator("#id_login").fill("browser.oauth@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"^(?!.*accounts/login).*$"))

    # -- gallery -> the hub's consent page ------------------------------------------------------------
    page.goto(f"{hub}/integrations/gallery/?q=google+calendar")
    page.locator(f'a[href="{reverse("oauth:consent", args=[SLUG])}"]').first.click()
    page.get_by_role("heading", name="Connect Google Calendar").wait_for()
    for scope in itype.oauth_scopes:
        assert page.get_by_text(scope["purpose"]).is_visible()
    page.locator("#id_name").fill("Work calendar")
    page.screenshot(path=str(artifacts / "oauth-consent.png"), full_page=True)
    page.locator("#continue").click()

    # -- the authorization server: log in, then authorize --------------------------------------------
    page.wait_for_url(re.compile(rf"^{re.escape(oauth_server.url('/admin/login/'))}"))
    page.locator("#id_username").fill("alice")
    page.locator("#id_password").fill(AUTHZ_PASSWORD)
    page.locator("input[type=submit]").click()
    page.locator("#authorizationForm").wait_for()
    page.screenshot(path=str(artifacts / "oauth-authorize.png"), full_page=True)
    page.locator("input[name=allow]").click()

    # -- back on the hub, connected --------------------------------------------------------------------
    try:
        page.wait_for_url(re.compile(rf"^{re.escape(hub)}/integrations/\d+/"))
    except Exception:  # noqa: BLE001 - Playwright's timeout: report what the page shows
        raise AssertionError(
            f"not back on the integration page: {page.url}\n{page.inner_text('main')[:1500]}"
        ) from None
    page.get_by_text("is connected as alice@example.com").wait_for()
    integration = Integration.objects.get(name="Work calendar")
    assert integration.account_identity == ALICE
    assert integration.status in ("connected", "syncing")
    page.screenshot(path=str(artifacts / "oauth-connected.png"), full_page=True)

    # -- Sync now, run by the real worker --------------------------------------------------------------
    page.get_by_role("button", name="Sync now").click()
    progress = page.locator("#sync-panel .job-progress")
    try:
        progress.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=60_000)
    except Exception:  # noqa: BLE001 - Playwright's timeout: report what the page shows
        raise AssertionError("the sync did not finish\n" + worker_log(tmp_path)) from None
    assert set(SyncedItem.objects.filter(integration=integration).values_list("title", flat=True)) == {
        "Dentist",
        "Team lunch",
    }
    assert google_calendar_api.requests_to(r"/events$")[0].headers["Authorization"].startswith("Bearer ")
