from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver
from django_q.signals import post_spawn

from integrations.fields import reset_key_cache
from integrations.models import Integration, Upload
from integrations.sync import sweeper
from integrations.sync.schedules import ensure_schedule, remove_schedule

# Sent by the sync engine inside the transaction that stores a batch, after it is stored (so a
# receiver's writes commit or roll back with the batch). Arguments: integration, job, and the
# SyncedItem primary keys created_ids, updated_ids, deleted_ids (deleted = tombstoned).
batch_stored = Signal()

# Every qcluster worker process sweeps for dead workers' jobs (see integrations.sync.sweeper).
post_spawn.connect(sweeper.on_worker_spawned, dispatch_uid="sync-sweeper")

# The lifecycle of an integration, for the apps that depend on one (workflows listens): they react
# here, so `integrations` never imports them. Each is sent with integration= and reason= (a sentence
# saying what happened, for whatever the dependent shows its user); a receiver returns the
# integrations.dependents.Dependent items it paused, which the pages and the API report.
# Sent before the delete, while what depends on the integration can still be found by it.
integration_deleting = Signal()
# Sent once the disconnect is committed (the instance stays, without credentials).
integration_disconnected = Signal()
# Sent when a disconnected integration, or one that needed re-authentication, is connected again.
integration_reconnected = Signal()


def notify(signal: Signal, integration: Integration, reason: str) -> list:
    """Send a lifecycle signal; the dependents every receiver reports, in one list."""
    responses = signal.send(sender=Integration, integration=integration, reason=reason)
    return [item for _receiver, items in responses for item in items or ()]


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
    ensure_schedule(instance)


@receiver(post_delete, sender=Integration)
def _drop_schedule(sender, instance, **kwargs):
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
