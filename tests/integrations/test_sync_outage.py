"""An outage of the hub's own Redis (here: the rate-limit store) is waited out: a job that starts
during it finishes once Redis is back, instead of failing as an internal error."""

import logging
import shutil
import socket
import subprocess
import threading

import pytest

from connectors.errors import TRANSIENT, classify
from integrations.models import JobStatus
from integrations.sync import jobs
from integrations.sync.engine import run_job
from integrations.sync.ports import HubOutage
from tests.connectors.helpers import connect, data_text, live_items

WIDE = {"window_past_days": 400, "window_future_days": 400}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Noticed(logging.Handler):
    def __init__(self):
        super().__init__()
        self.event = threading.Event()

    def emit(self, record):
        if "unreachable" in record.getMessage():
            self.event.set()


@pytest.mark.peer
@pytest.mark.usefixtures("catalogue")
def test_a_job_started_during_a_redis_outage_waits_and_finishes(owner, feed_server, settings, tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        from tests.peers.availability import unavailable

        unavailable("redis-server is not installed")
    port = free_port()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"  # nothing listens there yet: Redis is down
    feed_server.serve("/cal.ics", data_text("ical/awkward.ics"), content_type="text/calendar")
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    job = jobs.queue_sync(integration, enqueue=False)

    noticed = Noticed()
    logging.getLogger("connectors.ratelimit").addHandler(noticed)
    servers = []

    def bring_redis_back():
        if noticed.event.wait(60):  # only once the job has met the outage
            servers.append(
                subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=tmp_path,
                )
            )

    helper = threading.Thread(target=bring_redis_back, daemon=True)
    helper.start()
    try:
        finished = run_job(job.pk)
    finally:
        logging.getLogger("connectors.ratelimit").removeHandler(noticed)
        helper.join(5)
        for server in servers:
            server.terminate()
            server.wait(10)

    assert noticed.event.is_set()
    assert (finished.status, finished.error_message) == (JobStatus.SUCCEEDED, "")
    assert live_items(integration).count() == 14


def test_redis_errors_are_a_hub_outage_not_an_internal_error():
    import redis

    error = classify(redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"))
    assert isinstance(error, HubOutage)
    assert error.error_class == TRANSIENT
    assert "Redis" in str(error)
    assert "111" not in str(error)  # no Python internals in what people read
