"""Google Health (Fitbit, Pixel Watch) end to end: connected through the real OAuth flow (local
authorization server), synced against the Google Health API contract fake
(tests/fakes/google_health.py) over real HTTP."""

import datetime
import json

import pytest

from connectors.errors import ConfigError
from connectors.google.health import GoogleHealthConnector
from connectors.kinds import typed_record
from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, Status, SyncedItem
from tests.connectors.helpers import live_items, sync
from tests.oauth.helpers import connect_with_oauth
from tests.peers.oauth_server import _provider_fixtures

pytestmark = pytest.mark.usefixtures("catalogue")
SLUG = "google-health"
SCOPE = "https://www.googleapis.com/auth/googlehealth."
_google_health_fake, google_health_api = _provider_fixtures(
    "google_health_api", "tests.fakes.google_health", "GoogleHealthFake"
)


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _days_ago(n: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    day = _today() - datetime.timedelta(days=n)
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=datetime.UTC)


@pytest.fixture
def health(google_health_api):
    api = google_health_api
    for n in range(5):
        day = _today() - datetime.timedelta(days=n)
        api.put_daily("steps", day, 8000 + n)
        api.put_daily("distance", day, 6_250_000)
        api.put_daily("active-energy-burned", day, 410.5)
    api.put_exercise("ex1", _days_ago(1, 7), 30)
    api.put_exercise("ex2", _days_ago(3, 18), 45, exercise_type="YOGA", display_name="Yoga")
    api.put_sleep("night1", _days_ago(2, 22), [("LIGHT", 60), ("DEEP", 90), ("AWAKE", 10), ("REM", 80), ("LIGHT", 200)])
    api.put_sleep("nap1", _days_ago(1, 13), [("ASLEEP", 25)], nap=True)
    for minute in range(0, 60, 2):
        api.put_heart_rate(_days_ago(1, 9, minute), 60 + minute)
    return api


@pytest.fixture
def integration(owner_client, oauth_server, health):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, health)
    integration.config = {**integration.config, "window_days": 7}  # a week: fewer calls under the rate limit
    integration.save()
    return integration


def test_the_type_is_available_and_fitbit_points_to_it():
    itype = IntegrationType.objects.get(slug=SLUG)
    assert itype.is_available
    assert registry.get(itype.handler) is GoogleHealthConnector
    assert {s["scope"] for s in itype.oauth_scopes} == {
        SCOPE + "activity_and_fitness.readonly", SCOPE + "sleep.readonly",
        SCOPE + "health_metrics_and_measurements.readonly",
    }  # fmt: skip
    fitbit = IntegrationType.objects.get(slug="fitbit")
    assert not fitbit.is_available
    assert "Google Health" in fitbit.description
    assert "30 October 2026" in fitbit.details


def test_a_full_sync_reads_activity_exercise_sleep_and_heart_rate(integration, health):
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert integration.account_identity == "Google Health user 1234567890 (Fitbit A1B2C3)"
    items = {i.external_id: i for i in live_items(integration)}
    today = _today()
    steps = items[f"steps:{today.isoformat()}"]
    assert steps.kind == "health_sample"
    assert steps.data["value"] == 8000
    assert items[f"distance:{today.isoformat()}"].data["value"] == 6250  # millimetres to metres
    assert items[f"active_energy:{today.isoformat()}"].data["value"] == 410.5
    # A day without data (the fake answers an empty window) is not a zero record.
    assert f"steps:{(today - datetime.timedelta(days=6)).isoformat()}" not in items

    run = items["exercise:ex1"]
    assert run.kind == "workout"
    assert run.title == "Run, 30 min"
    assert run.data["distance_m"] == 5000
    assert run.data["energy_kcal"] == 320.5
    assert run.data["source"] == "Charge 6"
    typed = typed_record(GoogleHealthConnector, run)
    assert typed.kind == "workout"
    assert typed.fields["activity"] == "running"
    assert typed.fields["duration_s"] == 1800
    assert typed.end is not None

    night = items["sleep:night1"]
    assert night.data["metric"] == "sleep"
    assert night.data["value"] == 430  # light, deep, REM and light again; not the 10 min awake
    assert [s["stage"] for s in night.data["stages"]] == ["light", "deep", "awake", "rem", "light"]
    assert night.title == "Sleep: 7 h 10 min asleep"
    assert items["sleep:nap1"].data["category"] == "asleep_nap"

    heart = items[f"heart_rate:{(today - datetime.timedelta(days=1)).isoformat()}"]
    assert (heart.data["min"], heart.data["max"], heart.data["samples"]) == (60, 118, 30)
    assert heart.data["series"][0] == ["10:00", 62.0]  # 09:00 UTC is 10:00 local; 60, 62, 64 averaged
    assert len(heart.data["series"]) == 12  # one value per five minutes
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    assert integration.sync_cursor["read_through"] == dict.fromkeys(
        ("activity", "exercise", "sleep", "heart_rate"), tomorrow
    )


