"""The periodic sweep of the timeline outboxes: each batch is drained by its own task as soon as it
commits; this catches what a lost task (a broker restart, a killed worker) left behind."""

import datetime

from django.utils import timezone

SCHEDULE_NAME = "timeline-drain"
EVERY_MINUTES = 5


def ensure_drain_schedule(sender=None, using="default", **kwargs):
    from django.db.utils import OperationalError, ProgrammingError
    from django_q.models import Schedule

    try:
        Schedule.objects.using(using).get_or_create(
            name=SCHEDULE_NAME,
            defaults=dict(
                func="timeline.tasks.drain_all",
                schedule_type=Schedule.MINUTES,
                minutes=EVERY_MINUTES,
                repeats=-1,
                next_run=timezone.now() + datetime.timedelta(minutes=EVERY_MINUTES),
            ),
        )
    except (OperationalError, ProgrammingError):
        return  # django-q2's tables are not there yet: the next migrate creates it
