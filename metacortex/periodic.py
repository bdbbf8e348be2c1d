"""The hub's periodic tasks: django-q2 Schedules that must exist on every hub, whatever happened
to them. Each app lists its own in its AppConfig.ready; each is (re)created after every `migrate`
(once django-q2's tables exist), so a fresh install, an upgrade and a hub whose schedule staff
deleted in the admin all get it back, and a changed interval setting takes effect."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models.signals import post_migrate
from django.utils import timezone


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str  # dotted path of the task
    minutes: int | Callable[[], int]  # a callable reads a setting at the time it is ensured

    def every(self) -> int:
        return self.minutes() if callable(self.minutes) else self.minutes

    def ensure(self, using: str = "default"):
        from django_q.models import Schedule

        minutes = self.every()
        schedule, created = Schedule.objects.using(using).get_or_create(
            name=self.name,
            defaults=dict(
                func=self.func,
                schedule_type=Schedule.MINUTES,
                minutes=minutes,
                repeats=-1,
                next_run=timezone.now() + datetime.timedelta(minutes=minutes),
            ),
        )
        if not created and schedule.minutes != minutes:
            schedule.minutes = minutes
            schedule.save(using=using, update_fields=["minutes"])
        return schedule


def ensure_after_migrate(app_config, *periodics: Periodic) -> None:
    """Connect one post_migrate receiver for this app that ensures its periodic tasks."""

    def receiver(sender, using="default", **kwargs):
        if "django_q_schedule" not in connections[using].introspection.table_names():
            return  # django-q2's tables are not there yet: the migrate that creates them runs this again
        for periodic in periodics:
            periodic.ensure(using)

    post_migrate.connect(receiver, sender=app_config, weak=False, dispatch_uid=f"periodic-{app_config.label}")
