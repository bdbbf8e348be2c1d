"""The issue's "done when", in real headless Chromium: a user builds "new items from my RSS feed and
tomorrow's events from my calendar -> a daily digest to Slack and email" in the browser, runs it
now (a real `qcluster` worker runs the queued task), sees the cards and the execution log, edits
the template with its live preview, and sees the workflow run on its schedule.

Peers: the local HTTP server (RSS and iCal feeds), Slack's contract fake, aiosmtpd for the mail.
Screenshots of the editor and the execution log go to test-artifacts/; with UPDATE_SCREENSHOTS=1
(`make screenshots`) also to docs/screenshots/ (workflow-*.png).
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.browser.conftest import wait_for_scripts
from tests.factories import PASSWORD, make_integration, make_user
from tests.fakes.slack import SlackFake
from tests.waiting import wait_for
from tests.workflows.test_synced_items import ics, rss
from tests.workflows.worker import qcluster, tail

pytestmark = [pytest.mark.browser, pytest.mark.peer]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAX_SCREENSHOT = 300 * 1024


@pytest.fixture
def slack(allow_host, settings):
    fake = SlackFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"slack": f"{fake.url}/api", "slack_hooks": fake.url}
    yield fake
    fake.stop()


def publish(page, artifacts: Path, name: str, **kwargs) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    assert path.stat().st_size < MAX_SCREENSHOT, f"{name}.png is {path.stat().st_size // 1024} KB"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # `make screenshots`; tests never write docs/ otherwise
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


def _integrations(owner, feed_server, slack, smtp_server):
    from integrations.models import IntegrationType
    from tests.connectors.helpers import connect

    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    tz = timezone.get_current_timezone()

    def at(hour, minute=0):
        return datetime.datetime.combine(tomorrow, datetime.time(hour, minute), tzinfo=tz)

    feed_server.serve(
        "/blog.rss",
        rss(
            ("p1", "Django 6.0 released", 2),
            ("p2", "HTMX tips for server-rendered apps", 3),
            ("p3", "SQLite WAL explained", 4),
        ),
        content_type="application/rss+xml",
    )
    feed_server.serve(
        "/family.ics",
        ics(
            ("dentist", "Dentist", at(9), at(10)),
            ("school", "School play", at(17, 30), at(19)),
            ("ski", "Ski trip", tomorrow, tomorrow + datetime.timedelta(days=2)),
        ),
    )
    connect(owner, "rss", config={"url": feed_server.url("/blog.rss")}, name="Tech blog")
    connect(owner, "ical-feed", secrets={"url": feed_server.url("/family.ics")}, name="Family calendar")
    make_integration(
        owner, IntegrationType.objects.get(slug="slack"), name="Team Slack", secrets={"url": slack.hook_url()}
    )
    make_integration(
        owner,
        IntegrationType.objects.get(slug="imap"),
        name="My mailbox",
        config={"host": "imap.invalid", "username": "me@example.com", "smtp_host": "127.0.0.1",
                "smtp_port": smtp_server.port, "smtp_security": "none"},
        secrets={"password": "app-password"},
    )  # fmt: skip


def _add_source(page, name: str, window_label: str, tags: str):
    page.get_by_role("link", name=re.compile("Add a source")).click()
    wait_for_scripts(page)
    page.get_by_text(name, exact=True).click()  # the picker loads the schema-driven form (HTMX)
    page.get_by_label("Which items").select_option(label=window_label)
    page.get_by_label("Tags").fill(tags)
    page.get_by_role("button", name="Add source").click()
    page.get_by_text(f"Saved the source {name}.").wait_for()


def _add_output(page, name: str, fill):
    page.get_by_role("link", name=re.compile("Add an output")).click()
    wait_for_scripts(page)
    page.get_by_text(name, exact=True).click()
    page.get_by_role("heading", name="Live preview").wait_for()
    fill(page)
    page.get_by_role("button", name="Add output").click()
    page.get_by_text(f"Saved the output {name}.").wait_for()


def test_build_run_and_schedule_a_daily_digest_in_the_browser(
    new_page, live_server, feed_server, slack, smtp_server, allow_host, subprocess_env, artifacts, tmp_path, catalogue
):
    from django_q.models import Schedule
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from workflows.models import Card, Execution, Workflow
    from workflows.schedules import schedule_name

    allow_host(smtp_server.host)
    owner = make_user("digest.fan@example.com")
    _integrations(owner, feed_server, slack, smtp_server)
    log_path = tmp_path / "worker.log"
    hosts = [feed_server.host, slack.host, smtp_server.host]
    api_bases = {"slack": f"{slack.url}/api", "slack_hooks": slack.url}
    cluster = django_settings.Q_CLUSTER["name"]  # the live server enqueues under this name

    with qcluster(
        subprocess_env, log_path, cluster=cluster, allowed_hosts=hosts, api_bases=api_bases, same_broker=True
    ):
        page = new_page(width=1280, height=900)
        page.goto("/accounts/login/")
        page.locator("#id_login").fill(owner.email)
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        page.get_by_role("link", name="Workflows").click()
        page.get_by_role("heading", name="No workflows yet").wait_for()

        # -- build it ---------------------------------------------------------------------------------
        page.get_by_role("link", name="Create your first workflow").click()
        wait_for_scripts(page)  # the schedule presets (static/js) and their preview (htmx)
        page.get_by_label("Name").fill("Morning digest")
        page.get_by_label("Description").fill("New posts and tomorrow's plans, every morning")
        page.get_by_role("button", name="Every day at 07:00").click()
        page.locator("#cron-preview").get_by_text("Next runs:").wait_for()
        page.screenshot(path=str(artifacts / "workflow-create.png"), full_page=True)
        page.get_by_role("button", name="Create and add steps").click()
        page.get_by_role("heading", name="Morning digest").wait_for()

        _add_source(page, "Tech blog", "New since the last run", "news")
        _add_source(page, "Family calendar", "Tomorrow", "agenda")
        _add_output(page, "Team Slack", lambda p: p.get_by_label("Channel").fill("#daily-digest"))

        def email(p):
            p.get_by_label("Delivery").select_option(label="Send by SMTP")
            p.get_by_label("Recipients").fill("me@example.com")

        _add_output(page, "My mailbox", email)
        workflow = Workflow.objects.get(owner=owner, name="Morning digest")
        assert workflow.sources.count() == 2
        assert workflow.outputs.count() == 2
        assert page.get_by_text("Next run").is_visible()

        # -- run it now: a real worker picks up the queued task; the page polls until done ---------------
        wait_for_scripts(page)  # Run now answers in place (htmx)
        page.get_by_role("button", name="Run now").click()
        runs = page.locator("#runs")
        try:
            runs.locator(".badge", has_text="Success").first.wait_for(timeout=60_000)
        except PlaywrightTimeout:
            raise AssertionError(runs.inner_text() + "\n" + tail(log_path)) from None
        page.locator("#recent-cards").get_by_text("New from Tech blog").wait_for()
        assert page.locator("#recent-cards").get_by_text("Family calendar: tomorrow").is_visible()
        publish(page, artifacts, "workflow-editor", full_page=True)
        (message,) = slack.messages
        assert "Dentist" in str(message["blocks"])
        (mail,) = smtp_server.messages_to("me@example.com")
        assert "Django 6.0 released" in mail.message.get_body(("html",)).get_content()

        # -- the cards ---------------------------------------------------------------------------------
        page.get_by_role("link", name=re.compile(r"All \d+ →")).click()
        page.get_by_role("heading", name="Cards").wait_for()
        publish(page, artifacts, "workflow-cards", full_page=True)
        assert page.get_by_role("link", name="HTMX tips for server-rendered apps").is_visible()
        assert page.get_by_text(re.compile(r"all day\W+Ski trip")).is_visible()

        # -- the template editor with its live preview of the last cards ---------------------------------
        page.get_by_role("link", name="Morning digest").click()
        page.locator(".step", has_text="Team Slack").get_by_role("link", name="Edit template").click()
        wait_for_scripts(page)  # the live preview (htmx) must hear the typing
        page.get_by_label("Title template").fill("☀ {{ workflow.name }} for {{ today|date('%A %d %B') }}")
        page.get_by_label("Body template").fill(
            "{% for card in cards %}\n### {{ card.title }} ({{ card.count }})\n{{ card.content }}\n{% endfor %}\n"
            "_Sent by MetaCortex at {{ now|time }}_"
        )
        preview = page.locator("#preview")
        preview.get_by_role("heading", name="New from Tech blog (3)").wait_for()
        assert preview.get_by_text("☀ Morning digest for").is_visible()
        page.get_by_label("Body template").fill("{% for card in cards %}{{ card.title }")
        preview.get_by_text("The template cannot be rendered.").wait_for()
        page.get_by_label("Body template").fill(
            "{% for card in cards %}\n### {{ card.title }} ({{ card.count }})\n{{ card.content }}\n{% endfor %}"
        )
        preview.get_by_role("heading", name="Family calendar: tomorrow (3)").wait_for()
        page.locator(".template-fields").scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -80)")
        publish(page, artifacts, "workflow-template-editor")
        page.get_by_role("button", name="Save output").click()
        page.get_by_text("Saved the output Team Slack.").wait_for()

        # -- it runs on schedule: the 07:00 run is due now ----------------------------------------------------
        Schedule.objects.filter(name=schedule_name(workflow.pk)).update(
            next_run=timezone.now() - datetime.timedelta(minutes=1)
        )
        wait_for(
            lambda: Execution.objects.filter(workflow=workflow, trigger="schedule", status="success").exists(),
            seconds=120,
            explain=lambda: tail(log_path),
        )

    page.locator("#runs").get_by_role("link", name="Execution log →").click()
    page.get_by_role("heading", name="Execution log").wait_for()
    rows = page.locator(".exec-table tbody tr")
    assert rows.count() == 2
    assert "Schedule" in rows.nth(0).inner_text()
    assert "Run now" in rows.nth(1).inner_text()
    assert "1 made · 2 sent" in rows.nth(0).inner_text()  # nothing new in the feed: just tomorrow's events
    publish(page, artifacts, "workflow-execution-log")
    rows.nth(1).get_by_role("link").first.click()  # the "Run now" run
    page.get_by_role("heading", name="Steps").wait_for()
    page.screenshot(path=str(artifacts / "workflow-execution.png"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
    page.get_by_role("link", name="Morning digest").wait_for()
    publish(page, artifacts, "workflow-list")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.get_by_role("link", name="Morning digest").click()
    page.get_by_role("heading", name="Sources").wait_for()
    page.screenshot(path=str(artifacts / "workflow-mobile.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert len(slack.messages) == 2
    assert slack.messages[1]["blocks"][0]["text"]["text"].startswith("☀ Morning digest for")
    assert Card.objects.filter(workflow=workflow).count() == 3
    assert Schedule.objects.get(name=schedule_name(workflow.pk)).next_run > timezone.now()
