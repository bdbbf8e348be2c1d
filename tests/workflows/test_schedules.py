"""Each active, scheduled workflow has one django-q2 CRON Schedule kept in step with it, and a
real `qcluster` worker runs it when it is due."""

import datetime
import uuid
import zoneinfo

import pytest
from django.utils import timezone
from django_q.models import Schedule

from integrations.models import IntegrationType
from integrations.timezones import set_zone
from tests.connectors.helpers import connect
from tests.factories import make_integration
from tests.waiting import wait_for
from tests.workflows.helpers import add_output, add_source, make_workflow
from tests.workflows.worker import qcluster, tail
from workflows import schedules
from workflows.links import pause_workflows_using
from workflows.models import Execution, ExecutionStatus, Workflow
from workflows.tasks import run_scheduled


def _schedule(workflow):
    return Schedule.objects.filter(name=schedules.schedule_name(workflow.pk)).first()


def test_a_scheduled_workflow_gets_a_cron_schedule_with_its_next_run(owner):
    workflow = make_workflow(owner, schedule="0 7 * * *")

    schedule = _schedule(workflow)
    assert schedule.schedule_type == Schedule.CRON
    assert schedule.cron == "0 7 * * *"
    assert schedule.func == "workflows.tasks.run_scheduled"
    assert schedule.args == repr(workflow.pk)
    local = timezone.localtime(schedule.next_run)
    assert (local.hour, local.minute) == (7, 0)
    assert schedule.next_run > timezone.now()
    assert schedules.next_run(workflow) == schedule.next_run


def test_the_schedule_follows_edits_pauses_and_deletion(owner):
    workflow = make_workflow(owner, schedule="0 7 * * *")
    first_next = _schedule(workflow).next_run

    workflow.name = "Renamed"
    workflow.save()
    assert _schedule(workflow).next_run == first_next  # unrelated edits keep the next run

    workflow.schedule = "30 18 * * 1-5"
    workflow.save()
    assert _schedule(workflow).cron == "30 18 * * 1-5"
    assert Schedule.objects.filter(name=schedules.schedule_name(workflow.pk)).count() == 1

    workflow.is_active = False
    workflow.save()
    assert _schedule(workflow) is None
    assert schedules.next_run(workflow) is None

    workflow.is_active = True
    workflow.save()
    assert _schedule(workflow) is not None

    workflow.schedule = ""
    workflow.save()
    assert _schedule(workflow) is None

    workflow.schedule = "*/5 * * * *"
    workflow.save()
    pk = workflow.pk
    workflow.delete()
    assert not Schedule.objects.filter(name=schedules.schedule_name(pk)).exists()


def test_pausing_workflows_for_a_removed_integration_drops_their_schedules(owner):
    integration = make_integration(owner)
    workflow = make_workflow(owner, schedule="0 7 * * *")
    workflow.sources.create(integration=integration)

    assert pause_workflows_using(integration, "It uses Mine, which was deleted.") == 1

    workflow.refresh_from_db()
    assert not workflow.is_active
    assert workflow.needs_attention
    assert _schedule(workflow) is None


def test_a_paused_workflow_is_skipped_by_a_schedule_that_still_fires(owner):
    workflow = make_workflow(owner, schedule="0 7 * * *")
    Workflow.objects.filter(pk=workflow.pk).update(is_active=False)  # behind the signals' back

    assert run_scheduled(workflow.pk) == {"workflow": workflow.pk, "skipped": "paused"}
    assert not Execution.objects.exists()
    assert _schedule(workflow) is None
    assert run_scheduled(999999) == {"workflow": 999999, "skipped": "deleted"}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 7 * *", "five fields"),
        ("61 7 * * *", "not a valid cron expression"),
        ("0 7 * * mon-fri-sat", "not a valid cron expression"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 30 2 *", "never fires"),
        # croniter's R picks another random time at each reading: the preview said 07:02, the
        # schedule fired at another minute, and every run moved the next one again.
        ("R 7 * * *", "random time"),
        ("0 R(6-8) * * *", "random time"),
        ("5,r/15 * * * *", "random time"),
    ],
)
def test_bad_cron_expressions_are_explained(expression, problem):
    assert problem in schedules.cron_problem(expression)


def test_month_and_weekday_names_are_not_taken_for_random_times():
    assert schedules.cron_problem("0 7 * mar,apr fri,thu") is None


