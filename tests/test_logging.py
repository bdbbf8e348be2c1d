"""The log filter every handler uses: whatever a library or a mistake puts in a log line or a
traceback, no credential and no secret URL reaches the log."""

import logging

from django.conf import settings

from metacortex.logging import RedactSecretsFilter

PRIVATE_ICS = "https://calendar.example.com/calendar/ical/alice/private-5f2a9c0d1e/basic.ics"


def _filtered(message: str, *args, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, message, args, (type(exc), exc, None) if exc else None)
    assert RedactSecretsFilter().filter(record)
    return record.getMessage() + (record.exc_text or "")


def test_every_configured_handler_redacts():
    for name, handler in settings.LOGGING["handlers"].items():
        assert "redact" in handler.get("filters", []), name


def test_tokens_passwords_and_secret_urls_are_redacted():
    text = _filtered(
        "calling %s with %s and Authorization: Bearer sk_live_abc123 (password=hunter2)",
        PRIVATE_ICS,
        {"refresh_token": "1//0gRefresh"},
    )
    for secret in ("private-5f2a9c0d1e", "sk_live_abc123", "hunter2", "1//0gRefresh"):
        assert secret not in text
    assert "https://calendar.example.com/…" in text  # the host stays, for the operator


def test_a_traceback_quoting_a_secret_path_is_redacted():
    exc = ConnectionError(
        "HTTPSConnectionPool(host='calendar.example.com', port=443): Max retries exceeded with url: "
        "/calendar/ical/alice/private-5f2a9c0d1e/basic.ics"
    )
    text = _filtered("Sync failed", exc=exc)
    assert "ConnectionError" in text
    assert "private-5f2a9c0d1e" not in text


def test_debug_request_lines_of_urllib3_keep_no_secret_path(feed_server):
    """With LOG_LEVEL=DEBUG urllib3 logs every request line; a webhook's token is in its path."""
    import io

    from connectors.http import HttpClient, OutboundPolicy

    secret_path = "/hooks/T0KEN-d41d8cd98f00b204/relay"
    feed_server.serve(secret_path, "ok", content_type="text/plain")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    urllib3_log = logging.getLogger("urllib3")
    urllib3_log.addHandler(handler)
    old_level = urllib3_log.level
    urllib3_log.setLevel(logging.DEBUG)  # setLevel, not .level =: it clears the loggers' level caches
    try:
        with HttpClient(OutboundPolicy(windows=[])) as http:
            http.post(feed_server.url(secret_path + "?sig=abc123"), data=b"{}")
    finally:
        urllib3_log.removeHandler(handler)
        urllib3_log.setLevel(old_level)
    logged = stream.getvalue()
    assert '"POST … HTTP/1.1" 200' in logged  # the line is still there for the operator
    assert "T0KEN" not in logged
    assert "abc123" not in logged
    assert "hooks" not in logged
