"""Worker tasks: thin wrappers around plain functions that tests call directly."""

from timeline.ingest import drain as drain_user
from timeline.models import PendingItem
from timeline.webhooks import deliver, due_hooks


def drain(user_id: int) -> int:
    done = drain_user(user_id)
    if done:
        for hook_id in due_hooks(user_id).values_list("pk", flat=True):
            deliver(hook_id)
    return done


def drain_all() -> int:
    """The periodic sweep: what a lost task left in any outbox, and change webhooks due a retry."""
    users = PendingItem.objects.values_list("user_id", flat=True).distinct()
    done = sum(drain_user(user_id) for user_id in list(users))
    for hook_id in list(due_hooks().values_list("pk", flat=True)):
        deliver(hook_id)
    return done


def build_export(export_id: int) -> str:
    from timeline.export import build

    return build(export_id).status
