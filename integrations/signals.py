from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver
from django_q.signals import post_spawn

from integrations.fields import reset_key_cache
from integrations.models import Integration, Upload
from integrations.sync import sweeper

# Sent by the sync engine inside the transaction that stores a batch, after it is stored (so a
# receiver's writes commit or roll back with the batch). Arguments: integration, job, and the
# SyncedItem primary keys created_ids, updated_ids, deleted_ids (deleted = tombstoned).
batch_stored = Signal()

# Every qcluster worker process sweeps for dead workers' jobs (see integrations.sync.sweeper).
post_spawn.connect(sweeper.on_worker_spawned, dispatch_uid="sync-sweeper")


@receiver(setting_changed)
def _fernet_keys_changed(setting, **kwargs):
    if setting in ("FERNET_KEYS", "FERNET_USE_HKDF"):
        reset_key_cache()


@receiver(post_save, sender=Integration)
def _keep_schedule_in_step(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if update_fields is not None and not {"status", "sync_interval_minutes", "type"} & set(update_fields):
        return
    from integrations.sync.schedules import ensure_schedule

    ensure_schedule(instance)


@receiver(post_delete, sender=Integration)
def _drop_schedule(sender, instance, **kwargs):
    from integrations.sync.schedules import remove_schedule

    remove_schedule(instance.pk)


@receiver(post_delete, sender=Upload)
def _remove_upload_files(sender, instance, **kwargs):
    """An upload's bytes go with its row (removed by the person, or with its integration or
    account): once the deletion is committed, so a rolled-back delete keeps them."""
    from integrations.uploads.storage import remove_files

    user_id, upload_id = instance.user_id, instance.pk
    transaction.on_commit(lambda: remove_files(user_id, upload_id))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _remove_account_files(sender, instance, **kwargs):
    """A deleted account leaves no file behind: its uploads' folder and its imported media."""
    from integrations.uploads.storage import remove_user_media

    user_id = instance.pk
    transaction.on_commit(lambda: remove_user_media(user_id))
