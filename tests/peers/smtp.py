"""aiosmtpd, the real SMTP peer: an in-process Controller on a free port, started once per test
session, keeping every message it receives. Two variants:

- `smtp_server`: accepts mail from anyone (no AUTH offered), like a local relay;
- `smtp_auth_server`: AUTH PLAIN/LOGIN required (over plain text: auth_require_tls=False), with
  one account, to prove that a wrong SMTP password becomes an auth error.

Tests tell their messages apart by a unique subject or recipient (`messages_to(address)`).
"""

from __future__ import annotations

import email
import email.policy
import threading
import warnings
from dataclasses import dataclass, field

import pytest

from tests.peers.availability import free_port, unavailable

SMTP_USER = "sender@example.test"
SMTP_PASSWORD = "smtp-secret-42"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class SmtpServer:
    port: int
    controller: object = None
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        """The SSRF allowlist entry that opens the guard for this server."""
        return f"127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.received.append(
                Received(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), raw=envelope.original_content)
            )
        return "250 Message accepted for delivery"

    def messages_to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.received if address in m.rcpt_tos]

    def stop(self):
        if self.controller is not None:
            self.controller.stop()


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
    return AuthResult(success=ok, handled=False)


def start_smtp(*, require_auth: bool = False) -> SmtpServer:
    from aiosmtpd.controller import Controller

    class QuietController(Controller):
        def factory(self):
            # AUTH without TLS is the point of this test server: silence aiosmtpd's warning.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return super().factory()

    server = SmtpServer(port=free_port())
    kwargs = {}
    if require_auth:
        kwargs = dict(authenticator=_authenticator, auth_required=True, auth_require_tls=False)
    controller = QuietController(server, hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    server.controller = controller
    return server


def _fixture(require_auth: bool):
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        unavailable("aiosmtpd is not installed (pip install -r requirements-dev.txt)")
    try:
        return start_smtp(require_auth=require_auth)
    except Exception as exc:  # noqa: BLE001 - any start failure is a missing peer
        unavailable(f"aiosmtpd did not start: {exc}")


@pytest.fixture(scope="session")
def smtp_server():
    server = _fixture(require_auth=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_auth_server():
    server = _fixture(require_auth=True)
    try:
        yield server
    finally:
        server.stop()
