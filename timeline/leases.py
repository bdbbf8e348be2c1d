"""Delivery leases: one worker at a time sends a hook's next batch, without a database transaction
(and its row lock) held open across the POST to the receiver, which can take the whole HTTP timeout.

A worker claims a hook by moving its `leased_until` forward in one conditional UPDATE; the value it
wrote is its token. It records progress (and renews the lease) only while the row still holds its
token, so a worker that died or stalled past the lease gives the hook up to the next one, and a
late answer of the old worker changes nothing. A batch may then be sent twice: receivers drop the
duplicate by its delivery id, as they must for any retried POST."""

from __future__ import annotations

import datetime

from django.db.models import Q
from django.utils import timezone

LEASE = datetime.timedelta(minutes=2)  # longer than one POST (the client's timeout) and its bookkeeping


def due(queryset):
    """Hooks whose pause is over and that no live worker holds."""
    now = timezone.now()
    return queryset.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    )


def claim(model, pk: int):
    """The hook with its lease token set, or None when it is paused, deleted or held by another worker."""
    token = timezone.now() + LEASE
    if not due(model.objects.filter(pk=pk)).update(leased_until=token):
        return None
    hook = model.objects.filter(pk=pk).first()
    if hook is not None:
        hook.leased_until = token  # the value as written, not as read back, is what later updates match
    return hook


def save(hook, fields: list[str], *, keep: bool) -> bool:
    """Store `fields` of the hook if it still holds its lease, renewing the lease (keep) or ending it.
    False when the lease was lost: stop, another worker owns the hook now."""
    values = {name: getattr(hook, name) for name in fields}
    token = timezone.now() + LEASE if keep else None
    held = type(hook).objects.filter(pk=hook.pk, leased_until=hook.leased_until).update(leased_until=token, **values)
    hook.leased_until = token
    return bool(held)


def release(hook) -> None:
    save(hook, [], keep=False)
