"""One django-q2 CRON Schedule per active, scheduled workflow, kept in step with the workflow.

Cron expressions have five fields and are read in the workflow owner's time zone: "every day at
07:00" is 07:00 where they live, as the preview on the form says. Across a change of the clocks
they behave like cron: a time the clocks skip (02:30 when they go forward) runs once at the first
moment after it, and a fixed time the clocks repeat (02:30 when they go back) runs once, while a
schedule with `*` in its minute or hour keeps its pace in real time. django-q2 computes a CRON
schedule's next run in the hub's zone (settings.TIME_ZONE), so the hub sets it itself: when the
schedule is made, at each run (run_scheduled corrects what the scheduler wrote; its UPDATE waits
for the scheduler's row lock, so it lands after), and when the owner picks another zone. An
inactive workflow, or one without a schedule, has no Schedule at all: nothing fires for it.

Besides, a workflow may get one ONCE Schedule (schedule_retry): a receiver answered a 429 whose
Retry-After is longer than the hub waits in one go, so its pending cards go out when it asked,
whether the workflow has a schedule or not. It fires once; a paused workflow skips it.
"""

from __future__ import annotations

import re
from datetime import datetime

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.utils import timezone
from django_q.models import Schedule

TASK = "workflows.tasks.run_scheduled"
_RANDOM = re.compile(r"^r(\(\d+-\d+\))?(/\d+)?$", re.IGNORECASE)
PRESETS = [
    ("0 7 * * *", "Every day at 07:00"),
    ("0 8 * * 1-5", "Weekdays at 08:00"),
    ("0 * * * *", "Every hour"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 18 * * 0", "Sundays at 18:00"),
]


def schedule_name(workflow_id: int) -> str:
    return f"workflow-{workflow_id}"


def retry_schedule_name(workflow_id: int) -> str:
    return f"workflow-{workflow_id}-retry"


def cron_problem(expression: str) -> str | None:
    """Why a cron expression is unusable, in words; None when it is fine."""
    expression = " ".join((expression or "").split())
    if not expression:
        return None
    if len(expression.split(" ")) != 5:
        return "Use five fields: minute hour day-of-month month day-of-week, e.g. 0 7 * * *."
    if any(_RANDOM.match(part) for field in expression.split(" ") for part in field.split(",")):
        # croniter's R draws another time each time it is read: the preview, the schedule and
        # every re-arm after a run would each pick a different one.
        return "R (a random time) is not available: write the minute and hour you want, e.g. 17 7 * * *."
    try:
        it = croniter(expression)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return f"That is not a valid cron expression ({exc})."
    try:
        # A well-formed expression can still name a date that never comes (0 0 31 2 *): croniter
        # only finds out when asked for a run, which the preview and the Schedule both need.
        it.get_next(datetime)
    except CroniterBadDateError:
        return (
            "That schedule never fires: no date matches it (e.g. the 31st of a month that has 30 days "
            "or fewer). Pick a day that exists in that month."
        )
    return None


def next_runs(expression: str, count: int = 3, start: datetime | None = None, zone=None) -> list[datetime]:
    """The next `count` runs after `start` (now), read in `zone` (the active zone: the person's
    in a request)."""
    if not expression or cron_problem(expression):
        return []
    base = timezone.localtime(start or timezone.now(), zone)
    it = croniter(expression, base)
    fixed_time = not any(field.startswith("*") for field in expression.split(" ")[:2])
    runs: list[datetime] = []
    while len(runs) < count:
        when = it.get_next(datetime)
        if fixed_time and _repeated_wall_time(when):
            continue  # "30 2 * * *" once on the night the clocks go back, as cron does, not twice
        runs.append(when)
    return runs


def _repeated_wall_time(when: datetime) -> bool:
    """The second 02:30 of a night when the clocks go back (the first had the larger UTC offset)."""
    first, second = when.replace(fold=0).utcoffset(), when.replace(fold=1).utcoffset()
    return first is not None and second is not None and first > second and when.utcoffset() == second


def ensure_schedule(workflow) -> Schedule | None:
    name = schedule_name(workflow.pk)
    expression = " ".join((workflow.schedule or "").split())
    if not (workflow.is_active and expression) or cron_problem(expression):
        Schedule.objects.filter(name=name).delete()
        return None
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is not None and schedule.cron == expression and schedule.schedule_type == Schedule.CRON:
        return schedule
    if schedule is None:
        schedule = Schedule(name=name, func=TASK, args=repr(workflow.pk))
    schedule.schedule_type = Schedule.CRON
    schedule.cron = expression
    schedule.repeats = -1
    schedule.save()  # a new CRON Schedule's save() sets next_run in the hub's zone: set it after
    schedule.next_run = _owners_next_run(workflow, expression)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=schedule.next_run)
    return schedule


def _owners_next_run(workflow, expression: str) -> datetime:
    from integrations.timezones import zone_for

    return next_runs(expression, 1, zone=zone_for(workflow.owner))[0]


def rearm(workflow) -> None:
    """Set the CRON Schedule's next run from now, in the owner's zone (after a run, whose next run
    django-q2 computed in the hub's zone, or after the owner chose another zone)."""
    expression = " ".join((workflow.schedule or "").split())
    if not (workflow.is_active and expression) or cron_problem(expression):
        return
    Schedule.objects.filter(name=schedule_name(workflow.pk), schedule_type=Schedule.CRON, cron=expression).update(
        next_run=_owners_next_run(workflow, expression)
    )


def remove_schedule(workflow_id: int) -> None:
    Schedule.objects.filter(name__in=[schedule_name(workflow_id), retry_schedule_name(workflow_id)]).delete()


def schedule_retry(workflow, when: datetime) -> Schedule:
    """A one-off run at `when` (an earlier one already planned is kept)."""
    name = retry_schedule_name(workflow.pk)
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is not None and schedule.next_run is not None and schedule.next_run <= when:
        return schedule
    schedule = schedule or Schedule(name=name, func=TASK, args=repr(workflow.pk), kwargs="trigger='retry'")
    schedule.schedule_type = Schedule.ONCE
    schedule.repeats = -1  # django-q2 deletes a ONCE schedule with negative repeats once it has fired
    schedule.next_run = when
    schedule.save()
    return schedule


def next_run(workflow):
    if not (workflow.is_active and workflow.schedule):
        return None
    return Schedule.objects.filter(name=schedule_name(workflow.pk)).values_list("next_run", flat=True).first()


def next_run_map(workflows) -> dict[int, datetime]:
    names = {schedule_name(w.pk): w.pk for w in workflows if w.is_active and w.schedule}
    rows = Schedule.objects.filter(name__in=names).values_list("name", "next_run")
    return {names[name]: when for name, when in rows}
