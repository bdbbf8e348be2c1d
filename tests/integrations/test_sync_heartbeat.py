"""A job that is waiting (Retry-After, backoff) or retrying against a hanging server is alive:
it keeps heartbeating, so another worker never takes it over. SYNC_STALE_AFTER is made small
and a second "worker" keeps trying to take the job over while the first one waits."""

import threading
import time

import pytest
from django.db import connection

from integrations.models import JobStatus, SyncJob
from integrations.sync import jobs
from integrations.sync.engine import run_job
from tests.connectors.helpers import connect, data_text, live_items
from tests.peers.feeds import Reply

WIDE = {"window_past_days": 400, "window_future_days": 400}


class Rival(threading.Thread):
    """Another worker trying, every 0.2 s, to take over the integration's running job."""

    def __init__(self, integration):
        super().__init__(daemon=True)
        self.integration = integration
        self.stop = threading.Event()
        self.tries = 0
        self.took: list[int] = []

    def run(self):
        try:
            while not self.stop.wait(0.2):
                for pk in SyncJob.objects.filter(integration=self.integration, status=JobStatus.RUNNING).values_list(
                    "pk", flat=True
                ):
                    self.tries += 1
                    if jobs.claim(pk, "rival:1"):
                        self.took.append(pk)
        finally:
            connection.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(5)


@pytest.fixture
def short_stale(settings):
    # Not 1 s: a heartbeat every 0.25 s could be a second late on a busy machine, and then the
    # rival would rightly take the job over
    settings.SYNC_STALE_AFTER = 2
    return settings


@pytest.mark.usefixtures("catalogue")
def test_a_long_retry_after_wait_keeps_the_job_alive(owner, feed_server, transactional_db, short_stale):
    feed_server.sequence(
        "/busy.ics",
        [
            Reply(429, headers={"Retry-After": "6"}),  # waited out by the engine, heartbeating
            Reply(200, data_text("ical/awkward.ics").encode(), conditional=False),
        ],
    )
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/busy.ics")}, config=WIDE)
    job = jobs.queue_sync(integration, enqueue=False)

    with Rival(integration) as rival:
        finished = run_job(job.pk, worker="patient:1")

    assert rival.tries >= 5  # the rival was really there during the wait
    assert rival.took == []
    assert finished is not None
    assert (finished.status, finished.worker, finished.attempts) == (JobStatus.SUCCEEDED, "patient:1", 1)
    first, second = feed_server.requests_to("/busy.ics")
    assert second.at - first.at >= 6.0  # longer than SYNC_STALE_AFTER, three times over
    assert live_items(integration).count() == 14


@pytest.mark.usefixtures("catalogue", "fast_backoff")
def test_retries_against_a_hanging_server_keep_the_job_alive(owner, feed_server, transactional_db, settings):
    settings.SYNC_STALE_AFTER = 2
    settings.OUTBOUND_TIMEOUT = 0.8
    settings.SYNC_MAX_TRANSIENT_RETRIES = 3  # 4 tries of the job, one hanging request each: > 3 s
    feed_server.sequence("/hang.ics", [Reply(200, b"late", delay=5)])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/hang.ics")})
    job = jobs.queue_sync(integration, enqueue=False)

    started = time.monotonic()
    with Rival(integration) as rival:
        finished = run_job(job.pk, worker="patient:1")

    assert time.monotonic() - started > settings.SYNC_STALE_AFTER  # long enough to have gone stale
    assert rival.took == []
    assert finished is not None
    assert (finished.status, finished.error_class, finished.attempts) == (JobStatus.FAILED, "transient", 1)
    assert len(feed_server.requests_to("/hang.ics")) == 4
