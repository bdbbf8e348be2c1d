"""One django-q2 Schedule per integration runs its incremental sync every N minutes."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from integrations.models import Integration, Status


def schedule_name(integration_id: int) -> str:
    return f"sync-integration-{integration_id}"


def wants_schedule(integration: Integration) -> bool:
    itype = integration.type
    return (
        itype.supports_scheduling
        and itype.is_available
        and bool(itype.handler)
        and itype.connector_class().can_sync()
        and integration.status != Status.DISCONNECTED
    )


def ensure_schedule(integration: Integration) -> Schedule | None:
    name = schedule_name(integration.pk)
    if not wants_schedule(integration):
        Schedule.objects.filter(name=name).delete()
        return None
    minutes = integration.sync_interval_minutes
    schedule = Schedule.objects.filter(name=name).first()
    if schedule and schedule.minutes == minutes:
        return schedule
    if schedule is None:
        schedule = Schedule(name=name, func="integrations.tasks.scheduled_sync", args=repr(integration.pk))
    schedule.schedule_type = Schedule.MINUTES
    schedule.minutes = minutes
    schedule.repeats = -1
    schedule.next_run = timezone.now() + timedelta(minutes=minutes)
    schedule.save()
    return schedule


def remove_schedule(integration_id: int) -> None:
    Schedule.objects.filter(name=schedule_name(integration_id)).delete()


def next_run(integration: Integration):
    return Schedule.objects.filter(name=schedule_name(integration.pk)).values_list("next_run", flat=True).first()
