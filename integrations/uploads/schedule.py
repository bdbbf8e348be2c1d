"""The periodic upload sweep (a django-q2 Schedule, recreated after every `migrate` like the token
refresh): settles uploads whose import ended elsewhere and deletes stale ones."""

from __future__ import annotations

import datetime

from django.utils import timezone

SCHEDULE_NAME = "upload-sweep"
EVERY_MINUTES = 30


def ensure_sweep_schedule(using: str = "default"):
    from django_q.models import Schedule

    schedule, _created = Schedule.objects.using(using).get_or_create(
        name=SCHEDULE_NAME,
        defaults=dict(
            func="integrations.tasks.sweep_uploads",
            schedule_type=Schedule.MINUTES,
            minutes=EVERY_MINUTES,
            repeats=-1,
            next_run=timezone.now() + datetime.timedelta(minutes=EVERY_MINUTES),
        ),
    )
    return schedule


def ensure_sweep_after_migrate(sender, using="default", **kwargs):
    from django.db import connections

    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_sweep_schedule(using)