def test_next_runs_are_in_the_active_time_zone_the_hubs_outside_a_request(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    start = datetime.datetime(2026, 11, 23, 23, 0, tzinfo=datetime.UTC)  # 08:00 on the 24th in Tokyo
    runs = schedules.next_runs("0 7 * * *", 2, start=start)
    assert [r.isoformat() for r in runs] == ["2026-11-25T07:00:00+09:00", "2026-11-26T07:00:00+09:00"]


def _local(when, zone):
    local = when.astimezone(zoneinfo.ZoneInfo(zone))
    return local.hour, local.minute


def test_a_schedule_runs_at_its_hour_in_the_owners_zone_not_the_hubs(owner):
    set_zone(owner, "America/New_York")  # the hub's zone is another (the tests run in UTC)
    workflow = make_workflow(owner, schedule="0 7 * * *")
    schedule = _schedule(workflow)
    assert _local(schedule.next_run, "America/New_York") == (7, 0)

    # When it fires, django-q2 computes the next run in the hub's zone (07:00 UTC, 03:00 or 02:00
    # in New York); the run itself sets it back to 07:00 in New York.
    Schedule.objects.filter(pk=schedule.pk).update(next_run=schedule.calculate_next_run())
    assert _local(_schedule(workflow).next_run, "America/New_York") != (7, 0)
    run_scheduled(workflow.pk)
    next_run = _schedule(workflow).next_run
    assert _local(next_run, "America/New_York") == (7, 0)
    assert next_run > timezone.now()


def test_choosing_another_zone_moves_the_next_runs(owner):
    set_zone(owner, "Europe/Paris")
    workflow = make_workflow(owner, schedule="30 18 * * *")
    assert _local(_schedule(workflow).next_run, "Europe/Paris") == (18, 30)
    set_zone(owner, "Australia/Sydney")
    assert _local(_schedule(workflow).next_run, "Australia/Sydney") == (18, 30)


@pytest.mark.peer
def test_a_real_worker_runs_a_due_workflow_on_schedule(subprocess_env, tmp_path, feed_server):
    """A real `manage.py worker` enqueues the due Schedule from its own loop (every Q_SCHEDULE_EVERY
    seconds, not the cluster guard's 30), runs the workflow, and the Execution shows up with trigger
    "schedule"."""
    from integrations import catalogue

    catalogue.load(["rss", "webhook"])
    from tests.factories import make_user

    owner = make_user("scheduled@example.com")
    feed_server.serve(
        "/feed.rss",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><item><guid>1</guid>'
        "<title>Scheduled item</title><link>https://example.com/1</link></item></channel></rss>",
        content_type="application/rss+xml",
    )
    feed_server.serve("/hook", "ok", content_type="text/plain")
    assert IntegrationType.objects.get(slug="webhook").is_available
    workflow = make_workflow(owner, name="Every minute", schedule="* * * * *")
    add_source(workflow, connect(owner, "rss", config={"url": feed_server.url("/feed.rss")}, name="Feed"))
    add_output(workflow, make_integration(owner, IntegrationType.objects.get(slug="webhook"), name="Hook",
                                          secrets={"url": feed_server.url("/hook")}))  # fmt: skip
    due = timezone.now() - datetime.timedelta(seconds=5)
    Schedule.objects.filter(name=schedules.schedule_name(workflow.pk)).update(next_run=due)

    log_path = tmp_path / "worker.log"
    cluster = f"test-wf-{uuid.uuid4().hex[:8]}"
    with qcluster(subprocess_env, log_path, cluster=cluster, allowed_hosts=[feed_server.host]):
        execution = wait_for(
            lambda: Execution.objects.filter(workflow=workflow, status__in=["success", "partial", "failure"]).first(),
            seconds=120,
            explain=lambda: tail(log_path),
        )
    assert "MainProcess created task" in tail(log_path)  # the worker's loop, not the cluster's guard
    assert execution.trigger == "schedule"
    assert execution.status == ExecutionStatus.SUCCESS, execution.errors
    assert execution.cards_made == 1
    assert execution.cards_sent == 1
    assert b"Scheduled item" in feed_server.requests_to("/hook")[0].body
    # The scheduler moved it on to a later minute. Not "later than now": an every-minute schedule's
    # next run can already have passed by the time the workflow has finished.
    moved_on = _schedule(workflow).next_run
    assert moved_on > due
    assert (moved_on.second, moved_on.microsecond) == (0, 0)


def _iso(runs):
    return [r.isoformat() for r in runs]


def test_a_fixed_time_runs_once_on_the_night_the_clocks_go_back():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")  # 03:00 CEST -> 02:00 CET on 31 October 2027
    start = datetime.datetime(2027, 10, 30, 12, 0, tzinfo=berlin)
    # 02:30 comes twice that night: a daily digest is sent once, not twice an hour apart.
    assert _iso(schedules.next_runs("30 2 * * *", 3, start=start, zone=berlin)) == [
        "2027-10-31T02:30:00+02:00",
        "2027-11-01T02:30:00+01:00",
        "2027-11-02T02:30:00+01:00",
    ]
    # Re-armed just after the first 02:30 fired (run_scheduled does this): the next run is tomorrow.
    just_after = datetime.datetime(2027, 10, 31, 2, 30, 1, tzinfo=berlin)
    assert _iso(schedules.next_runs("30 2 * * *", 1, start=just_after, zone=berlin)) == ["2027-11-01T02:30:00+01:00"]
    # A schedule with * in its minute or hour keeps its pace in real time through the repeated hour.
    assert _iso(schedules.next_runs("30 * * * *", 3, start=datetime.datetime(2027, 10, 31, 2, 0, tzinfo=berlin),
                                    zone=berlin)) == [
        "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:30:00+01:00",
        "2027-10-31T03:30:00+01:00",
    ]  # fmt: skip


def test_a_time_the_clocks_skip_runs_once_just_after():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")  # 02:00 CET -> 03:00 CEST on 28 March 2027
    start = datetime.datetime(2027, 3, 27, 12, 0, tzinfo=berlin)
    assert _iso(schedules.next_runs("30 2 * * *", 2, start=start, zone=berlin)) == [
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]