def test_requests_follow_the_documented_contract(integration, health):
    sync(integration)
    rollups = health.requests_to(r":dailyRollUp$", "POST")
    assert {r.path.split("/")[5] for r in rollups} == {"steps", "distance", "active-energy-burned"}
    body = json.loads(rollups[0].body)
    assert body["windowSizeDays"] == 1
    assert set(body["range"]) == {"start", "end"}
    sleeps = health.requests_to(r"/dataTypes/sleep/dataPoints$", "GET")
    assert sleeps[0].args["filter"][0].startswith("sleep.interval.end_time >= ")
    assert sleeps[0].args["pageSize"] == ["25"]
    exercises = health.requests_to(r"/dataTypes/exercise/dataPoints$", "GET")
    assert exercises[0].args["filter"][0].startswith("exercise.interval.civil_start_time >= ")
    beats = health.requests_to(r"/dataTypes/heart-rate/dataPoints$", "GET")
    assert len(beats) == 8  # one civil day at a time: the last 7 days and tomorrow
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in health.requests)


def test_sessions_are_read_page_by_page(integration, health):
    for n in range(30):
        health.put_exercise(f"walk{n}", _days_ago(2, 6) + datetime.timedelta(minutes=20 * n), 10)
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).filter(kind="workout").count() == 32
    pages = health.requests_to(r"/dataTypes/exercise/dataPoints$", "GET")
    assert len(pages) == 2
    assert pages[1].args.get("pageToken")


def test_a_day_of_heart_rate_samples_is_read_page_by_page_into_one_record(integration, health):
    health.max_page = 7
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    yesterday = (_today() - datetime.timedelta(days=1)).isoformat()
    assert live_items(integration).get(external_id=f"heart_rate:{yesterday}").data["samples"] == 30
    day = f'>= "{yesterday}"'
    pages = [r for r in health.requests_to(r"/dataTypes/heart-rate/dataPoints$") if day in r.args["filter"][0]]
    assert len(pages) == 5  # 30 samples, 7 a page
    assert all(page.args.get("pageToken") for page in pages[1:])


def test_the_next_sync_reads_only_the_recent_days_again_and_applies_changes(integration, health):
    sync(integration)
    before = len(health.requests_to(r"/dataTypes/heart-rate/dataPoints$"))
    health.put_daily("steps", _today(), 12000)
    health.delete("exercise", "ex1")
    health.put_sleep("night1", _days_ago(2, 22), [("LIGHT", 60), ("DEEP", 90)])

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.kind == "incremental"
    # Three days of overlap before the last day read (tomorrow), through tomorrow: four days.
    assert len(health.requests_to(r"/dataTypes/heart-rate/dataPoints$")) - before == 4
    first_filter = health.requests_to(r"/dataTypes/exercise/dataPoints$")[-1].args["filter"][0]
    expected_first = (_today() + datetime.timedelta(days=1) - datetime.timedelta(days=3)).isoformat()
    assert f'>= "{expected_first}"' in first_filter
    assert live_items(integration).get(external_id=f"steps:{_today().isoformat()}").data["value"] == 12000
    assert SyncedItem.objects.get(integration=integration, external_id="exercise:ex1").deleted_at is not None
    assert live_items(integration).get(external_id="sleep:night1").data["value"] == 150
    assert live_items(integration).filter(external_id="exercise:ex2").exists()  # outside the re-read days: kept


