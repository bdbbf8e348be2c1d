"""Every periodic task of the hub exists after `migrate`, comes back after staff delete it, and
takes a changed interval setting."""

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django_q.models import Schedule

from integrations.oauth.tasks import REFRESH
from integrations.uploads.schedule import SWEEP
from timeline.schedules import DRAIN

PERIODIC = [REFRESH, SWEEP, DRAIN]


def migrate_again():
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what every `migrate` ends with


@pytest.mark.django_db
def test_every_periodic_task_exists_and_comes_back_after_migrate():
    assert set(Schedule.objects.values_list("name", flat=True)) >= {p.name for p in PERIODIC}
    Schedule.objects.filter(name__in=[p.name for p in PERIODIC]).delete()  # e.g. by staff in the admin
    migrate_again()
    migrate_again()
    for periodic in PERIODIC:
        schedule = Schedule.objects.get(name=periodic.name)  # exactly one each
        assert schedule.func == periodic.func
        assert schedule.repeats == -1
        assert schedule.minutes == periodic.every()


@pytest.mark.django_db
def test_a_changed_interval_setting_is_applied_at_the_next_migrate(settings):
    settings.OAUTH_REFRESH_TASK_MINUTES = 7
    migrate_again()
    assert Schedule.objects.get(name=REFRESH.name).minutes == 7
