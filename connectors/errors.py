"""The error classes of the hub, and the one place where any exception is classified.

Every failure a connector can meet ends up as one of six classes, each with a fixed policy:
  auth       credentials revoked or wrong -> integration needs re-auth, syncs pause, no retry
  rate_limit the provider said slow down  -> wait (Retry-After or backoff), then go on
  transient  5xx, timeout, reset          -> exponential backoff with jitter, bounded tries
  config     404 feed, unknown host, ...  -> fail with the exact fix
  item       one malformed record         -> recorded on the job, the rest goes on
  internal   a bug in the hub             -> fail, traceback logged for the operator, no retry
Connectors raise these directly when they know better; anything else goes through classify().
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable

from connectors.masking import mask_urls_in

AUTH, RATE_LIMIT, TRANSIENT, CONFIG, ITEM = "auth", "rate_limit", "transient", "config", "item"
INTERNAL = "internal"  # a bug in the hub, not the user's doing: logged with its traceback, never retried
UNKNOWN_HOST_FIX = (
    "Check the spelling of the server address. If it is right, the hub's server cannot reach the "
    "internet or its DNS right now: ask the operator."
)

log = logging.getLogger(__name__)


class ConnectorError(Exception):
    error_class = CONFIG
    default_remediation = "Check the integration's settings, then sync again."
    # The hub's operator must fix it (e.g. the provider refuses the hub's own OAuth client): the
    # sync fails, but it does not count against the connection (no failure streak, no backoff).
    operator_problem = False

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
    default_remediation = "The service had a temporary problem; the hub tries again at the next sync or workflow run."


class ConfigError(ConnectorError):
    error_class = CONFIG


class BlockedDestination(ConfigError):
    default_remediation = (
        "Use the server's public address. Private, loopback and link-local addresses are refused for your "
        "safety; only the hub's administrator can allow one (the SSRF_ALLOWED_HOSTS setting)."
    )


class ResponseTooLarge(ConfigError):
    default_remediation = (
        "Point the integration at a smaller resource, or ask the operator to raise OUTBOUND_MAX_BYTES."
    )


class InternalError(ConnectorError):
    error_class = INTERNAL
    default_remediation = (
        "Nothing you did caused this: it was logged for the operator with the details. Try again later, "
        "and ask the operator if it keeps happening."
    )


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


def classify(exc: BaseException, *, report: bool = True) -> ConnectorError:
    """The hub's error for any exception. One we do not recognise is a bug in the hub: it becomes an
    InternalError (never retried) and, unless the caller reports it itself (report=False), its
    traceback is logged here, so "the operators have been told" is true for every caller."""
    if isinstance(exc, ConnectorError):
        return exc
    for classifier in _classifiers:
        result = classifier(exc)
        if result is not None:
            result.__cause__ = exc
            return result
    result = _classify_builtin(exc)
    result.__cause__ = exc
    if report and result.error_class == INTERNAL:
        log.error("Internal error: %s", result, exc_info=exc)
    return result


def internal_error(exc: BaseException) -> InternalError:
    # Only the exception's type: its text may quote a record, a URL or a header value.
    return InternalError(f"The hub hit an internal error ({type(exc).__name__}); the operators have been told.")


_BAD_ADDRESS = "The address is not a valid web address."
_BAD_ADDRESS_FIX = "Enter the full address, starting with https:// (or http://), in the integration's settings."
# Local file-system failures are OSErrors too, but no network retry will fix them.
_LOCAL_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def _classify_builtin(exc: BaseException) -> ConnectorError:
    return _classify_requests(exc) or _classify_network(exc) or _classify_data(exc) or internal_error(exc)


def _classify_requests(exc: BaseException) -> ConnectorError | None:
    """requests' exceptions all subclass OSError, yet several mean a wrong address or a bug."""
    import requests.exceptions as rex

    if not isinstance(exc, rex.RequestException):
        return None
    if isinstance(exc, rex.MissingSchema | rex.InvalidSchema | rex.InvalidURL | rex.URLRequired):
        return ConfigError(_BAD_ADDRESS, remediation=_BAD_ADDRESS_FIX)
    if isinstance(exc, rex.TooManyRedirects):
        return ConfigError(
            "The address redirects too many times (a redirect loop).",
            remediation="Open the address in a browser to see where it really leads, and use that final address.",
        )
    if isinstance(exc, rex.InvalidHeader):
        return ConfigError(
            "A value sent with the request is not valid in an HTTP header.",
            remediation="Re-enter the credentials and settings without spaces or line breaks around them.",
        )
    if isinstance(exc, rex.JSONDecodeError):
        return ConfigError(
            "The service's answer was not the JSON it should be.",
            remediation="Check that the address points at the service's API. If it does, the service may be "
            "having problems: the next sync tries again.",
        )
    if isinstance(exc, rex.HTTPError) and exc.response is not None:
        return from_status(exc.response.status_code)
    if isinstance(exc, rex.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return _bad_certificate("")
    if isinstance(exc, rex.SSLError) and (tls := _tls_problem(exc)):
        return tls
    if isinstance(exc, rex.InvalidJSONError | rex.StreamConsumedError | rex.UnrewindableBodyError):
        return internal_error(exc)  # how we built or read the request: our bug
    return None  # connection errors and timeouts: network, below


def _classify_network(exc: BaseException) -> ConnectorError | None:
    import http.client

    import requests
    import urllib3.exceptions

    if isinstance(exc, socket.gaierror) or (
        isinstance(exc, requests.exceptions.ConnectionError) and "Name or service not known" in str(exc)
    ):
        return ConfigError("The host name could not be found.", remediation=UNKNOWN_HOST_FIX)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _bad_certificate(f": {exc.verify_message}")
    if isinstance(exc, ssl.SSLError) and (tls := _tls_problem(exc)):
        return tls
    if isinstance(exc, urllib3.exceptions.LocationValueError | http.client.InvalidURL):
        return ConfigError(_BAD_ADDRESS, remediation=_BAD_ADDRESS_FIX)
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and "Connection refused" in str(exc)):
        return TransientError(
            "The server refused the connection.",
            remediation="Check the host and port; if they are right, the server may be down and the next sync retries.",
        )
    if isinstance(exc, socket.timeout | TimeoutError | requests.exceptions.Timeout | urllib3.exceptions.TimeoutError):
        return TransientError("The server did not answer in time.")
    if isinstance(exc, _LOCAL_OS_ERRORS):
        return None
    if isinstance(exc, OSError | urllib3.exceptions.HTTPError | http.client.HTTPException):
        return TransientError(f"The connection failed: {_short(exc)}")
    return None


