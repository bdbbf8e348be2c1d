"""The timeline follows the sync engine: each stored batch goes into the user's outbox in the
batch's own transaction, and a task drains it once the batch is committed."""

import threading

from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from integrations.signals import batch_stored
from timeline.models import DataExport, EntitySource, PendingItem


@receiver(batch_stored)
def _queue_batch(sender, integration, job=None, created_ids=(), updated_ids=(), deleted_ids=(), **kwargs):
    stored = [*created_ids, *updated_ids]
    if not stored and not deleted_ids:
        return
    user_id = integration.user_id
    _append_pending(user_id, stored, removed=False)
    _append_pending(user_id, list(deleted_ids), removed=True)
    transaction.on_commit(lambda: _enqueue_drain(user_id))


def _append_pending(user_id: int, item_ids: list[int], *, removed: bool) -> None:
    """One outbox row per item, as one statement (PostgreSQL: the ids as one array) or one
    executemany (SQLite): bulk_create's per-row model instances were a sixth of a mail sync."""
    if not item_ids:
        return
    connection = connections[PendingItem.objects.db]
    table = connection.ops.quote_name(PendingItem._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (user_id, item_id, removed) SELECT %s, id, %s FROM unnest(%s::bigint[]) AS id",  # noqa: S608
                [user_id, removed, item_ids],
            )
        elif connection.vendor == "sqlite":
            sql = f"INSERT INTO {table} (user_id, item_id, removed) VALUES (%s, %s, %s)"  # noqa: S608
            cursor.executemany(sql, [(user_id, pk, removed) for pk in item_ids])
        else:
            rows = [PendingItem(user_id=user_id, item_id=pk, removed=removed) for pk in item_ids]
            PendingItem.objects.bulk_create(rows, batch_size=500)


def _enqueue_drain(user_id: int):
    from django_q.tasks import async_task

    async_task("timeline.tasks.drain", user_id, task_name=f"timeline-{user_id}", group="timeline")


# Entities that lost a source, per thread. Deleting an integration with its data removes every
# source in one go: the first callback after the commit refreshes them all in one query per user
# (the others find nothing left), not a query and a transaction per deleted row. Ids left over
# from a rolled-back transaction are refreshed with the next ones, which only re-reads them.
_local = threading.local()


@receiver(post_delete, sender=EntitySource)
def _source_gone(sender, instance, **kwargs):
    """A record deleted outright (its integration deleted with its data): the entity keeps its
    other sources, or is tombstoned once the deletion commits."""
    gone = getattr(_local, "gone", None)
    if gone is None:
        gone = _local.gone = set()
    gone.add(instance.entity_id)
    transaction.on_commit(_refresh_gone)


def _refresh_gone():
    from timeline.ingest import refresh_entities
    from timeline.models import Entity

    ids = list(getattr(_local, "gone", ()))
    _local.gone = set()
    if not ids:
        return
    by_user: dict[int, list[int]] = {}
    for user_id, entity_id in Entity.objects.filter(pk__in=ids).values_list("user_id", "pk"):
        by_user.setdefault(user_id, []).append(entity_id)
    for user_id, entity_ids in by_user.items():
        refresh_entities(user_id, entity_ids)


@receiver(post_delete, sender=DataExport)
def _export_gone(sender, instance, **kwargs):
    """An export deleted (or its account): its file goes too, once the deletion commits."""
    from timeline.export import delete_file

    transaction.on_commit(lambda: delete_file(instance))


# The person's zone decides which date an all-day event covers for them (timeline.links): another
# zone, and its links are made again, in the worker.
@receiver(pre_save, sender="integrations.UserPreferences")
def _remember_zone(sender, instance, raw=False, **kwargs):
    if not raw:
        stored = type(instance).objects.filter(pk=instance.pk) if instance.pk else type(instance).objects.none()
        instance._zone_before = stored.values_list("time_zone", flat=True).first() or ""


@receiver(post_save, sender="integrations.UserPreferences")
def _relink_on_new_zone(sender, instance, raw=False, **kwargs):
    from django.conf import settings

    if raw or not hasattr(instance, "_zone_before"):
        return
    before, after = instance._zone_before or settings.TIME_ZONE, instance.time_zone or settings.TIME_ZONE
    if before != after:  # "" is the hub's zone
        user_id = instance.user_id
        transaction.on_commit(lambda: _enqueue_relink(user_id))


def _enqueue_relink(user_id: int):
    from django_q.tasks import async_task

    async_task("timeline.tasks.relink_all_day", user_id, task_name=f"timeline-relink-{user_id}", group="timeline")
