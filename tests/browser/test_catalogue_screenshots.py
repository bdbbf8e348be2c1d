"""The pages the README shows for issues #9 and #11, in real headless Chromium, each asserting what
it shows: an Apple Health export uploading with its progress bar part-way (one chunk held back by
the test, so the bar stands still for the picture), the same export imported by a real worker into
an integration whose page draws the daily charts; the gallery's honest cards (Not possible with the
reason, Zapier and IFTTT leading to the automate page), the automate page, and YNAB's connect page.

Screenshots go to test-artifacts/browser/; with UPDATE_SCREENSHOTS=1 (`make screenshots`) they are
also copied to docs/screenshots/ (upload-progress.png, archive-imported.png, gallery-honest.png,
automate.png, finance-ynab.png). The data is generated here, never a real person's.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.browser.conftest import log_in, worker_log
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.peer]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_SCREENSHOT = 400 * 1024
CHUNK = 8 * 1024
HELD_AFTER = 5  # chunks let through before the test holds one back
LAST_DAY = datetime.date(2026, 11, 30)


def publish(page, artifacts: Path, name: str, **kwargs) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    assert path.stat().st_size < MAX_SCREENSHOT, f"{path.name} is {path.stat().st_size // 1024} KB"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # `make screenshots`; tests never write docs/ otherwise
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


# -- a generated Apple Health export: 30 days of steps, sleep and heart rate ---------------------------

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ATTLIST Record type CDATA #REQUIRED unit CDATA #IMPLIED type CDATA #REQUIRED>
]>
<HealthData locale="en_US">
 <ExportDate value="2026-11-30 22:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth=""/>
"""


def _record(kind, start, end, value, unit="count", source="Test iPhone"):
    return (
        f' <Record type="{kind}" sourceName="{source}" unit="{unit}" creationDate="{end:%Y-%m-%d %H:%M:%S} +0100"'
        f' startDate="{start:%Y-%m-%d %H:%M:%S} +0100" endDate="{end:%Y-%m-%d %H:%M:%S} +0100" value="{value}"/>\n'
    )


def health_export(tmp_path) -> tuple[Path, dict[datetime.date, int]]:
    """export.zip (stored, not deflated: a file of some size, so the bar moves in many chunks) and the
    steps per day it holds."""
    body, steps_per_day = [], {}
    for back in range(30):
        day = LAST_DAY - datetime.timedelta(days=back)
        total = 0
        for hour in range(7, 22):  # a walk every hour, more at the weekend
            steps = 180 + (day.toordinal() * 37 + hour * 53) % 420 + (250 if day.weekday() >= 5 else 0)
            start = datetime.datetime.combine(day, datetime.time(hour, 5))
            body.append(
                _record("HKQuantityTypeIdentifierStepCount", start, start + datetime.timedelta(minutes=20), steps)
            )
            total += steps
        steps_per_day[day] = total
        night = datetime.datetime.combine(day, datetime.time(0, 0)) - datetime.timedelta(minutes=40 + (back * 17) % 60)
        for n, state in enumerate(("AsleepCore", "AsleepDeep", "AsleepREM", "AsleepCore")):
            start = night + datetime.timedelta(minutes=n * 105)
            body.append(
                _record(
                    "HKCategoryTypeIdentifierSleepAnalysis",
                    start,
                    start + datetime.timedelta(minutes=105 - (back % 4) * 5),
                    f"HKCategoryValueSleepAnalysis{state}",
                    unit="",
                    source="Test Watch",
                )
            )
        for hour, bpm in ((6, 51 + back % 5), (13, 72 + back % 9), (18, 118 + (back * 7) % 40)):
            at = datetime.datetime.combine(day, datetime.time(hour, 0))
            body.append(_record("HKQuantityTypeIdentifierHeartRate", at, at, bpm, "count/min", "Test Watch"))
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("apple_health_export/export.xml", HEAD + "".join(body) + "</HealthData>\n")
    return path, steps_per_day