def _classify_data(exc: BaseException) -> ConnectorError | None:
    """Exceptions parsers raise on malformed input. Only a record can be malformed: the engine
    treats these as a bug when they escape anything but transform()."""
    import zipfile
    from xml.etree.ElementTree import ParseError
    from xml.parsers.expat import ExpatError

    if isinstance(exc, UnicodeError | ValueError | KeyError | TypeError | ParseError | ExpatError | zipfile.BadZipFile):
        return ItemError(f"Unreadable data: {_short(exc)}")
    if type(exc).__module__.startswith("lxml") and isinstance(exc, SyntaxError):
        return ItemError(f"Unreadable data: {_short(exc)}")
    return None


# OpenSSL's words for "the other side did not answer with TLS at all" (a plain-http server reached
# with https://, which is what a webcal:// address becomes).
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "record layer failure",
    "packet length too long",
    "unknown protocol",
    "HTTP_REQUEST",
)
_HANDSHAKE = ("SSLV3_ALERT_HANDSHAKE_FAILURE", "UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS")


def _tls_problem(exc: BaseException) -> ConfigError | None:
    """The TLS failures a person can act on, in words instead of OpenSSL's text."""
    text = str(exc)
    if any(marker in text for marker in _NOT_TLS):
        return ConfigError(
            "The server did not answer with a secure (TLS) connection: it seems to speak only plain http on "
            "that port. Addresses starting with https:// or webcal:// are fetched over https.",
            remediation="Ask the publisher for the https:// address. If the server only offers plain http, "
            "enter the address with http:// instead (anyone on the network can then read what is sent).",
        )
    if any(marker in text for marker in _HANDSHAKE):
        return ConfigError(
            "The server and the hub could not agree on a secure (TLS) connection: the server only offers "
            "outdated encryption.",
            remediation="Ask the server's administrator to enable TLS 1.2 or newer.",
        )
    return None


def _bad_certificate(detail: str) -> ConfigError:
    return ConfigError(
        f"The server's TLS certificate is not valid{detail}.",
        remediation="Check the address; the server must present a valid certificate for it.",
    )


# 5xx answers that another try cannot change (not implemented, out of storage, loop detected, ...):
# not retried, and not "temporary" either, so nothing keeps retrying them run after run.
PERMANENT_5XX = frozenset({501, 505, 507, 508, 510, 511})


def from_status(status: int, *, url_hint: str = "", retry_after: float | None = None, body: str = "") -> ConnectorError:
    """The error an HTTP status means. A body is quoted only as masking.quote_body leaves it (the
    caller masks the integration's own secrets with it; URLs and credential pairs are masked here)."""
    from connectors.masking import quote_body

    body = quote_body(body)
    detail = f" ({body})" if body else ""
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
    if status == 507:
        return ConfigError(
            f"The service is out of storage space (HTTP 507){detail}.",
            remediation="Free some space in the account (or raise its quota), then try again.",
        )
    if status in PERMANENT_5XX:
        return ConfigError(
            f"The service cannot do what was asked (HTTP {status}){detail}.",
            remediation="Check the address and the settings: another try would get the same answer.",
        )
    if status == 503 and retry_after is not None:
        # Unavailable for maintenance or overloaded, saying how long to wait (RFC 9110 15.6.4; Microsoft
        # Graph's and Google's error guides): waited out as asked, like a rate limit, not retried sooner.
        return RateLimited(
            f"The service is unavailable for now (HTTP 503) and asked us to wait {retry_after:.0f} s.",
            retry_after=retry_after,
        )
    if status >= 500:
        return TransientError(f"The service had an error (HTTP {status}).")
    return ConfigError(f"The service answered HTTP {status}{detail}.")


def _short(exc: BaseException) -> str:
    text = mask_urls_in(str(exc)) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."
