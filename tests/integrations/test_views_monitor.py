"""The sync monitor: Sync now queues a job, the progress partial polls until the job finishes
(run here in-process by the real engine against the local feed peer), the ledger, the job page,
and the health panel with its server-drawn SVG chart."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.charts import Bar, bar_chart
from integrations.models import IntegrationType, JobStatus, RequestStat, Status, SyncJob
from integrations.sync.engine import run_job
from tests.factories import make_integration
from tests.integrations.ui import FEED_PATH, TOKEN, connect_ical, serve_calendar, text, the_only_integration

pytestmark = pytest.mark.usefixtures("catalogue")

ITEMS = "integrations_synceditem"


@pytest.fixture
def calendar(owner_client, owner, feed_server):
    connect_ical(owner_client, serve_calendar(feed_server))
    integration = the_only_integration(owner)
    # Connecting queues the first sync (tested in test_views_connect); these tests start their own.
    SyncJob.objects.filter(integration=integration).delete()
    return integration


def test_sync_now_with_htmx_answers_a_polling_progress_bar(owner_client, calendar):
    response = owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]), HTTP_HX_REQUEST="true")
    page = text(response)
    job = SyncJob.objects.get(integration=calendar)
    assert job.status == JobStatus.QUEUED
    assert job.trigger == "manual"
    status_url = reverse("integrations:job_status", args=[calendar.pk, job.pk])
    assert f'hx-get="{status_url}" hx-trigger="every 1s"' in page
    assert "waiting for a worker" in page
    assert "indeterminate" in page
    assert f'id="status-{calendar.pk}"' in page
    assert 'hx-swap-oob="true"' in page  # the badge follows

    finished = run_job(job.pk)  # what the worker does
    assert finished.status == JobStatus.SUCCEEDED

    partial = owner_client.get(status_url, HTTP_HX_REQUEST="true")
    done = text(partial)
    assert "100%" in done
    assert 'aria-valuenow="100"' in done
    assert "hx-trigger" not in done  # polling stops once the job is finished
    assert partial["HX-Trigger"] == "sync-finished"  # the ledger panel refreshes itself
    assert re.search(r"<dt>New</dt><dd>14</dd>", done)
    assert "See the items" in done
    assert "✔</span> Connected" in done


def test_when_a_sync_finishes_the_whole_detail_page_catches_up(owner_client, calendar):
    detail = text(owner_client.get(calendar.get_absolute_url()))
    assert "No items yet." in detail
    ledger_url = reverse("integrations:ledger", args=[calendar.pk]) + "?compact=1&shown=working"
    assert f'hx-get="{ledger_url.replace("&", "&amp;")}" hx-trigger="sync-finished from:body"' in detail
    owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]), HTTP_HX_REQUEST="true")
    job = run_job(SyncJob.objects.get(integration=calendar).pk)

    # the last poll of the bar brings the badge, the last sync and the item count along...
    status_url = reverse("integrations:job_status", args=[calendar.pk, job.pk])
    done = text(owner_client.get(status_url, HTTP_HX_REQUEST="true"))
    assert f'<span id="item-count-{calendar.pk}" hx-swap-oob="true">14</span>' in done
    assert f'id="last-synced-{calendar.pk}" hx-swap-oob="true"' in done
    # ...and the "sync-finished" it triggers refreshes the ledger, the health and the latest items at once
    panels = text(owner_client.get(ledger_url, HTTP_HX_REQUEST="true"))
    assert "Succeeded" in panels  # the ledger, swapped where it was asked
    health = re.search(r'<div id="health-panel" hx-swap-oob="true">.*?</dl>', panels, re.S).group(0)
    assert re.search(r"<dt>Requests</dt><dd>[1-9]", health)  # the feed was fetched: no longer 0
    latest = re.search(r'<section [^>]*id="latest-items" hx-swap-oob="true">.*?</section>', panels, re.S).group(0)
    assert "No items yet." not in latest
    assert f'All <span id="item-count-{calendar.pk}">14</span> items' in latest
    assert "<html" not in panels


def test_the_pages_of_one_integration_show_its_live_count_without_counting_the_items(owner_client, calendar):
    owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]), HTTP_HX_REQUEST="true")
    job = run_job(SyncJob.objects.get(integration=calendar).pk)
    pages = {
        "detail": (calendar.get_absolute_url(), {}, "All <span id=\"item-count-{pk}\">14</span> items"),
        "last poll": (
            reverse("integrations:job_status", args=[calendar.pk, job.pk]), {"HTTP_HX_REQUEST": "true"},
            '<span id="item-count-{pk}" hx-swap-oob="true">14</span>',
        ),
        "refresh": (
            reverse("integrations:ledger", args=[calendar.pk]) + "?compact=1", {"HTTP_HX_REQUEST": "true"},
            "All <span id=\"item-count-{pk}\">14</span> items",
        ),
        "delete": (reverse("integrations:delete", args=[calendar.pk]), {}, "Also delete its 14 synced items"),
        "disconnect": (reverse("integrations:disconnect", args=[calendar.pk]), {}, "Its 14 synced items stay."),
    }  # fmt: skip
    for label, (url, headers, shown) in pages.items():
        with CaptureQueriesContext(connection) as captured:
            page = text(owner_client.get(url, **headers))
        assert shown.format(pk=calendar.pk) in page, label
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"] and ITEMS in q["sql"]]
        assert counts == [], label


def _swapped(page: str) -> dict[str, str]:
    """The out-of-band parts of an HTMX answer by id, each up to the next one: what the page
    around the bar gets."""
    tags = list(re.finditer(r"<[^>]*hx-swap-oob[^>]*>", page))
    parts = {}
    for n, tag in enumerate(tags):
        end = tags[n + 1].start() if n + 1 < len(tags) else len(page)
        parts[re.search(r'id="([^"]+)"', tag.group(0)).group(1)] = page[tag.start() : end]
    return parts


def _status(details: str) -> str:
    return re.search(r"<dt>Status</dt><dd>(.*?)</dd>", details, re.S).group(1)


def test_the_job_page_polls_its_own_panels_along(owner_client, calendar):
    """The job page's Details (status, start, end, duration) and its failed records follow the bar:
    they said "Queued" beside a bar at 100% until the page was reloaded. The integration's badge,
    last sync and count are not on that page, so they are not swapped."""
    owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]))
    job = SyncJob.objects.get(integration=calendar)
    url = reverse("integrations:job_status", args=[calendar.pk, job.pk]) + "?job_page=1"
    details, errors = f"job-details-{job.pk}", f"job-errors-{job.pk}"

    swapped = _swapped(text(owner_client.get(url, HTTP_HX_REQUEST="true")))
    assert set(swapped) == {details, errors}
    assert "Queued" in _status(swapped[details])
    assert "hidden" in swapped[errors]  # nothing failed: the panel stays out of the way

    job = run_job(job.pk)
    SyncJob.objects.filter(pk=job.pk).update(item_errors=[{"external_id": "event-7", "error": "no DTSTART"}])
    swapped = _swapped(text(owner_client.get(url, HTTP_HX_REQUEST="true")))
    assert set(swapped) == {details, errors}
    assert "Succeeded" in _status(swapped[details])
    job.refresh_from_db()
    assert f"{job.finished_at:%H:%M:%S}" in swapped[details]
    assert "no DTSTART" in swapped[errors]
    assert "hidden" not in swapped[errors].split(">", 1)[0]

    page = text(owner_client.get(job.get_absolute_url()))  # the page itself has the same panels
    assert f'id="{details}"' in page
    assert f'id="{errors}"' in page
    assert "no DTSTART" in page


def test_sync_now_without_javascript_redirects_to_the_job_page(owner_client, calendar):
    response = owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]))
    job = SyncJob.objects.get(integration=calendar)
    assert response.status_code == 302
    assert response.url == job.get_absolute_url()
    page = text(owner_client.get(response.url))
    assert '<meta http-equiv="refresh" content="2">' in page  # updates itself with JavaScript off too
    run_job(job.pk)
    page = text(owner_client.get(response.url))
    assert "http-equiv" not in page
    assert "100%" in page
    assert "Succeeded" in page


def test_sync_now_twice_gives_the_same_job(owner_client, calendar):
    url = reverse("integrations:sync_now", args=[calendar.pk])
    owner_client.post(url, HTTP_HX_REQUEST="true")
    owner_client.post(url, HTTP_HX_REQUEST="true")
    assert SyncJob.objects.filter(integration=calendar).count() == 1


def test_sync_now_is_refused_with_a_reason_when_paused(owner_client, calendar):
    calendar.set_status(Status.PAUSED)
    response = owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]), HTTP_HX_REQUEST="true")
    assert "Cannot sync Family calendar: It is paused: resume it first." in text(response)
    response = owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]), follow=True)
    assert "It is paused: resume it first." in text(response)
    assert not SyncJob.objects.exists()


def test_a_failed_job_shows_the_error_and_its_remediation_without_the_secret(owner_client, calendar, feed_server):
    feed_server.routes.pop(FEED_PATH)  # the calendar disappears: 404
    owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]))
    job = run_job(SyncJob.objects.get().pk)
    assert job.status == JobStatus.FAILED
    for url in (
        job.get_absolute_url(),
        calendar.get_absolute_url(),
        reverse("integrations:ledger", args=[calendar.pk]),
    ):
        page = text(owner_client.get(url))
        assert "Nothing was found at" in page
        assert "(HTTP 404)" in page
        assert "Check the address in the integration&#x27;s settings." in page
        assert TOKEN not in page


def test_the_ledger_lists_jobs_with_counts_duration_and_status(owner_client, calendar):
    for _ in range(2):
        owner_client.post(reverse("integrations:sync_now", args=[calendar.pk]))
        run_job(SyncJob.objects.filter(integration=calendar).first().pk)
    page = text(owner_client.get(reverse("integrations:ledger", args=[calendar.pk])))
    assert page.count("✔</span> Succeeded") == 2
    assert "14 seen · 14 new · 0 updated" in page  # the first, full sync
    assert "0 seen · 0 new · 0 updated" in page  # the second: the feed did not change (304)
    assert "Sync now" in page  # the trigger
    compact = owner_client.get(
        reverse("integrations:ledger", args=[calendar.pk]) + "?compact=1", HTTP_HX_REQUEST="true"
    )
    assert "<html" not in text(compact)
    assert "Succeeded" in text(compact)


def test_the_ledger_is_paginated(owner_client, owner):
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"))
    now = timezone.now()
    SyncJob.objects.bulk_create(
        SyncJob(integration=integration, status=JobStatus.SUCCEEDED, started_at=now, finished_at=now) for _ in range(30)
    )
    first = text(owner_client.get(reverse("integrations:ledger", args=[integration.pk])))
    assert "Page 1 of 2" in first
    assert first.count("Succeeded</span>") == 25
    second = text(owner_client.get(reverse("integrations:ledger", args=[integration.pk]), {"page": 2}))
    assert second.count("Succeeded</span>") == 5


def test_health_shows_the_last_day_with_an_svg_chart(owner_client, owner):
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"))
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    RequestStat.objects.create(
        integration=integration,
        hour=hour,
        requests=4,
        errors=1,
        rate_limited=2,
        total_ms=800,
        last_success_at=timezone.now(),
    )
    RequestStat.objects.create(integration=integration, hour=hour - timedelta(hours=3), requests=2, total_ms=100)
    RequestStat.objects.create(integration=integration, hour=hour - timedelta(hours=30), requests=99)  # too old
    page = text(owner_client.get(integration.get_absolute_url()))
    stats = re.search(r'<dl class="stats">.*?</dl>', page, re.S).group(0)
    assert "<dd>6</dd>" in stats  # requests in the last 24 hours
    assert "16.7%" in stats  # error rate: 1 of 6
    assert "150 ms" in stats  # average response: 900 ms / 6
    assert '<div class="stat-warn"><dt>Rate-limit hits</dt><dd>2</dd>' in stats
    svg = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in svg
    assert "<title" in svg
    assert "Requests per hour over the last 24 hours" in svg
    assert svg.count('class="chart-bar"') == 24  # one bar per hour
    assert "4 requests, 1 error" in svg
    assert "2 requests, 0 errors" in svg
    assert ">requests</text>" in svg  # the axis is labelled
    # the legend is HTML under the chart, where it wraps on a phone instead of overlapping the bars
    legend = re.search(r'<span class="chart-legend">.*?</span> ', page, re.S).group(0)
    assert "swatch-bar" in legend
    assert "requests" in legend
    assert "swatch-highlight" in legend
    assert "errors" in legend


def test_the_chart_keeps_room_for_its_phone_sized_text():
    bars = [Bar(label=f"{h:02d}:00", value=h * 40) for h in range(24)]
    svg = str(bar_chart(bars, title="t"))
    assert '<text class="chart-axis" x="50" y="16.0" text-anchor="end">1000</text>' in svg  # y labels end at x=50
    assert 'class="chart-axis chart-axis-title"' in svg  # the rotated title, which phones hide
    last = re.findall(r'<text class="chart-axis" x="([\d.]+)" y="172" text-anchor="(\w+)">23:00</text>', svg)
    assert last == [("632.0", "end")]  # the last hour's label ends inside the chart, not cut off


def test_the_chart_escapes_every_label():
    svg = bar_chart([Bar(label="<script>alert(1)</script>", value=3, tooltip='" onload="x')], title="<b>t</b>")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert '" onload="x' not in svg
    assert "&quot; onload=&quot;x" in svg
    assert "&lt;b&gt;t&lt;/b&gt;" in svg


def test_a_sync_that_ends_with_refused_credentials_reloads_the_detail_page(owner_client, calendar):
    """Its top (Sync now, the Re-authenticate banner, the schedule) was drawn for a working
    integration: the in-place refresh cannot change it, so the page is asked to reload."""
    ledger_url = reverse("integrations:ledger", args=[calendar.pk]) + "?compact=1&shown=working"
    assert "HX-Refresh" not in owner_client.get(ledger_url, HTTP_HX_REQUEST="true")
    calendar.set_status(Status.NEEDS_REAUTH, "The service refused our credentials (HTTP 401).")
    answer = owner_client.get(ledger_url, HTTP_HX_REQUEST="true")
    assert answer["HX-Refresh"] == "true"
    page = text(owner_client.get(calendar.get_absolute_url()))
    assert "Re-authenticate now" in page
    assert "shown=needs_reauth" in page
