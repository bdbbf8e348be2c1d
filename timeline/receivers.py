"""The timeline follows the sync engine: each stored batch goes into the user's outbox in the
batch's own transaction, and a task drains it once the batch is committed."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from integrations.signals import batch_stored
from timeline.models import DataExport, EntitySource, PendingItem


@receiver(batch_stored)
def _queue_batch(sender, integration, job=None, created_ids=(), updated_ids=(), deleted_ids=(), **kwargs):
    rows = [PendingItem(user_id=integration.user_id, item_id=pk) for pk in (*created_ids, *updated_ids)]
    rows += [PendingItem(user_id=integration.user_id, item_id=pk, removed=True) for pk in deleted_ids]
    if not rows:
        return
    PendingItem.objects.bulk_create(rows, batch_size=500)
    user_id = integration.user_id
    transaction.on_commit(lambda: _enqueue_drain(user_id))


def _enqueue_drain(user_id: int):
    from django_q.tasks import async_task

    async_task("timeline.tasks.drain", user_id, task_name=f"timeline-{user_id}", group="timeline")


@receiver(post_delete, sender=EntitySource)
def _source_gone(sender, instance, **kwargs):
    """A record deleted outright (its integration deleted with its data): the entity keeps its
    other sources, or is tombstoned once the deletion commits."""
    entity_id, user_id = instance.entity_id, instance.entity.user_id

    def refresh():
        from timeline.ingest import refresh_entities

        refresh_entities(user_id, [entity_id])

    transaction.on_commit(refresh)


@receiver(post_delete, sender=DataExport)
def _export_gone(sender, instance, **kwargs):
    """An export deleted (or its account): its file goes too, once the deletion commits."""
    from timeline.export import delete_file

    transaction.on_commit(lambda: delete_file(instance))
