"""Worker tasks: thin wrappers around plain functions that tests call directly."""

from timeline.ingest import drain as drain_user
from timeline.models import PendingItem


def drain(user_id: int) -> int:
    return drain_user(user_id)


def drain_all() -> int:
    """The periodic sweep: what a lost task left in any outbox."""
    users = PendingItem.objects.values_list("user_id", flat=True).distinct()
    return sum(drain_user(user_id) for user_id in list(users))


def build_export(export_id: int) -> str:
    from timeline.export import build

    return build(export_id).status
