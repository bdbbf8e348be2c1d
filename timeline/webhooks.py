"""Change webhooks: what changed in a person's timeline, POSTed in batches to the apps that asked.

The receiver gets POST <url> with
    {"type": "changes", "sent_at": ISO 8601, "changes": [{"id", "seq", "deleted", "record"}...],
     "cursor": <the changes_since cursor after this batch>}
and the headers of the workflow webhooks (connectors.webhook): X-MetaCortex-Timestamp,
X-MetaCortex-Signature (sha256 HMAC of "<timestamp>.<body>" keyed with the webhook's secret) and
X-MetaCortex-Delivery (the same for a resent batch, so the receiver can drop a duplicate).
A batch is resent until the receiver answers 2xx; in between the pauses grow from 30 s to an hour.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import time
from urllib.parse import urlsplit

from django.utils import timezone

from connectors import net
from connectors.errors import ConfigError, ConnectorError
from connectors.http import HttpClient, OutboundPolicy
from connectors.webapi import dumps
from connectors.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from timeline import leases
from timeline.models import ChangeWebhook, Entity

log = logging.getLogger(__name__)
BATCH = 100
MAX_BATCHES_PER_RUN = 20
MAX_PAUSE = 3600
PROGRESS_FIELDS = ["delivered_seq", "failures", "next_attempt_at", "last_error", "last_delivered_at"]


def validate_url(url: str) -> str:
    """The same reading the HTTP client gives the address; refused when a person could mean two
    hosts by it (userinfo, backslashes) or when it points at a private address."""
    import requests

    url = (url or "").strip()
    try:
        prepared = requests.Request("POST", url).prepare()
    except requests.RequestException as exc:
        raise ConfigError("The address is not a valid web address.", field="url") from exc
    parts = urlsplit(prepared.url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "\\" in url or "@" in parts.netloc:
        raise ConfigError(
            "The address must be a plain http:// or https:// URL, without a user name or backslashes.",
            field="url",
            remediation="Enter the receiver's address, e.g. https://example.com/hooks/metacortex.",
        )
    net.check_url_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    return url


def register(user, url: str, kinds: list[str] | None = None, secret: str = "") -> tuple[ChangeWebhook, str]:
    """A new change webhook starting at the user's current change (the past is in /records)."""
    from timeline.models import ChangeCounter

    secret = secret or secrets.token_urlsafe(32)
    current = ChangeCounter.objects.filter(user=user).values_list("seq", flat=True).first() or 0
    hook = ChangeWebhook.objects.create(
        user=user, url=validate_url(url), secret=secret, kinds=list(kinds or []), delivered_seq=current
    )
    return hook, secret


def deliver(hook_id: int) -> int:
    """Send what the receiver has not taken yet, a batch at a time. Returns the changes delivered."""
    hook = leases.claim(ChangeWebhook, hook_id)
    if hook is None:
        return 0  # deleted, paused, or another worker is sending it right now
    delivered = 0
    try:
        for _ in range(MAX_BATCHES_PER_RUN):
            changes = Entity.objects.filter(user_id=hook.user_id, seq__gt=hook.delivered_seq)
            if hook.kinds:
                changes = changes.filter(kind__in=hook.kinds)
            batch = list(changes.select_related("place").order_by("seq")[:BATCH])
            if not batch:
                break
            try:
                _post(hook, batch)
            except ConnectorError as exc:
                _failed(hook, exc)
                break
            hook.delivered_seq, hook.failures, hook.next_attempt_at, hook.last_error = batch[-1].seq, 0, None, ""
            hook.last_delivered_at = timezone.now()
            if not leases.save(hook, PROGRESS_FIELDS, keep=True):
                return delivered  # the lease ran out: the worker that took the hook over sends the rest
            delivered += len(batch)
    finally:
        leases.release(hook)
    return delivered


def _post(hook: ChangeWebhook, batch: list[Entity]):
    from timeline.api import encode_cursor, record_json

    body = dumps(
        {
            "type": "changes",
            "sent_at": timezone.now().isoformat(timespec="seconds"),
            "changes": [
                {
                    "id": e.pk,
                    "seq": e.seq,
                    "deleted": e.deleted_at is not None,
                    "record": None if e.deleted_at else record_json(e),
                }
                for e in batch
            ],
            "cursor": encode_cursor({"s": batch[-1].seq}),
        }
    )
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
        DELIVERY_HEADER: f"changes-{hook.pk}-{batch[0].seq}-{batch[-1].seq}",
    }
    # One try per run: the retry is the next run, after a pause that grows with each failure.
    with HttpClient(OutboundPolicy(max_retries=0)) as client:
        response = client.request("POST", validate_url(hook.url), data=body, headers=headers, allow=range(300, 600))
    if not 200 <= response.status_code < 300:
        # Never the receiver's body: it may echo the address, secret path included.
        raise ConfigError(f"it answered HTTP {response.status_code}")


def _failed(hook: ChangeWebhook, error: ConnectorError):
    hook.failures += 1
    pause = min(MAX_PAUSE, 30 * 2 ** (hook.failures - 1))
    hook.next_attempt_at = timezone.now() + datetime.timedelta(seconds=pause)
    host = urlsplit(hook.url).hostname
    hook.last_error = f"{host} did not take the changes: {error.message}"[:500]
    leases.save(hook, ["failures", "next_attempt_at", "last_error"], keep=True)
    log.info("Change webhook %s failed (%s); next try in %s s", hook.pk, error.error_class, pause)


def due_hooks(user_id: int | None = None):
    hooks = ChangeWebhook.objects.all() if user_id is None else ChangeWebhook.objects.filter(user_id=user_id)
    return leases.due(hooks)
