"""A sign-up form sent before timezone.js ran (a slow connection, a password manager that fills
and submits at once) has no zone in it. The account still gets the browser's zone: on the next page
the script has run, and the hub takes the zone it left in its cookie, once, for an account that
has none. Real Chromium, the script held back with page.route as a slow connection would."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import hold_scripts, wait_for_scripts
from tests.factories import PASSWORD
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.peer]

ZONE_SCRIPT = re.compile(r".*/static/js/timezone(\.[0-9a-f]+)?\.js$")
ZONE = "Europe/Vienna"


def test_a_sign_up_sent_before_the_zone_script_ran_gets_the_browsers_zone(new_page, catalogue, settings):
    settings.TIME_ZONE = "UTC"  # the hub runs on UTC, the person lives in Vienna
    page = new_page(timezone_id=ZONE)
    release = hold_scripts(page, ZONE_SCRIPT)
    page.goto("/accounts/signup/", wait_until="commit")
    page.locator("#id_email").fill("quick@example.com")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    assert page.locator("input[name=time_zone]").input_value() == ""  # the script has not run
    page.get_by_role("button", name=re.compile("sign up", re.I)).click()
    page.get_by_role("heading", name="My integrations").wait_for()
    person = get_user_model().objects.get(email="quick@example.com")
    assert person.preferences.time_zone == ""

    release()  # the script arrives at last, on the page after sign-up
    wait_for_scripts(page)
    wait_for(
        lambda: any(c["name"] == "browser_zone" and c["value"] == ZONE for c in page.context.cookies()),
        seconds=30,
        explain=lambda: str(page.context.cookies()),
    )
    page.goto("/integrations/")
    assert page.locator("#time-zone-label").inner_text() == ZONE
    person.preferences.refresh_from_db()
    assert person.preferences.time_zone == ZONE
