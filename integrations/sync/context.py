"""Building what a connector needs (secrets, HTTP client, options) for one integration."""

from __future__ import annotations

import time

from connectors.base import Context
from connectors.http import HttpClient, OutboundPolicy, heartbeat_every
from integrations.models import Actor, AuthKind, Integration
from integrations.secrets import credential_for


def build_context(
    integration: Integration, *, purpose: str, actor=Actor.TASK, options: dict | None = None, on_heartbeat=None
) -> Context:
    credential = credential_for(integration, actor=actor, purpose=purpose)
    http = HttpClient(OutboundPolicy(integration=integration))
    ctx = Context(
        config=dict(integration.config or {}),
        secrets=dict(credential.secrets or {}) if credential else {},
        http=http,
        integration=integration,
        credential=credential,
        options=options or {},
    )
    if integration.type.auth_kind == AuthKind.OAUTH2:
        from integrations.oauth.tokens import TokenProvider

        ctx.tokens = TokenProvider(integration, credential=credential)
    if on_heartbeat:
        # One throttled heartbeat for the connector's own loops and for every wait and retry of
        # the outbound path (a long Retry-After must not let another worker take the job over).
        ctx.heartbeat = http.policy.heartbeat = _throttled(on_heartbeat)
    return ctx


def context_for_test(integration_type, config: dict, secrets: dict, *, integration=None) -> Context:
    """A context for test_connection before anything is saved (no metrics, no rate-limit row)."""
    http = HttpClient(OutboundPolicy(windows=[], max_retries=1))
    return Context(config=dict(config), secrets=dict(secrets), http=http, integration=integration)


def _throttled(func, every: float | None = None):
    every = heartbeat_every() if every is None else every
    last = [0.0]

    def call():
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            func()

    return call
