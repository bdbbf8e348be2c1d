"""The Apple Health integration's page draws the daily charts its connector declares (steps per
day, sleep hours per night, heart rate lowest/average/highest), from an export imported through the
engine, over the last 30 days of the export; another user's request gets 404."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.connectors.archive_helpers import import_files
from tests.connectors.helpers import connect
from tests.connectors.test_apple_health import HEAD, export_zip


def sample(kind, start, end, value, unit="count", source="Phone"):
    return (
        f' <Record type="HKQuantityTypeIdentifier{kind}" sourceName="{source}" unit="{unit}"'
        f' startDate="{start} +0100" endDate="{end} +0100" value="{value}"/>\n'
    )


def asleep(start, end, state="AsleepCore"):
    return (
        f' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Watch"'
        f' startDate="{start} +0100" endDate="{end} +0100" value="HKCategoryValueSleepAnalysis{state}"/>\n'
    )


EXPORT = (
    HEAD
    + sample("StepCount", "2024-01-10 09:00:00", "2024-01-10 09:10:00", 999)  # 7 weeks before the last day
    + sample("StepCount", "2024-02-28 09:00:00", "2024-02-28 09:10:00", 1200)
    + sample("StepCount", "2024-02-28 18:00:00", "2024-02-28 18:10:00", 3034)  # 4234 on 28 Feb
    + sample("StepCount", "2024-03-01 08:00:00", "2024-03-01 08:10:00", 5321)
    + asleep("2024-02-29 23:30:00", "2024-03-01 03:00:00")  # 3.5 h
    + asleep("2024-03-01 03:00:00", "2024-03-01 06:45:00", "AsleepREM")  # + 3.75 h = 7.25 h
    + asleep("2024-03-01 06:45:00", "2024-03-01 07:30:00", "InBed")  # in bed is not sleep
    + sample("HeartRate", "2024-03-01 08:00:00", "2024-03-01 08:00:00", 52, "count/min", "Watch")
    + sample("HeartRate", "2024-03-01 12:00:00", "2024-03-01 12:00:00", 71, "count/min", "Watch")
    + sample("HeartRate", "2024-03-01 18:00:00", "2024-03-01 18:00:00", 147, "count/min", "Watch")
    + "</HealthData>\n"
)


@pytest.fixture
def imported(catalogue, owner, tmp_path):
    health = connect(owner, "apple-health", config={"record_types": []})
    job = import_files(health, [export_zip(tmp_path, EXPORT)])
    assert job.status == "succeeded", job.error_message
    return health


def titles(html: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", html)


def test_the_page_shows_steps_sleep_and_heart_rate_per_day_of_the_exports_last_30_days(client, owner, imported):
    client.force_login(owner)
    html = client.get(reverse("integrations:detail", args=[imported.pk])).content.decode()

    assert "Daily charts" in html
    tips = titles(html)
    assert "28 Feb: 4234 steps" in tips  # two samples of one day added up
    assert "1 Mar: 5321 steps" in tips
    assert "29 Feb: no data" in tips  # a day without samples is an empty slot, said in words
    assert "1 Mar: 7.2 hours" in tips  # 7.25 h asleep, the night that ends on 1 Mar; in bed left out
    assert "1 Mar: lowest 52, average 90, highest 147 bpm" in tips
    assert not any(tip.startswith("10 Jan") for tip in tips)  # outside the 30 days
    # The window ends on the export's last day, not today's (a year-old export still shows its month).
    assert "Steps, 1 Feb to 1 Mar 2024: average 4777.5 steps a day, most 5321 on 1 Mar (2 days with data)." in html
    assert 'role="img"' in html


def test_a_longer_period_is_chosen_from_the_links(client, owner, imported):
    client.force_login(owner)
    html = client.get(reverse("integrations:detail", args=[imported.pk]), {"days": "90"}).content.decode()

    assert "10 Jan: 999 steps" in titles(html)
    assert "The last 90 days" in html
    # An unknown period falls back to 30 days rather than drawing an arbitrary span.
    html = client.get(reverse("integrations:detail", args=[imported.pk]), {"days": "100000"}).content.decode()
    assert "The last 30 days" in html


def test_another_user_gets_404_and_an_integration_without_samples_has_no_charts(
    client, owner, other_user, imported, catalogue
):
    client.force_login(other_user)
    assert client.get(reverse("integrations:detail", args=[imported.pk])).status_code == 404

    empty = connect(other_user, "apple-health", config={"record_types": []})
    response = client.get(reverse("integrations:detail", args=[empty.pk]))
    assert response.status_code == 200
    assert "Daily charts" not in response.content.decode()
