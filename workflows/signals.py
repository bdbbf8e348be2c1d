from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.signals import integration_deleting, integration_disconnected, integration_reconnected
from workflows import links
from workflows.models import Workflow
from workflows.schedules import ensure_schedule, rearm, remove_schedule


@receiver(post_save, sender=Workflow)
def _keep_schedule_in_step(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if update_fields is not None and not {"is_active", "schedule"} & set(update_fields):
        return
    ensure_schedule(instance)


@receiver(post_delete, sender=Workflow)
def _drop_schedule(sender, instance, **kwargs):
    remove_schedule(instance.pk)


# An integration a workflow uses goes away: pause and flag the workflow (what the warning promised).
@receiver(integration_deleting)
def _pause_when_its_integration_is_deleted(sender, integration, reason, **kwargs):
    return links.pause_dependents(integration, reason)


@receiver(integration_disconnected)
def _pause_when_its_integration_is_disconnected(sender, integration, reason, **kwargs):
    return links.pause_dependents(integration, reason)


@receiver(integration_reconnected)
def _say_its_integration_is_back(sender, integration, reason, **kwargs):
    links.offer_resume(integration)
    return []


@receiver(post_save, sender="integrations.Integration")
def _offer_resume_when_usable_again(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or not instance.is_active:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    from workflows.links import offer_resume

    offer_resume(instance)


@receiver(post_save, sender="integrations.UserPreferences")
def _follow_the_owners_zone(sender, instance, raw=False, **kwargs):
    """Schedules are read in the owner's zone: another zone moves their next runs."""
    if raw:
        return
    for workflow in Workflow.objects.filter(owner_id=instance.user_id, is_active=True).exclude(schedule=""):
        rearm(workflow)
