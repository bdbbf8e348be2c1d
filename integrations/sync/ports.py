"""The hub's side of the connector ports (connectors.ports): the database, Redis and the URL map,
which connectors may not import themselves."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from connectors import ratelimit
from connectors.errors import TransientError, register_classifier
from connectors.http import OutboundPolicy
from connectors.ports import StoreUnavailable
from integrations.models import Integration, RateLimitBucket, RateLimitHit, RequestStat, SyncedItem
from integrations.sync.bookkeeping import bookkeeping_transaction

CHUNK = 900  # below SQLite's bound-variable limit


class HubOutage(TransientError):
    """The hub's own Redis (broker, cache, rate-limit store) could not be reached: an outage to
    wait out, not the provider's failure and not a bug. The engine waits for it without spending
    the job's retries."""


@register_classifier
def _hub_outage(exc: BaseException):
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return None
    outage = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
        StoreUnavailable,
    )
    if isinstance(exc, outage):
        return HubOutage(
            "The hub's Redis server could not be reached for a moment.",
            remediation="Nothing to do: the sync waits for it and goes on from where it stopped.",
        )
    return None


class KnownItems:
    """Context.known: the live records of one integration."""

    def __init__(self, integration: Integration):
        self.integration = integration

    def _live(self):
        return SyncedItem.objects.filter(integration=self.integration, deleted_at__isnull=True)

    def versions(self, external_ids=None) -> dict[str, str]:
        if self.integration.pk is None:
            return {}
        if external_ids is None:
            return dict(_rows(self._live().values_list("external_id", "version")))
        ids, result = list(external_ids), {}
        for start in range(0, len(ids), CHUNK):
            result.update(
                self._live().filter(external_id__in=ids[start : start + CHUNK]).values_list("external_id", "version")
            )
        return result

    def ids(self, prefix: str = "", *, occurred_within: tuple | None = None) -> set[str]:
        if self.integration.pk is None:
            return set()
        qs = self._live().filter(external_id__startswith=prefix) if prefix else self._live()
        if occurred_within is not None:
            start, end = occurred_within
            qs = qs.filter(Q(occurred_at__isnull=True) | Q(occurred_at__gte=start, occurred_at__lt=end))
        return {external_id for (external_id,) in _rows(qs.values_list("external_id"))}

    def data(self, external_ids) -> dict[str, dict]:
        if self.integration.pk is None:
            return {}
        ids, result = list(external_ids), {}
        for start in range(0, len(ids), CHUNK):
            result.update(
                self._live().filter(external_id__in=ids[start : start + CHUNK]).values_list("external_id", "data")
            )
        return result


