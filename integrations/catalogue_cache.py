"""What is built from the catalogue (the integration types) and read on every request, cached
until the catalogue changes: `load_catalogue`, an admin edit or any save/delete of an
IntegrationType bumps a version kept in the cache (settings.CACHES: the database cache, locmem or
Redis), and every entry's key holds the version it was built for. Each process also keeps the last
value it read with its version, so a request costs one cache read (the version) when nothing
changed. Values are shared: callers must not mutate them."""

from __future__ import annotations

import threading
import uuid

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.models import IntegrationType

VERSION_KEY = "catalogue:version"
ENTRY_SECONDS = 24 * 3600  # an entry of an old version just expires
_local: dict[str, tuple[str, object]] = {}
_lock = threading.Lock()


def version() -> str:
    current = cache.get(VERSION_KEY)
    if current is None:
        current = uuid.uuid4().hex
        if not cache.add(VERSION_KEY, current, timeout=None):  # another process set it first
            current = cache.get(VERSION_KEY) or current
    return current


def bump() -> None:
    """The catalogue changed: every cached value is rebuilt at its next read, in every process."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    with _lock:
        _local.clear()


def changed() -> None:
    """Call where the catalogue changes. Bumped at once (readers in the same transaction see the
    change) and again after the commit: a reader in another process that took the first version
    before the commit and cached the old rows under it is superseded."""
    bump()
    transaction.on_commit(bump)


def cached(name: str, build):
    """build() for the current catalogue, from this process, the shared cache, or built now."""
    current = version()
    hit = _local.get(name)
    if hit is not None and hit[0] == current:
        return hit[1]
    key = f"catalogue:{name}:{current}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=ENTRY_SECONDS)
    with _lock:
        _local[name] = (current, value)
    return value


@receiver(post_save, sender=IntegrationType, dispatch_uid="catalogue-cache-save")
@receiver(post_delete, sender=IntegrationType, dispatch_uid="catalogue-cache-delete")
def _type_changed(sender, **kwargs):
    changed()
