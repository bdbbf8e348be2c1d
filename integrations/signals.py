from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from integrations.fields import reset_key_cache
from integrations.models import Integration

# Sent inside a sync batch's transaction once the batch is stored, with the SyncedItem ids it
# created, updated and tombstoned: the timeline takes them in from there.
batch_stored = Signal()


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
