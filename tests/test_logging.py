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
