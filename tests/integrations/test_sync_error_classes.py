"""Which failures are retried: a bug in the hub fails at once with its traceback logged for the
operator; network failures are retried; a wrong address fails with the fix."""

import logging
import socket

import pytest
import requests

from connectors.errors import ConfigError, classify
from connectors.http import HttpClient, OutboundPolicy
from integrations.models import JobStatus, Status
from tests.connectors.helpers import connect, sync
from tests.factories import make_integration
from tests.integrations.counter import make_counter_type
from tests.peers.feeds import Reply


@pytest.fixture
def counter_type(db):
    return make_counter_type()


def test_a_bug_fails_the_job_at_once_and_logs_its_traceback(owner, counter_type, feed_server, caplog):
    feed_server.serve("/ping", "ok", content_type="text/plain")
    integration = make_integration(
        owner, counter_type, config={"count": 4, "bug_at": 2, "ping_url": feed_server.url("/ping")}
    )

    with caplog.at_level(logging.ERROR):
        job = sync(integration)

    assert job.status == JobStatus.FAILED
    assert job.error_class == "internal"
    assert job.error_message == "The hub hit an internal error (AttributeError); the operators have been told."
    assert "logged for the operator" in job.remediation
    assert "temporary problem" not in job.remediation
    assert len(feed_server.requests_to("/ping")) == 1  # not retried: a retry cannot fix a bug
    (logged,) = [r for r in caplog.records if r.exc_info and r.exc_info[0] is AttributeError]
    assert "None.upper()" in caplog.text  # the traceback points at the line
    assert logged.levelno == logging.ERROR
    assert integration.status == Status.ERROR
    assert "internal error" in integration.status_detail


def test_a_bug_in_transform_skips_that_record_and_is_logged_once(owner, counter_type, caplog):
    integration = make_integration(owner, counter_type, config={"count": 6, "batch": 3, "bad_record": 1})
    with caplog.at_level(logging.ERROR):
        job = sync(integration)
    assert job.status == JobStatus.PARTIAL
    assert job.failed == 1
    assert job.item_errors == [
        {"external_id": "", "error": "The hub hit an internal error (IndexError); the operators have been told."}
    ]
    assert len([r for r in caplog.records if r.exc_info and r.exc_info[0] is IndexError]) == 1


@pytest.mark.usefixtures("fast_backoff")
def test_a_refused_connection_is_transient_and_retried(owner, counter_type, allow_host, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    allow_host(f"127.0.0.1:{port}")
    integration = make_integration(owner, counter_type, config={"ping_url": f"http://127.0.0.1:{port}/"})
    job = sync(integration)
    assert job.error_class == "transient"
    assert job.error_message == "The server refused the connection."


@pytest.mark.usefixtures("catalogue")
def test_a_redirect_loop_is_a_config_error_with_the_fix(owner, feed_server):
    feed_server.sequence("/loop.ics", [Reply(302, headers={"Location": "/loop.ics"})])
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/loop.ics")})
    job = sync(integration)
    assert job.error_class == "config"
    assert "redirects too many times" in job.error_message
    assert "use that final address" in job.remediation
    assert len(feed_server.requests_to("/loop.ics")) == 6  # the first try and 5 redirects, no retry


@pytest.mark.parametrize("url", ["feeds.example.com/calendar.ics", "http://", "http://exa mple.com:99999/"])
def test_a_malformed_address_is_a_config_error_with_the_fix(url):
    with HttpClient(OutboundPolicy(windows=[])) as http, pytest.raises(ConfigError) as caught:
        http.get(url)
    assert caught.value.message == "The address is not a valid web address."
    assert "starting with https://" in caught.value.remediation


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), "transient"),
        (TimeoutError("timed out"), "transient"),
        (requests.exceptions.ChunkedEncodingError("Connection broken"), "transient"),
        (requests.exceptions.TooManyRedirects("Exceeded 5 redirects."), "config"),
        (requests.exceptions.InvalidURL("Failed to parse"), "config"),
        (AttributeError("'NoneType' object has no attribute 'get'"), "internal"),
        (IndexError("list index out of range"), "internal"),
        (FileNotFoundError(2, "No such file or directory"), "internal"),
        (ValueError("bad date"), "item"),
    ],
)
def test_each_exception_gets_the_class_its_policy_needs(exc, error_class):
    assert classify(exc, report=False).error_class == error_class


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"id": "ev1"}, "ev1"),
        ({"calendar": "primary", "event": {"id": "ev2", "summary": "x"}}, "ev2"),  # Google, Outlook
        ({"external_id": 7}, "7"),
        ({"event": {"payload": {"id": "too-deep"}}}, ""),
        ({"id": {"not": "an id"}}, ""),
        (3, ""),
    ],
)
def test_a_failed_records_error_names_its_id_found_in_the_raw_item(raw, expected):
    from integrations.sync.engine import _guess_id

    assert _guess_id(raw) == expected
