"""IMAP and SMTP connections that open every socket through the SSRF guard.

imapclient and smtplib would call socket.create_connection themselves; the subclasses here make
them use connectors.net.guarded_create_connection instead (resolve once, refuse internal
addresses unless allowlisted, connect to the checked address), while TLS still checks the
certificate against the host name the user typed (SNI). STARTTLS wraps that same socket.
Connect and read timeouts come from settings.OUTBOUND_TIMEOUT, so a server that accepts the TCP
connection and then says nothing ends in a timeout instead of a stuck worker.

Each round trip that matters (LOGIN, SELECT/EXAMINE, SEARCH, one FETCH per batch, APPEND) takes
a slot of the integration's rate limit and is counted in its request metrics, exactly as an HTTP
request is (connectors.http.OutboundPolicy): per command, never per message.

Imported lazily by the connector: imapclient costs ~80 ms to import.
"""

from __future__ import annotations

import functools
import re
import smtplib
import ssl
import time

from django.conf import settings
from imapclient import IMAPClient, exceptions, imap4, tls
from imapclient.imapclient import SocketTimeout, join_message_ids, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response
from imapclient.util import to_ints

from connectors import net
from connectors.errors import AuthError, ConfigError, ConnectorError, TransientError

SECURITY_CHOICES = ("ssl", "starttls", "none")


class _GuardedIMAP4(imap4.IMAP4WithTimeout):
    def _create_socket(self, timeout=None):
        return net.guarded_create_connection((self.host, self.port), timeout if timeout is not None else self._timeout)


class _GuardedIMAP4TLS(tls.IMAP4_TLS):
    def _create_socket(self, timeout=None):
        sock = net.guarded_create_connection((self.host, self.port), timeout if timeout is not None else self._timeout)
        try:
            return tls.wrap_socket(sock, self.ssl_context, self.host)  # SNI and checks use the typed name
        except BaseException:
            sock.close()
            raise


def _metered(command):
    """Wrap an IMAPClient command: wait for a rate-limit slot, then time and count the round trip."""

    @functools.wraps(command)
    def call(self, *args, **kwargs):
        policy = self.policy
        if policy is None:  # a bare connection (benchmarks, tests of the parser): no integration to meter
            return command(self, *args, **kwargs)
        slots = policy.wait_for_slot()
        started, ok = time.monotonic(), False
        try:
            result = command(self, *args, **kwargs)
            ok = True
            return result
        finally:
            policy.settle(slots)
            policy.metrics.record(duration_ms=(time.monotonic() - started) * 1000, ok=ok)

    return call


_UPDATE_ONLY = {b"SEQ", b"FLAGS", b"MODSEQ"}  # what an unsolicited FETCH (a flag update) holds


def _fetch_by_uid(self, messages, data, modifiers=None):
    """IMAPClient.fetch, keyed by the UID each response names. imapclient keys a response without
    a UID (an unsolicited flag update, as Exchange sends them: "* 2 FETCH (FLAGS (\\Seen))") by its
    message number and merges it into the requested message whose UID is that number: after an
    expunge that is another message, which then took its flags. Responses are read by message
    number here, so updates of one message stay together, and those that name no UID are dropped
    (the next sync sees such a change by its MODSEQ or flags)."""
    if not self.use_uid:
        return IMAPClient.fetch(self, messages, data, modifiers)
    if not messages:
        return {}
    args = ["UID", "FETCH", join_message_ids(messages), seq_to_parenstr_upper(data)]
    if modifiers:
        args.append(seq_to_parenstr_upper(modifiers))
    tag = self._imap._command(*args)
    typ, answer = self._imap._command_complete("FETCH", tag)
    self._checkok("fetch", typ, answer)
    typ, answer = self._imap._untagged_response(typ, answer, "FETCH")
    by_number = parse_fetch_response(answer, self.normalise_times, uid_is_key=False)
    by_uid: dict = {}
    for number, values in by_number.items():
        uid = values.get(b"UID")
        if uid is None:
            if set(values) <= _UPDATE_ONLY:
                continue  # a flag update naming no UID: not necessarily about a message we asked for
            uid = number  # a server that leaves the UID out of every answer: read as imapclient reads it
        merged = by_uid.setdefault(uid, {})
        merged.update((key, value) for key, value in values.items() if key != b"UID")
    return {uid: by_uid[uid] for uid in to_ints(messages) if uid in by_uid}


