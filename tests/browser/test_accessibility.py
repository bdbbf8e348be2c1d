"""The hub's pages against axe-core (s20), in real headless Chromium: no serious or critical
violation of WCAG 2.1 A/AA or axe's best practices on the pages a person uses, signed out and in,
with data on them (integrations with a running sync, records, a place and people, a workflow with
a run, an API token).

What the audit found and this keeps fixed: plain links in running text told apart by colour alone
(2.56:1 and 1.06:1 against the text around them; now underlined), "Sync now" buttons whose spoken
name ("Sync Concerts feed now") did not contain what they show (voice control could not press
them), a gallery link that showed "Set up in Zapier" but was named "Use the hub from Zapier", the
gallery jumping from h1 to h3, and a workflow's summary list with notes that a <dl> may not hold.

axe-core is vendored (tests/browser/vendor, MPL-2.0): CI cannot download it at test time. It is
evaluated through the DevTools protocol, which the hub's Content-Security-Policy does not govern,
so the page itself is exactly what a person gets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in, wait_for_scripts
from tests.browser.test_timeline_browser import _a_night_out
from tests.factories import make_integration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.peer]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}
GRAVE = {"serious", "critical"}


def _violations(page) -> list[str]:
    wait_for_scripts(page)
    page.wait_for_load_state("networkidle")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE)
    found = page.evaluate(f"() => axe.run(document, {json.dumps(RULES)}).then(r => r.violations)")
    return [
        f"{page.url}: {v['id']} ({v['impact']}) {v['help']}: "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in found
        if v["impact"] in GRAVE
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_hubs_pages_have_no_serious_accessibility_violations(width, new_page, catalogue):
    from integrations.models import ApiToken, Integration, IntegrationType, SyncJob
    from integrations.models.sync import JobStatus
    from timeline.models import Entity, Person, Place
    from workflows.models import Execution, ExecutionStatus, Workflow, WorkflowOutput, WorkflowSource

    owner = make_user("audit@example.com")
    start = _a_night_out(owner, timezone.localdate())
    feed = Integration.objects.get(user=owner, name="Concerts feed")
    done = SyncJob.objects.create(integration=feed, status=JobStatus.SUCCEEDED)
    SyncJob.objects.create(integration=Integration.objects.get(user=owner, name="Mailbox"), status=JobStatus.RUNNING)
    ApiToken.issue(owner, "Backup script")
    hook = make_integration(owner, IntegrationType.objects.get(slug="webhook"), name="Team hook")
    workflow = Workflow.objects.create(owner=owner, name="Morning digest", schedule="0 7 * * *")
    WorkflowSource.objects.create(workflow=workflow, integration=feed)
    WorkflowOutput.objects.create(workflow=workflow, integration=hook, template="* {{ card.title }}")
    run = Execution.objects.create(
        workflow=workflow,
        status=ExecutionStatus.SUCCESS,
        steps=[{"step": "source", "label": "Concerts feed (iCal Feed)", "status": "done", "detail": "3 item(s) found"}],
    )
    place, person = Place.objects.get(user=owner), Person.objects.filter(user=owner).first()
    show = Entity.objects.get(user=owner, kind="event")
    day = timezone.localtime(start).date().isoformat()  # the day the show is on, in the hub's zone

    page = new_page(width=width)
    problems = []
    for url in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        page.goto(url)
        problems += _violations(page)
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(owner.email)
    page.locator("#id_password").fill("not the password")
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    problems += _violations(page)  # the form with its error

    log_in(page, owner.email)
    pages = [
        "/integrations/",
        "/integrations/gallery/",
        "/integrations/connect/ical-feed/",
        "/integrations/connect/imap/",
        "/integrations/connect/google-calendar/",
        "/integrations/connect/kindle-highlights/",
        feed.get_absolute_url(),
        f"/integrations/{feed.pk}/items/",
        f"/integrations/{feed.pk}/jobs/",
        done.get_absolute_url(),
        f"/integrations/{feed.pk}/settings/",
        "/integrations/items/",
        "/integrations/notifications/",
        f"/timeline/?date={day}",
        f"/timeline/?date={day}&view=week",
        f"/timeline/records/{show.pk}/",
        f"/timeline/places/{place.pk}/",
        f"/timeline/people/{person.pk}/",
        "/workflows/",
        "/workflows/new/",
        workflow.get_absolute_url(),
        f"/workflows/{workflow.pk}/edit/",
        f"/workflows/{workflow.pk}/runs/",
        run.get_absolute_url(),
        "/integrations/api-tokens/",
        "/timeline/automate/",
        "/accounts/preferences/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/delete/",
        "/no-such-page/",
    ]
    for url in pages:
        page.goto(url)
        problems += _violations(page)
    page.goto("/integrations/connect/ical-feed/")
    page.locator("main form button[type=submit]").last.click()  # the form with its errors
    page.get_by_role("heading", level=1).wait_for()
    problems += _violations(page)
    assert not problems, "\n".join(problems)


def test_a_sync_finishing_is_said_in_a_live_region_that_was_there_from_the_start(new_page, catalogue):
    """A sync's progress is replaced every second; a live region inside it was a new element each
    time, which screen readers do not announce: a blind person never heard that the sync ended."""
    from integrations.models import IntegrationType, SyncJob
    from integrations.models.sync import JobStatus

    owner = make_user("listener@example.com")
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Concerts feed")
    now = timezone.now()
    job = SyncJob.objects.create(
        integration=feed, status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker="w1", progress_total=10
    )
    page = new_page()
    log_in(page, owner.email)
    page.goto(feed.get_absolute_url())
    wait_for_scripts(page)
    # Every live region the person's screen reader knows of when the page has loaded.
    page.evaluate(
        """() => document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log]')
                 .forEach(e => { e.dataset.fromTheStart = '1'; })"""
    )
    SyncJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), progress_done=10, seen=10, created=10
    )
    page.locator(f"#job-progress-{job.pk}[data-status=succeeded]").wait_for()
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-from-the-start]')]
                 .filter(e => e.isConnected && e.closest('[aria-live], [role=status], [role=alert], [role=log]'))
                 .some(e => /sync succeeded/i.test(e.textContent))"""
    )
    assert "Concerts feed: incremental sync succeeded" in page.locator("#live-status").text_content()
