"""Worker tasks: thin wrappers around plain functions that tests call directly."""

from timeline.ingest import drain as drain_user
from timeline.models import PendingItem
from timeline.webhooks import deliver, due_hooks


def drain(user_id: int) -> int:
    newest = _newest_record(user_id)
    done = drain_user(user_id)
    if done:
        for hook_id in due_hooks(user_id).values_list("pk", flat=True):
            deliver(hook_id)
        if _newest_record(user_id) > newest:
            tell_automations(user_id, "new_record")
    return done


def relink_all_day(user_id: int) -> int:
    from timeline.ingest import relink_all_day as relink

    return relink(user_id)


def _newest_record(user_id: int) -> int:
    from timeline.models import Entity

    return Entity.objects.filter(user_id=user_id).order_by("-pk").values_list("pk", flat=True).first() or 0


def tell_automations(user_id: int, event: str):
    """New records or workflow cards: sent to the person's Zaps, and named to IFTTT's Realtime API."""
    from timeline import ifttt, zapier

    zapier.deliver_due(user_id, event)
    ifttt.notify(user_id, event)


def drain_all() -> int:
    """The periodic sweep: what a lost task left in any outbox, and change webhooks due a retry."""
    users = PendingItem.objects.values_list("user_id", flat=True).distinct()
    done = sum(drain(user_id) for user_id in list(users))  # with the Zaps and IFTTT told of new records
    for hook_id in list(due_hooks().values_list("pk", flat=True)):
        deliver(hook_id)
    from timeline import zapier

    zapier.deliver_due()  # Zaps due a retry
    return done


def build_export(export_id: int) -> str:
    from timeline.export import build

    return build(export_id).status