def _rows(queryset) -> list[tuple]:
    """A values_list queryset's rows through a plain cursor, in one round trip. Not .iterator():
    on PostgreSQL that is a server-side cursor (DECLARE, FETCHes, CLOSE; outside a transaction a
    WITH HOLD one, copied out at commit), for a result the caller keeps whole in a set or dict
    anyway; and not the ORM's per-row work, for the tens of thousands of ids a mailbox has."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class HubUrls:
    def url(self, name: str, *args) -> str:
        return reverse(name, args=args)


class RequestStats:
    """MetricsSink: hourly RequestStat rows per integration. Written without waiting for the WAL
    flush (integrations.sync.bookkeeping): a database crash can only leave a few requests of the
    last second uncounted in the hourly metrics."""

    def add(self, integration_id: int, values: dict, last_success) -> None:
        hour = timezone.now().replace(minute=0, second=0, microsecond=0)
        updates = {name: F(name) + amount for name, amount in values.items()}
        if last_success:
            updates["last_success_at"] = last_success
        for _ in range(2):
            try:
                with bookkeeping_transaction():
                    if RequestStat.objects.filter(integration_id=integration_id, hour=hour).update(**updates):
                        return
                    if not Integration.objects.filter(pk=integration_id).exists():
                        return
                    RequestStat.objects.create(
                        integration_id=integration_id, hour=hour, last_success_at=last_success, **values
                    )
                return
            except IntegrityError:
                continue  # another process created the row first: add to it


class DatabaseWindowStore:
    """RateLimitStore in the database: one locked bucket row per key serializes the workers.

    Its transactions do not wait for the WAL flush (integrations.sync.bookkeeping): they are as
    atomic and as visible to the other workers at once, and a crash of the database server can only
    make a window forget the hits of its last second, a request or two more for the provider right
    after that crash (its 429 is waited out like any other)."""

    _bucket_ids: dict[str, int] = {}  # key -> bucket row, for every store of the process

    def try_acquire(self, key: str, limit: int, seconds: float, pending: float) -> tuple[float, str]:
        try:
            for _ in range(3):
                bucket_id = self._bucket_ids.get(key) or self._bucket_id(key)
                now = time.time()
                with bookkeeping_transaction():
                    # The UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, so the
                    # count below and the insert after it are one step for every competing worker.
                    # By key too: a remembered id may be of a bucket deleted since (or of another database).
                    if not RateLimitBucket.objects.filter(pk=bucket_id, key=key).update(touched_at=timezone.now()):
                        self._bucket_ids.pop(key, None)
                        continue
                    RateLimitHit.objects.filter(bucket_id=bucket_id, at__lte=now - seconds).delete()
                    recent = list(
                        RateLimitHit.objects.filter(bucket_id=bucket_id)
                        .order_by("at")
                        .values_list("at", flat=True)[:limit]
                    )
                    if len(recent) < limit:
                        hit = RateLimitHit.objects.create(bucket_id=bucket_id, at=now + pending)
                        return 0.0, str(hit.pk)
                    return max(0.01, recent[0] + seconds - now), ""
        except DatabaseError as exc:
            raise StoreUnavailable(f"database: {type(exc).__name__}") from exc
        raise StoreUnavailable("database: the rate-limit bucket keeps disappearing")

    def _bucket_id(self, key: str) -> int:
        bucket, _ = RateLimitBucket.objects.get_or_create(key=key)
        self._bucket_ids[key] = bucket.pk
        return bucket.pk

    def settle(self, key: str, token: str) -> None:
        try:
            with bookkeeping_transaction():
                RateLimitHit.objects.filter(pk=int(token)).update(at=time.time())
        except DatabaseError as exc:
            raise StoreUnavailable(f"database: {type(exc).__name__}") from exc


def rate_store():
    return ratelimit.RedisWindowStore(settings.REDIS_URL) if settings.REDIS_URL else DatabaseWindowStore()


def rate_limit_key(integration: Integration, credential=None) -> str:
    """Key the shared windows the way the provider counts, as the connector declares:
    "integration" (default), "token" (one API token, whichever integrations hold it), "account"
    (one account at the provider) or "app" (the hub's OAuth client, shared by every user)."""
    itype = integration.type
    scope = getattr(itype.connector_class(), "rate_limit_scope", "integration") if itype.handler else "integration"
    if scope == "app":
        return f"app:{itype.slug}"
    if scope == "account" and integration.account_identity:
        return f"account:{itype.slug}:{_digest(integration.account_identity.lower())}"
    if scope == "token" and credential is not None:
        secret = _static_secret(credential)
        if secret:
            return f"token:{itype.slug}:{_digest(secret)}"
    return f"integration:{integration.pk}"


def _static_secret(credential) -> str:
    secrets = credential.secrets or {}
    for name in ("token", "api_key", "api_token", "access_token", "key"):
        if secrets.get(name):
            return str(secrets[name])
    return ""


def _digest(value: str) -> str:
    # A one-way digest: the key is stored in Redis or the database, the secret never is.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def outbound_policy(integration: Integration, credential=None, **kwargs) -> OutboundPolicy:
    """An integration's outbound policy with the hub's ports plugged in."""
    return OutboundPolicy(
        integration=integration,
        rate_store=rate_store(),
        rate_key=rate_limit_key(integration, credential),
        metrics_sink=RequestStats(),
        **kwargs,
    )
