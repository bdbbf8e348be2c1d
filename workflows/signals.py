from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from workflows.models import Workflow


@receiver(post_save, sender=Workflow)
def _keep_schedule_in_step(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if update_fields is not None and not {"is_active", "schedule"} & set(update_fields):
        return
    from workflows.schedules import ensure_schedule

    ensure_schedule(instance)


@receiver(post_delete, sender=Workflow)
def _drop_schedule(sender, instance, **kwargs):
    from workflows.schedules import remove_schedule

    remove_schedule(instance.pk)


@receiver(post_save, sender="integrations.Integration")
def _offer_resume_when_usable_again(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or not instance.is_active:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    from workflows.links import offer_resume

    offer_resume(instance)