class GuardedIMAPClient(IMAPClient):
    policy = None  # the integration's connectors.http.OutboundPolicy, set by connect_imap

    login = _metered(IMAPClient.login)
    select_folder = _metered(IMAPClient.select_folder)
    search = _metered(IMAPClient.search)
    fetch = _metered(_fetch_by_uid)
    append = _metered(IMAPClient.append)

    def _create_IMAP4(self):
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _GuardedIMAP4TLS(self.host, self.port, self.ssl_context, connect_timeout)
        return _GuardedIMAP4(self.host, self.port, connect_timeout)


class GuardedSMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        return net.guarded_create_connection((host, port), timeout, self.source_address)


class GuardedSMTPSSL(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock = net.guarded_create_connection((host, port), timeout, self.source_address)
        try:
            return self.context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise


def timeout() -> float:
    return float(settings.OUTBOUND_TIMEOUT)


def _endpoint(config: dict, prefix: str = "") -> tuple[str, int, str]:
    host = str(config.get(f"{prefix}host") or "").strip()
    security = str(config.get(f"{prefix}security") or "ssl").lower()
    if security not in SECURITY_CHOICES:
        raise ConfigError(
            f"Unknown security setting {security!r}.",
            remediation="Choose SSL/TLS, STARTTLS or None.",
            field=f"{prefix}security",
        )
    default_port = {"": {"ssl": 993, "starttls": 143, "none": 143}, "smtp_": {"ssl": 465, "starttls": 587, "none": 25}}
    try:
        port = int(config.get(f"{prefix}port") or default_port[prefix][security])
    except (TypeError, ValueError):
        raise ConfigError("The port must be a number.", field=f"{prefix}port") from None
    if not host:
        raise ConfigError(
            "No server address was given.", remediation="Enter the server's host name.", field=f"{prefix}host"
        )
    return host, port, security


def connect_imap(config: dict, secrets: dict, policy=None) -> GuardedIMAPClient:
    """A logged-in IMAP connection, or a typed ConnectorError saying what to fix. `policy` (the
    integration's OutboundPolicy) rate-limits and counts its round trips."""
    host, port, security = _endpoint(config)
    username = str(config.get("username") or "").strip()
    password = str(secrets.get("password") or "")
    seconds = timeout()
    where = f"{host}:{port}"
    try:
        client = GuardedIMAPClient(
            host, port=port, ssl=security == "ssl", timeout=SocketTimeout(connect=seconds, read=seconds)
        )
    except TimeoutError:
        raise TransientError(
            f"The mail server {where} accepted the connection but did not answer in time ({seconds:g} s).",
            remediation="The server may be overloaded or the port may be wrong; the next sync tries again.",
        ) from None
    except ssl.SSLCertVerificationError:
        raise  # classified once, in connectors.errors
    except ssl.SSLError as exc:
        raise ConfigError(
            f"The TLS handshake with {where} failed ({exc.reason or exc}).",
            remediation="Check the port and the security setting: SSL/TLS is usually port 993, STARTTLS port 143.",
            field="security",
        ) from None
    except (imaplib_error(), exceptions.IMAPClientError) as exc:
        raise TransientError(f"The mail server {where} did not greet us properly: {exc}") from None
    client.normalise_times = False  # aware datetimes for INTERNALDATE
    client.policy = policy
    try:
        with translate(where):
            if security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise ConfigError(
                        f"The mail server {where} does not offer STARTTLS.",
                        remediation="Choose SSL/TLS (usually port 993), or None only on a trusted network.",
                        field="security",
                    )
                client.starttls(ssl.create_default_context())
            try:
                client.login(username, password)
            except exceptions.LoginError as exc:
                raise login_failed(username, exc, where) from None
            if client.has_capability("CONDSTORE"):
                client.enable("CONDSTORE")
    except BaseException:
        client.shutdown()
        raise
    return client


def login_failed(username: str, exc, where: str = "") -> ConnectorError:
    """What a refused LOGIN means. Servers also refuse it for passing reasons (RFC 5530:
    [UNAVAILABLE] when their password backend is down, [INUSE], [LIMIT]): those are transient,
    and must not send a working account to needs_reauth. The rest is about the credentials."""
    text = _server_text(exc)
    upper = text.upper()
    server = f"The mail server {where}" if where else "The mail server"
    if _is_microsoft_cloud(where) and not any(code in upper for code in _TEMPORARY_CODES):
        return ConfigError(
            f"{server} refused the password ({text}): Microsoft no longer accepts passwords over IMAP, app "
            "passwords included, for Outlook.com, Hotmail and Microsoft 365 mailboxes (work accounts since "
            "2022, personal ones since September 2024). They sign in with OAuth only, which this integration "
            "does not offer.",
            remediation="Forward this mailbox's mail to a mailbox that offers IMAP with a password (a forwarding "
            "rule in Outlook), and connect that one; Outlook calendars connect through the Outlook Calendar "
            "integration.",
            field="host",
        )
    if _AUTH_CODES.search(upper):
        return login_refused(username, exc)
    # Response codes only: free text such as "Login failed, try again" is a plain refusal.
    if any(code in upper for code in _TEMPORARY_CODES):
        return TransientError(
            f"{server} could not sign us in just now ({text}).",
            remediation="The server said the problem is temporary; nothing needs changing, the next sync tries again.",
        )
    if "[PRIVACYREQUIRED]" in upper:
        return ConfigError(
            f"{server} refuses to sign in over an unencrypted connection ({text}).",
            remediation="Choose SSL/TLS (usually port 993) or STARTTLS in the integration's settings.",
            field="security",
        )
    return login_refused(username, exc)


# Exchange Online's IMAP endpoints: basic authentication is switched off there for good.
_MICROSOFT_CLOUD = re.compile(r"(^|\.)(outlook\.office365\.com|outlook\.office\.com|outlook\.com|office365\.com)$")


def _is_microsoft_cloud(where: str) -> bool:
    host = where.rsplit(":", 1)[0].strip().strip("[]").rstrip(".").lower() if where else ""
    return bool(host) and bool(_MICROSOFT_CLOUD.search(host))


def login_refused(username: str, exc=None) -> AuthError:
    detail = _server_text(exc) if exc is not None else ""
    return AuthError(
        f"The server refused the username or password for {username or 'this account'}"
        + (f" ({detail})." if detail else "."),
        remediation="Check the username and password (many providers require an app password), then reconnect.",
        field="password",
    )


def connect_smtp(config: dict, secrets: dict):
    """A connected (and, when the server offers AUTH, logged-in) SMTP session."""
    host, port, security = _endpoint(config, "smtp_")
    username = str(config.get("smtp_username") or config.get("username") or "").strip()
    password = str(secrets.get("smtp_password") or secrets.get("password") or "")
    seconds = timeout()
    where = f"{host}:{port}"
    with translate(where, smtp=True):
        if security == "ssl":
            smtp = GuardedSMTPSSL(host, port, timeout=seconds, context=ssl.create_default_context())
        else:
            smtp = GuardedSMTP(host, port, timeout=seconds)
        try:
            smtp.ehlo_or_helo_if_needed()
            if security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ConfigError(
                        f"The SMTP server {where} does not offer STARTTLS.",
                        remediation="Choose SSL/TLS (usually port 465), or None only on a trusted network.",
                        field="smtp_security",
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if smtp.has_extn("auth") and username:
                smtp.login(username, password)
        except BaseException:
            smtp.close()
            raise
    return smtp


def imaplib_error():
    import imaplib

    return imaplib.IMAP4.error


def _server_text(exc) -> str:
    text = str(exc)
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]
    return text.strip()[:300]


class translate:
    """Turn what imaplib/imapclient/smtplib raise mid-conversation into ConnectorErrors that say
    which server failed and how (the module-level classifier covers the rest)."""

    def __init__(self, where: str, *, smtp: bool = False):
        self.where, self.smtp = where, smtp

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, Exception):
            return False
        if isinstance(exc, ConnectorError):
            return False
        if isinstance(exc, TimeoutError) or (
            isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc)
        ):
            kind = "SMTP" if self.smtp else "mail"
            raise TransientError(
                f"The {kind} server {self.where} did not answer in time ({timeout():g} s).",
                remediation="The server may be overloaded or unreachable; the next sync tries again.",
            ) from exc
        translated = classify_mail_error(exc)
        if translated is not None:
            raise translated from exc
        return False