def test_data_ticked_later_or_a_wider_window_is_read_over_the_whole_window(integration, health):
    integration.config = {**integration.config, "data": ["activity", "exercise", "sleep"]}
    integration.save()
    sync(integration)
    assert health.requests_to(r"/dataTypes/heart-rate/") == []

    integration.config = {**integration.config, "data": ["activity", "exercise", "sleep", "heart_rate"]}
    integration.save()
    sync(integration)
    assert len(health.requests_to(r"/dataTypes/heart-rate/")) == 8  # its first read: the whole week
    exercise_filter = health.requests_to(r"/dataTypes/exercise/dataPoints$")[-1].args["filter"][0]
    assert f'>= "{(_today() - datetime.timedelta(days=2)).isoformat()}"' in exercise_filter  # the overlap only

    integration.config = {**integration.config, "window_days": 10}
    integration.save()
    sync(integration)
    exercise_filter = health.requests_to(r"/dataTypes/exercise/dataPoints$")[-1].args["filter"][0]
    assert f'>= "{(_today() - datetime.timedelta(days=9)).isoformat()}"' in exercise_filter


def test_a_window_longer_than_a_rollup_range_is_rolled_up_in_parts(integration, health):
    long_ago = _today() - datetime.timedelta(days=95)
    health.put_daily("steps", long_ago, 4321)
    integration.config = {**integration.config, "window_days": 100, "data": ["activity"]}
    integration.save()
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    ranges = [json.loads(r.body)["range"] for r in health.requests_to(r"/steps/dataPoints:dailyRollUp$")]
    assert len(ranges) == 2  # 101 days: 90, then 11 (the documented maximum is 90)
    assert ranges[0]["end"] == ranges[1]["start"]
    assert live_items(integration).get(external_id=f"steps:{long_ago.isoformat()}").data["value"] == 4321


def test_rate_limiting_waits_for_retry_after_and_goes_on(integration, health):
    health.fail(r"/dataTypes/sleep/dataPoints$", *health.rate_limited(retry_after=1))
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).filter(external_id="sleep:night1").exists()
    assert len(health.requests_to(r"/dataTypes/sleep/dataPoints$")) == 2


def test_an_expired_access_token_is_refreshed_mid_sync(integration, health, oauth_server):
    from integrations.models import Credential

    old = Credential.objects.get(integration=integration).access_token
    oauth_server.expire_access_token(old)
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert Credential.objects.get(integration=integration).access_token != old


def test_a_revoked_grant_asks_to_reconnect(integration, health, oauth_server):
    from integrations.models import Credential

    credential = Credential.objects.get(integration=integration)
    oauth_server.revoke(credential.refresh_token)  # the person removed the hub's access at Google
    oauth_server.revoke(credential.access_token)
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    integration.refresh_from_db()
    assert integration.status == Status.NEEDS_REAUTH


def test_a_server_error_is_transient_and_retried(integration, health):
    unavailable = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "The service is unavailable."}}
    health.fail(r"/dataTypes/exercise/dataPoints$", 503, unavailable)
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).filter(external_id="exercise:ex1").exists()


def test_data_whose_permission_was_unticked_is_skipped_with_a_notice(owner_client, oauth_server, health):
    integration = connect_with_oauth(
        owner_client, oauth_server, SLUG, health,
        scope=f"{SCOPE}activity_and_fitness.readonly {SCOPE}sleep.readonly",
    )  # fmt: skip
    integration.config = {**integration.config, "window_days": 3}
    integration.save()

    job = sync(integration)

    assert job.status == JobStatus.PARTIAL, job.error_message
    assert "heart rate was not read" in job.remediation
    assert "googlehealth.health_metrics_and_measurements.readonly" in job.remediation
    assert health.requests_to(r"/dataTypes/heart-rate/") == []
    assert live_items(integration).filter(external_id="sleep:nap1").exists()
    integration.refresh_from_db()
    assert integration.status != Status.NEEDS_REAUTH
    # Unticking heart rate in the settings makes the syncs whole again.
    integration.config = {**integration.config, "data": ["activity", "exercise", "sleep"]}
    integration.save()
    assert sync(integration).status == JobStatus.SUCCEEDED