def test_an_apple_health_export_uploading_then_imported_with_daily_charts(
    new_page, live_server, worker, subprocess_env, settings, tmp_path, artifacts, catalogue
):
    from integrations.models import Integration, IntegrationType, JobKind, SyncJob, Upload, UploadStatus

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_CHUNK_MAX_BYTES = CHUNK
    subprocess_env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)  # the worker reads the same files
    worker([])
    owner = make_user("walker@example.com")
    archive, steps_per_day = health_export(tmp_path)
    size = archive.stat().st_size
    assert size > 10 * CHUNK

    page = new_page()
    log_in(page, owner.email)
    page.goto("/integrations/connect/apple-health/")
    page.get_by_text("Your archive stays on this server.").wait_for()

    # -- the upload, one chunk held back: the bar stands part-way -------------------------------------
    sent, held, release = [], [], []

    def network(route):
        if route.request.method == "PUT":
            if len(sent) >= HELD_AFTER and not release:
                held.append(route)  # answered later, by the test
                return
            sent.append(route.request.headers.get("content-range", ""))
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/.*"), network)
    page.locator("#archive-upload[data-ready]").wait_for(state="attached")  # its script has run
    page.locator("#archive-files").set_input_files(str(archive))
    row = page.locator("#upload-list .upload-row").first
    percent = 100 * HELD_AFTER * CHUNK // size
    row.get_by_text(f"{percent}% ·").wait_for()  # the page's own words: percent, bytes sent of the size
    assert 0 < percent < 100
    assert row.get_attribute("data-percent") == str(percent)
    assert row.locator(".progress").get_attribute("aria-valuenow") == str(percent)
    assert Upload.objects.get(user=owner).offset == HELD_AFTER * CHUNK  # what the server has: no more
    publish(page, artifacts, "upload-progress")

    # -- let it go on: to the end, then import it in the worker ---------------------------------------
    release.append(True)
    for route in held:
        route.continue_()
    row.get_by_text("✔ uploaded").wait_for()
    assert Upload.objects.get(user=owner).status == UploadStatus.COMPLETE
    page.locator("#uploaded-files input[name=upload]").first.wait_for()
    page.locator("#id_name").fill("My iPhone")
    page.locator('input[name="record_types"][value="heart_rate"]').check()
    page.get_by_role("button", name="Import").click()
    progress = page.locator(".job-progress")
    try:
        progress.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=90_000)
    except Exception:  # noqa: BLE001 - say why, with the worker's log
        raise AssertionError(f"the import did not succeed\n{worker_log(tmp_path)}") from None
    health = Integration.objects.get(user=owner, type=IntegrationType.objects.get(slug="apple-health"))
    job = SyncJob.objects.get(integration=health, kind=JobKind.BACKFILL)
    # One day series per record type, source and day (steps, sleep, heart rate), every sample inside.
    assert job.created == health.items.count() == 30 * 3
    assert sum(item.data["count"] for item in health.items.all()) == 30 * (15 + 4 + 3)

    # -- the integration's page: the daily charts of the export's last 30 days ------------------------
    page.goto(health.get_absolute_url())
    page.get_by_role("heading", name="Daily charts").wait_for()
    busiest = max(steps_per_day, key=steps_per_day.get)
    label = f"{busiest.day} {busiest:%b}: {steps_per_day[busiest]} steps"
    assert page.locator("svg title", has_text=label).count() == 1
    publish(page, artifacts, "archive-imported", full_page=True)


def test_the_gallery_the_automate_page_and_a_finance_connector(new_page, live_server, artifacts, catalogue):
    from integrations.models import IntegrationType

    owner = make_user("honest@example.com")
    page = new_page(height=1000)
    log_in(page, owner.email)

    # -- the gallery: what cannot be connected says why, Zapier and IFTTT lead to the automate page ----
    page.goto("/integrations/gallery/")
    cards = page.locator("article.type-card")
    cards.first.wait_for()
    assert cards.count() == IntegrationType.objects.count()
    fit = page.locator('article[data-slug="google-fit"]')
    assert fit.get_attribute("data-state") == "not_possible"
    assert IntegrationType.objects.get(slug="google-fit").unavailable_reason in fit.inner_text()
    assert fit.get_by_role("link", name="Download your Fit history with Google Takeout").is_visible()
    for slug in ("coursera", "instacart"):
        card = page.locator(f'article[data-slug="{slug}"]')
        assert card.get_attribute("data-state") == "not_possible"
        assert "Not possible" in card.inner_text()
    zapier = page.locator('article[data-slug="zapier"]')
    assert zapier.get_by_role("link", name="Set up in Zapier").is_visible()
    states = [card.get_attribute("data-state") for card in cards.all()]
    first_service = states.index("service")
    top = cards.nth(first_service).bounding_box()["y"]
    bottom = max(box["y"] + box["height"] for box in (card.bounding_box() for card in cards.all()[first_service:]))
    width = page.viewport_size["width"]
    publish(
        page,
        artifacts,
        "gallery-honest",
        full_page=True,
        clip={"x": 0, "y": top - 16, "width": width, "height": bottom - top + 32},
    )

    # -- the card leads to the automate page ---------------------------------------------------------
    zapier.get_by_role("link", name="Set up in Zapier").click()
    page.get_by_role("heading", name="Zapier and IFTTT").wait_for()
    assert page.url.endswith("/timeline/automate/#zapier-heading")
    assert page.get_by_role("heading", name='Trigger "New record" (REST Hook, instant)').is_visible()
    page.goto("/timeline/automate/")
    publish(page, artifacts, "automate")

    # -- a finance connector: YNAB's connect page ------------------------------------------------------
    ynab = IntegrationType.objects.get(slug="ynab")
    assert ynab.is_available
    page.goto("/integrations/connect/ynab/")
    page.get_by_role("heading", name=re.compile("YNAB")).first.wait_for()
    assert page.get_by_label(re.compile("Personal access token", re.I)).first.is_visible()
    publish(page, artifacts, "finance-ynab", full_page=True)
