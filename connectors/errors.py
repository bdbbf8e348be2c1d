"""The error classes of the hub, and the one place where any exception is classified.

Every failure a connector can meet ends up as one of five classes, each with a fixed policy:
  auth       credentials revoked or wrong -> integration needs re-auth, syncs pause, no retry
  rate_limit the provider said slow down  -> wait (Retry-After or backoff), then go on
  transient  5xx, timeout, reset          -> exponential backoff with jitter, bounded tries
  config     404 feed, unknown host, ...  -> fail with the exact fix
  item       one malformed record         -> recorded on the job, the rest goes on
Connectors raise these directly when they know better; anything else goes through classify().
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

AUTH, RATE_LIMIT, TRANSIENT, CONFIG, ITEM = "auth", "rate_limit", "transient", "config", "item"
INTERNAL = "internal"
UNKNOWN_HOST_FIX = (
    "Check the spelling of the server address. If it is right, the hub's server cannot reach the "
    "internet or its DNS right now: ask the operator."
)  # a bug in the hub, not the user's doing: logged with its traceback


class ConnectorError(Exception):
    error_class = CONFIG
    default_remediation = "Check the integration's settings, then sync again."

    def __init__(self, message: str, *, remediation: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.remediation = remediation or self.default_remediation
        self.field = field  # the form field the user should fix, when there is one

    def __str__(self):
        return self.message


class AuthError(ConnectorError):
    error_class = AUTH
    default_remediation = "Re-authenticate the integration: its credentials were refused."


class RateLimited(ConnectorError):
    error_class = RATE_LIMIT
    default_remediation = "The provider asked us to slow down; the sync will continue on its own."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    error_class = TRANSIENT
    default_remediation = "The service had a temporary problem; the next scheduled sync will try again."


class ConfigError(ConnectorError):
    error_class = CONFIG


class BlockedDestination(ConfigError):
    default_remediation = (
        "Use a public address. Private, loopback and link-local addresses are refused for your safety."
    )


class ResponseTooLarge(ConfigError):
    default_remediation = (
        "Point the integration at a smaller resource, or ask the operator to raise OUTBOUND_MAX_BYTES."
    )


class InternalError(ConnectorError):
    error_class = INTERNAL
    default_remediation = "Something unexpected went wrong in the hub; it was logged for the operator. Try again later."


class ItemError(ConnectorError):
    error_class = ITEM
    default_remediation = "This record could not be read; the others were imported."

    def __init__(self, message: str, *, external_id: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.external_id = external_id


# Library-specific translators, registered by connector modules for the exceptions their client
# library raises. Each returns a ConnectorError or None when it does not recognise the exception.
_classifiers: list[Callable[[BaseException], ConnectorError | None]] = []


def register_classifier(func):
    _classifiers.append(func)
    return func


def classify(exc: BaseException) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    for classifier in _classifiers:
        result = classifier(exc)
        if result is not None:
            result.__cause__ = exc
            return result
    result = _classify_builtin(exc)
    result.__cause__ = exc
    return result


def _classify_builtin(exc: BaseException) -> ConnectorError:
    import requests

    if isinstance(exc, socket.gaierror):
        return ConfigError("The host name could not be found.", remediation=UNKNOWN_HOST_FIX)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConfigError(
            f"The server's TLS certificate is not valid: {exc.verify_message}.",
            remediation="Check the address; the server must present a valid certificate for it.",
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and "Name or service not known" in str(exc):
        return ConfigError("The host name could not be found.", remediation=UNKNOWN_HOST_FIX)
    if isinstance(exc, ConnectionRefusedError) or "Connection refused" in str(exc):
        return TransientError(
            "The server refused the connection.",
            remediation="Check the host and port; if they are right, the server may be down and the next sync retries.",
        )
    if isinstance(exc, socket.timeout | TimeoutError | requests.exceptions.Timeout):
        return TransientError("The server did not answer in time.")
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError | OSError):
        return TransientError(f"The connection failed: {_short(exc)}")
    if isinstance(exc, UnicodeError | ValueError | KeyError | TypeError):
        return ItemError(f"Unreadable data: {_short(exc)}")
    return TransientError(f"Unexpected error: {type(exc).__name__}: {_short(exc)}")


def from_status(status: int, *, url_hint: str = "", retry_after: float | None = None, body: str = "") -> ConnectorError:
    """The error an HTTP status means. Bodies are truncated and never carry our own secrets."""
    detail = f" ({body[:200]})" if body else ""
    if status == 401:
        return AuthError(f"The service refused our credentials (HTTP 401){detail}.")
    if status == 403:
        return AuthError(
            f"The service denied access (HTTP 403){detail}.",
            remediation="Re-authenticate and grant the requested permissions, or check the account's access.",
        )
    if status in (404, 410):
        return ConfigError(
            f"Nothing was found at {url_hint or 'that address'} (HTTP {status}).",
            remediation="Check the address in the integration's settings.",
        )
    if status == 429:
        return RateLimited(f"The service is rate limiting us (HTTP 429){detail}.", retry_after=retry_after)
    if status >= 500:
        return TransientError(f"The service had an error (HTTP {status}).")
    return ConfigError(f"The service answered HTTP {status}{detail}.")


def _short(exc: BaseException) -> str:
    from connectors.masking import mask_urls_in

    text = mask_urls_in(str(exc)) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."