def test_a_scope_refused_by_the_api_names_it_and_asks_to_reconnect(integration, health):
    reply = health.insufficient_scope([f"{SCOPE}sleep.readonly"])
    health.fail(r"/dataTypes/sleep/dataPoints$", reply.status, reply.body)
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "your sleep" in job.error_message
    assert "googlehealth.sleep.readonly" in job.error_message
    integration.refresh_from_db()
    assert integration.status == Status.NEEDS_REAUTH


def test_the_api_not_enabled_for_the_project_is_an_operator_problem(integration, health):
    body = {"error": {"code": 403, "status": "PERMISSION_DENIED",
                      "message": "Google Health API has not been used in project 123 before or it is disabled.",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                                   "domain": "googleapis.com"}]}}  # fmt: skip
    health.fail(r":dailyRollUp$", 403, body)
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "Google Cloud project" in job.error_message
    assert "operator" in job.remediation
    integration.refresh_from_db()
    assert integration.status != Status.NEEDS_REAUTH


def test_an_account_without_google_health_says_how_to_link_it(integration, health):
    message = "The account is not linked to Google Health."
    body = {"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": message,
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCOUNT_NOT_LINKED",
                                   "domain": "health.googleapis.com"}]}}  # fmt: skip
    health.fail(r"/identity$", 400, body)
    with pytest.raises(ConfigError, match="no Google Health profile") as info:
        _connector(integration).test_connection()
    assert "Fitbit app" in info.value.remediation


def _connector(integration):
    from integrations.sync.context import build_context

    return integration.type.connector_class()(build_context(integration, purpose="test connection"))


def test_daily_charts_show_steps_sleep_and_heart_rate(integration, health):
    sync(integration)
    charts = {
        c.title: c for c in GoogleHealthConnector.daily_charts(SyncedItem.objects.filter(integration=integration))
    }
    assert set(charts) == {"Steps", "Sleep", "Heart rate"}
    assert dict(charts["Steps"].days)[_today()] == 8000
    yesterday = _today() - datetime.timedelta(days=1)
    assert dict(charts["Heart rate"].days)[yesterday] == (60, 89.0, 118)


def test_the_integration_page_charts_steps_sleep_and_heart_rate(owner_client, integration, health):
    from django.urls import reverse

    sync(integration)
    html = owner_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "Daily charts" in html
    yesterday = _today() - datetime.timedelta(days=1)
    assert f"{yesterday.day} {yesterday:%b}: lowest 60, average 89, highest 118 bpm" in html


def test_a_sleep_not_processed_yet_counts_its_asleep_stages():
    from connectors.base import Context

    point = {
        "name": "users/1/dataTypes/sleep/dataPoints/s9",
        "sleep": {
            "interval": {"startTime": "2026-03-01T22:00:00Z", "startUtcOffset": "0s",
                         "endTime": "2026-03-02T01:00:00Z", "endUtcOffset": "0s"},
            "stages": [
                {"type": "ASLEEP", "startTime": "2026-03-01T22:00:00Z", "endTime": "2026-03-01T23:30:00Z"},
                {"type": "RESTLESS", "startTime": "2026-03-01T23:30:00Z", "endTime": "2026-03-02T00:00:00Z"},
                {"type": "ASLEEP", "startTime": "2026-03-02T00:00:00Z", "endTime": "2026-03-02T01:00:00Z"},
            ],
            "metadata": {"processed": False},
        },
    }  # fmt: skip
    record = GoogleHealthConnector(Context(config={}, secrets={}, http=None)).transform(point)
    assert record.external_id == "sleep:s9"
    assert record.data["value"] == 150  # 90 + 60 minutes asleep; restless left out
    assert record.data["processed"] is False
    assert record.title == "Sleep: 2 h 30 min asleep"
