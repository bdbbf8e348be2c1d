"""Building what a connector needs (secrets, HTTP client, options, ports) for one integration."""

from __future__ import annotations

import time

from connectors.base import Context
from connectors.http import HttpClient, OutboundPolicy, heartbeat_every
from integrations.models import Actor, AuthKind, Integration
from integrations.secrets import credential_for
from integrations.sync.ports import KnownItems, outbound_policy
from integrations.timezones import zone_name_for

UNREAD = object()  # build_context reads the credential itself


def build_context(
    integration: Integration,
    *,
    purpose: str,
    actor=Actor.TASK,
    options: dict | None = None,
    on_heartbeat=None,
    in_job: bool = False,
    credential=UNREAD,
) -> Context:
    """`in_job`: the sync engine is the one retry layer (it resumes from the checkpoint under a
    time budget), so the outbound path reports failures at once instead of retrying them too.
    `credential`: one the caller has just read (and audited) with credential_for."""
    if credential is UNREAD:
        credential = credential_for(integration, actor=actor, purpose=purpose)
    policy = outbound_policy(integration, credential, **({"max_retries": 0} if in_job else {}))
    http = HttpClient(policy)
    ctx = Context(
        config=dict(integration.config or {}),
        secrets=dict(credential.secrets or {}) if credential else {},
        http=http,
        integration=integration,
        credential=credential,
        options=options or {},
        known=KnownItems(integration),
        time_zone=lambda: _zone_of(integration),
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
    ctx = Context(
        config=dict(config),
        secrets=dict(secrets),
        http=http,
        integration=integration,
        time_zone=lambda: _zone_of(integration),
    )
    if integration is not None and integration.pk is not None:
        ctx.known = KnownItems(integration)
    return ctx


def _zone_of(integration) -> str:
    """The owner's zone name, "" (the hub's) when there is no owner yet."""
    if integration is None or getattr(integration, "user_id", None) is None:
        return ""
    return zone_name_for(integration.user)


def _throttled(func, every: float | None = None):
    every = heartbeat_every() if every is None else every
    last = [0.0]

    def call():
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            func()

    return call