def classify_mail_error(exc: BaseException):
    """imaplib / imapclient / smtplib exceptions -> ConnectorError (None: not ours)."""
    import imaplib

    if isinstance(exc, exceptions.LoginError):
        return login_failed("", exc)
    if isinstance(exc, imaplib.IMAP4.abort):
        return TransientError(f"The connection to the mail server was lost: {_server_text(exc)}")
    if isinstance(exc, imaplib.IMAP4.readonly):
        return TransientError(f"The folder became read-only during the sync: {_server_text(exc)}")
    if isinstance(exc, imaplib.IMAP4.error | exceptions.IMAPClientError):
        return _classify_imap_no(_server_text(exc))
    if isinstance(exc, smtplib.SMTPException):
        return _classify_smtp(exc)
    return None


_TEMPORARY_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]")  # RFC 5530
_AUTH_CODES = re.compile(r"\[AUTHENTICATIONFAILED\]|AUTHENTICATION FAILED|\[AUTHORIZATIONFAILED\]")


def _classify_imap_no(text: str):
    upper = text.upper()
    if _AUTH_CODES.search(upper):
        return login_refused("", text)
    if "[NONEXISTENT]" in upper or "DOESN'T EXIST" in upper or "DOES NOT EXIST" in upper or "NO SUCH" in upper:
        return ConfigError(
            f"The mail server says a folder does not exist ({text}).",
            remediation="Check the folder names in the integration's settings.",
            field="folders",
        )
    if any(code in upper for code in _TEMPORARY_CODES) or "TRY AGAIN" in upper:
        return TransientError(f"The mail server is busy or had an error: {text}")
    if "[OVERQUOTA]" in upper:
        return ConfigError(f"The mailbox is over its quota: {text}", remediation="Free some space in the mailbox.")
    return ConfigError(f"The mail server refused the request: {text}")


def _classify_smtp(exc):
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AuthError(
            "The SMTP server refused the username or password.",
            remediation="Check the username and password (many providers require an app password), then reconnect.",
            field="password",
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(sorted(exc.recipients))[:300]
        return ConfigError(
            f"The SMTP server refused the recipient(s): {refused}.",
            remediation="Check the recipient addresses in the output settings.",
            field="to",
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return ConfigError(
            f"The SMTP server refused the sender address {exc.sender}.",
            remediation="Check that the username is an address this server may send from.",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ConfigError(f"The SMTP server does not support what we asked: {exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return TransientError(f"The SMTP server closed the connection: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        if 400 <= exc.smtp_code < 500:
            return TransientError(f"The SMTP server asked us to try later ({exc.smtp_code} {message}).")
        return ConfigError(f"The SMTP server refused the message ({exc.smtp_code} {message}).")
    return TransientError(f"SMTP error: {exc}")
