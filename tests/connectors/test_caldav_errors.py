"""What a CalDAV server's refusals mean to the user: a full account, a server that rate-limits,
an event that breaks after it synced. Radicale is the real server; where a provider's front end
would answer instead (507, 429), a proxy in front of Radicale does (tests/peers/radicale.py)."""

import datetime
import uuid

import pytest
from django.utils import timezone

from connectors.base import OutgoingCard
from connectors.errors import ConfigError
from connectors.registry import registry
from integrations.models import JobStatus, Status, SyncedItem, SyncJob
from integrations.sync.context import build_context
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import data_text, live_items, sync
from tests.connectors.test_caldav import connect_caldav, seed

pytestmark = [pytest.mark.usefixtures("catalogue"), pytest.mark.peer]


@pytest.fixture
def server(radicale, allow_host):
    allow_host(radicale.host)
    return radicale


@pytest.fixture
def calendar(server):
    return server.make_calendar(f"Errands {uuid.uuid4().hex[:6]}")


def test_a_full_calendar_account_is_a_config_error_saying_so(owner, server, calendar, radicale_front, fast_backoff):
    integration = connect_caldav(owner, server, calendar, server_url=radicale_front.url)
    connector = registry.get("caldav")(build_context(integration, purpose="delivery"))
    radicale_front.fail("PUT", 507, times=10)
    card = OutgoingCard(title="Renew passport", due=datetime.datetime(2031, 3, 14, 15, 0, tzinfo=datetime.UTC))

    with pytest.raises(ConfigError) as caught:
        connector.send([card], {"calendar": calendar.get_display_name()})
    connector.close()

    assert "out of space (HTTP 507)" in str(caught.value)  # not "a temporary problem", retried for ever
    assert "Free some space" in caught.value.remediation
    assert calendar.todos(include_completed=True) == []


def test_a_rate_limiting_caldav_server_is_waited_out_then_the_sync_goes_on(
    owner, server, calendar, radicale_front, settings
):
    seed(server, calendar, "paris.ics")
    settings.SYNC_MAX_WAIT = 2  # a Retry-After longer than this holds the job instead of a worker
    radicale_front.fail("PROPFIND", 429, **{"Retry-After": "600"})
    integration = connect_caldav(owner, server, calendar, server_url=radicale_front.url)
    job = queue_sync(integration, enqueue=False)
    waits = []

    held = run_job(job.pk, sleep=waits.append)

    assert held.status == JobStatus.QUEUED, held.error_message
    assert waits == []  # no worker sleeps through it, and nothing asks again before the 600 s
    assert 590 < (held.not_before - timezone.now()).total_seconds() <= 600
    SyncJob.objects.filter(pk=job.pk).update(not_before=timezone.now())  # the 600 s have passed
    finished = run_job(job.pk, sleep=waits.append)
    assert finished.status == JobStatus.SUCCEEDED, finished.error_message
    assert live_items(integration).count() == 1


def test_an_event_that_breaks_after_syncing_keeps_its_good_version(owner, server, calendar):
    seed(server, calendar, "paris.ics", "all-day.ics")
    integration = connect_caldav(owner, server, calendar)
    assert sync(integration).created == 2
    [paris] = [i for i in live_items(integration) if i.external_id.endswith("/paris.ics")]

    # The same object, now with a time zone no one knows: unreadable, but still on the server.
    broken = data_text("caldav/paris.ics").replace("DTSTART;TZID=Europe/Paris", "DTSTART;TZID=Mars/Olympus_Mons")
    server.put(calendar, "paris.ics", broken)
    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert (job.failed, job.deleted) == (1, 0)
    kept = SyncedItem.objects.get(pk=paris.pk)
    assert kept.deleted_at is None
    assert kept.title == paris.title  # the last good version, until the event is fixed
    assert "Mars/Olympus_Mons" in job.item_errors[0]["error"]
    assert integration.status == Status.CONNECTED


@pytest.mark.parametrize(
    ("kind", "method", "keep", "drop_headers"),
    [
        ("full", "REPORT", 0.6, ("content-type",)),  # the listing of the calendar, cut mid-way, type lost
        ("full", "REPORT", 0.6, ()),  # cut mid-way, said to be XML
        ("full", "REPORT", 0.0, ()),  # a 207 with no body at all
        (None, "PROPFIND", 0.0, ()),  # the list of calendars, empty: it must not read as "calendars deleted"
    ],
)
def test_a_listing_cut_short_never_reads_as_deleted_events(
    owner, server, calendar, radicale_front, fast_backoff, kind, method, keep, drop_headers
):
    seed(server, calendar, "paris.ics", "all-day.ics", "weekly.ics")
    integration = connect_caldav(owner, server, calendar, server_url=radicale_front.url)
    assert sync(integration).created == 3

    for _ in range(10):  # every try of the job gets the cut answer
        radicale_front.cut(method, keep=keep, drop_headers=drop_headers)
    job = sync(integration, kind=kind) if kind else sync(integration)

    assert job.deleted == 0
    assert live_items(integration).count() == 3
    assert job.status == JobStatus.FAILED
    assert "cut short" in job.error_message
    assert "nothing was deleted" in job.error_message
    assert radicale_front.requests(method)  # the cut answers really were what the connector got


def _without_data_of(name: str):
    """A REPORT answer rewritten as a server that lists `name` but leaves its calendar-data out."""
    import re

    def rewrite(body: bytes) -> bytes:
        parts = re.split(rb"(</(?:[\w-]+:)?response>)", body)
        for index, part in enumerate(parts):
            if f"/{name}</".encode() in part:
                parts[index] = re.sub(rb"<((?:[\w-]+:)?calendar-data)\b[^>]*>.*?</\1>", b"", part, flags=re.S)
        return b"".join(parts)

    return rewrite


def test_an_event_the_server_did_not_send_is_asked_for_again_next_time(owner, server, calendar, radicale_front):
    """A server that lists an event as changed but leaves its data out of both the sync report and
    the multiget: the event was an item error, and, the sync token having moved past it, never
    asked for again. Now the next sync compares etags and fetches what is missing."""
    seed(server, calendar, "paris.ics")
    integration = connect_caldav(owner, server, calendar, server_url=radicale_front.url)
    assert sync(integration).created == 1
    seed(server, calendar, "all-day.ics", "weekly.ics")
    radicale_front.rewrites["REPORT"] = _without_data_of("weekly.ics")

    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert job.created == 1
    [error] = job.item_errors
    assert "did not send weekly.ics" in error["error"]
    assert "the next sync asks for it again" in error["error"]
    del radicale_front.rewrites["REPORT"]  # the server's hiccup is over; nothing changed meanwhile
    again = sync(integration)
    assert again.status == JobStatus.SUCCEEDED, again.error_message
    assert again.created == 1
    assert sorted(i.external_id.rsplit("/", 1)[1] for i in live_items(integration)) == [
        "all-day.ics",
        "paris.ics",
        "weekly.ics",
    ]
    assert sync(integration).seen == 0  # and then, nothing more to fetch
