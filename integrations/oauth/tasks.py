"""The scheduled token refresh: idle connections (nothing synced them lately) get their tokens
renewed before they lapse, so a rarely-used connection is still alive when a workflow needs it.

One django-q2 Schedule, "oauth-refresh-tokens", runs `refresh_expiring` every
OAUTH_REFRESH_TASK_MINUTES (10) for tokens expiring within OAUTH_REFRESH_WITHIN_MINUTES (20).
`ensure_refresh_schedule()` creates it idempotently after every `migrate` (a post_migrate
receiver, so a fresh install, an upgrade, and a hub whose schedule was deleted all get it back at
the next release) and again whenever an OAuth connection is made. On a hub without OAuth
connections the task finds nothing to do. Each refresh goes through TokenProvider, i.e. under the
same per-integration refresh lease as the syncs, so a scheduled refresh and a sync never both
refresh.

A provider that refuses the hub's OAuth client (ClientRejected) refuses it for every connection of
that type: the first refusal is recorded in the task's result (`config_error`, with what to fix
under `problems`), the type's other connections are not tried again in that run, and no
connection's status changes.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.utils import timezone

from connectors.errors import AuthError, ConfigError, ConnectorError
from integrations.models import INACTIVE_STATUSES, AuthKind, Credential
from integrations.oauth.tokens import TokenProvider
from metacortex.periodic import Periodic

log = logging.getLogger(__name__)

SCHEDULE_NAME = "oauth-refresh-tokens"


def _minutes(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


REFRESH = Periodic(
    SCHEDULE_NAME,
    "integrations.oauth.tasks.refresh_expiring",
    minutes=lambda: _minutes("OAUTH_REFRESH_TASK_MINUTES", 10),
)


def ensure_refresh_schedule(using: str = "default"):
    return REFRESH.ensure(using)


def expiring_credentials(within_minutes: int | None = None):
    within = _minutes("OAUTH_REFRESH_WITHIN_MINUTES", 20) if within_minutes is None else within_minutes
    horizon = timezone.now() + datetime.timedelta(minutes=within)
    return (
        Credential.objects.filter(
            integration__type__auth_kind=AuthKind.OAUTH2,
            refresh_token__isnull=False,
            expires_at__isnull=False,
            expires_at__lte=horizon,
        )
        .exclude(integration__status__in=INACTIVE_STATUSES)
        .select_related("integration__type")
    )


def refresh_expiring(within_minutes: int | None = None) -> dict:
    """Refresh every active OAuth connection whose token lapses within the window."""
    within = _minutes("OAUTH_REFRESH_WITHIN_MINUTES", 20) if within_minutes is None else within_minutes
    result = {"refreshed": [], "needs_reauth": [], "retry_later": [], "fresh": [], "config_error": [], "problems": {}}
    for credential in expiring_credentials(within):
        integration = credential.integration
        slug = integration.type.slug
        if slug in result["problems"]:
            result["config_error"].append(integration.pk)  # the same client fails the same way
            continue
        provider = TokenProvider(integration, credential=credential)
        try:
            done = provider.refresh_if_expiring(within * 60)
        except AuthError:
            result["needs_reauth"].append(integration.pk)
        except ConfigError as exc:
            # The operator's to fix (the OAuth client, its URLs): the connections stay as they are.
            result["config_error"].append(integration.pk)
            result["problems"][slug] = f"{exc.message} {exc.remediation}"
        except ConnectorError as exc:
            log.info("Token refresh of integration %s will be retried: %s", integration.pk, exc.message)
            result["retry_later"].append(integration.pk)
        else:
            result["refreshed" if done else "fresh"].append(integration.pk)
    return result
