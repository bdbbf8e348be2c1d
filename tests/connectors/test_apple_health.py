"""Apple Health export.zip imports (connectors/apple_health), through the engine, with the awkward
variants of real exports: the broken internal DTD and stray control characters of iOS 16+, Records
repeated inside a Correlation, routes in workout-routes/*.gpx, damaged elements and files."""

from __future__ import annotations

import datetime
import zipfile

import pytest

from connectors.apple_health import AppleHealth, daily_series
from connectors.errors import ConfigError
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect

# iOS 16+ writes a DTD that declares attributes twice and does not parse; kept here in that spirit.
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST HealthData locale CDATA #REQUIRED>
<!ATTLIST Record type CDATA #REQUIRED unit CDATA #IMPLIED type CDATA #REQUIRED>
<!ATTLIST Workout startDate CDATA #REQUIRED startDate CDATA #REQUIRED %broken;>
]>
<HealthData locale="en_US">
 <ExportDate value="2024-03-02 10:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth=""/>
"""


def record(n: int, kind="HKQuantityTypeIdentifierStepCount", unit="count", value=None, source="Test\x0bPhone"):
    at = datetime.datetime(2024, 3, 1, 8) + datetime.timedelta(minutes=n)  # one a minute from 08:00
    return (
        f' <Record type="{kind}" sourceName="{source}" unit="{unit}"'
        f' creationDate="{at:%Y-%m-%d %H:%M}:30 +0100"'
        f' startDate="{at:%Y-%m-%d %H:%M}:00 +0100" endDate="{at:%Y-%m-%d %H:%M}:59 +0100"'
        f' value="{value if value is not None else 10 + n}"/>\n'
    )


BLOOD = (
    ' <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Cuff" unit="mmHg"'
    ' startDate="2024-03-01 07:00:00 +0100" endDate="2024-03-01 07:00:00 +0100" value="121"/>\n'
)
CORRELATION = (
    ' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Cuff"'
    ' startDate="2024-03-01 07:00:00 +0100" endDate="2024-03-01 07:00:00 +0100">\n'
    + BLOOD
    + ' <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Cuff" unit="mmHg"'
    ' startDate="2024-03-01 07:00:00 +0100" endDate="2024-03-01 07:00:00 +0100" value="79"/>\n'
    " </Correlation>\n"
)
SLEEP = (
    ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Watch"'
    ' startDate="2024-03-01 01:00:00 +0100" endDate="2024-03-01 02:30:00 +0100"'
    ' value="HKCategoryValueSleepAnalysisAsleepCore"/>\n'
)
WORKOUT = """ <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" durationUnit="min"
  sourceName="Watch" startDate="2024-03-01 18:00:00 +0100" endDate="2024-03-01 18:30:00 +0100">
  <MetadataEntry key="HKIndoorWorkout" value="0"/>
  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" startDate="2024-03-01 18:00:00 +0100"
   endDate="2024-03-01 18:30:00 +0100" sum="5.2" unit="km"/>
  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" sum="320" unit="kcal"/>
  <WorkoutRoute sourceName="Watch"><FileReference path="/workout-routes/route_2024-03-01_6.00pm.gpx"/></WorkoutRoute>
 </Workout>
"""
RINGS = (
    ' <ActivitySummary dateComponents="2024-03-01" activeEnergyBurned="410.5" activeEnergyBurnedGoal="500"'
    ' activeEnergyBurnedUnit="kcal" appleExerciseTime="31" appleExerciseTimeGoal="30" appleStandHours="9"'
    ' appleStandHoursGoal="12"/>\n'
)
GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Apple Health Export" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lon="13.400000" lat="52.520000"><ele>34.1</ele><time>2024-03-01T17:00:00Z</time></trkpt>
<trkpt lon="13.401000" lat="52.521000"><ele>34.5</ele><time>2024-03-01T17:00:05Z</time></trkpt>
</trkseg></trk></gpx>
"""


def export_xml(steps=5, extra="") -> str:
    body = "".join(record(n) for n in range(steps))
    return HEAD + body + BLOOD + SLEEP + extra + CORRELATION + WORKOUT + RINGS + "</HealthData>\n"


def export_zip(tmp_path, xml: str, name="export.zip") -> str:
    return zip_of(
        tmp_path / name,
        {
            "apple_health_export/export.xml": xml,
            "apple_health_export/export_cda.xml": "<ClinicalDocument/>",
            "apple_health_export/workout-routes/route_2024-03-01_6.00pm.gpx": GPX,
        },
    )


@pytest.fixture
def health(catalogue, owner):
    return connect(owner, "apple-health", config={"record_types": []})


def test_an_ios16_export_with_a_broken_dtd_and_control_characters_is_imported(health, tmp_path):
    job = import_files(health, [export_zip(tmp_path, export_xml())])

    assert job.status == "succeeded", job.error_message
    samples = items(health, kind="health_sample")
    steps = samples.filter(data__metric="steps").order_by("occurred_at")
    assert steps.count() == 5
    first = steps.first()
    assert first.data["value"] == 10.0
    assert first.data["unit"] == "count"
    assert first.data["source"] == "TestPhone"  # the control character is gone
    assert first.data["start"] == "2024-03-01T08:00:00+01:00"
    assert first.data["end"] == "2024-03-01T08:00:59+01:00"
    assert first.occurred_at.isoformat() == "2024-03-01T07:00:00+00:00"
    sleep = samples.get(data__metric="sleep")
    assert sleep.data["category"] == "asleep_core"
    assert sleep.data["value"] == 90.0
    assert sleep.data["unit"] == "min"
    # The systolic value appears at the top level and again inside its Correlation: stored once.
    assert samples.filter(data__metric="blood_pressure_systolic").count() == 1
    assert samples.filter(data__metric="blood_pressure_diastolic").count() == 1
    workout = items(health, kind="workout").get()
    assert workout.data["activity"] == "running"
    assert workout.data["duration_s"] == 1800.0
    assert workout.data["distance_m"] == 5200.0
    assert workout.data["energy_kcal"] == 320.0
    assert workout.data["route"][0] == {"lat": 52.52, "lon": 13.4, "time": "2024-03-01T17:00:00Z", "elevation": 34.1}
    assert len(workout.data["route"]) == 2
    rings = {r.data["metric"]: r for r in samples.filter(data__category="activity_ring")}
    assert set(rings) == {"move", "exercise_time", "stand_hours"}
    assert rings["move"].data["value"] == 410.5
    assert rings["move"].data["goal"] == 500.0
    assert rings["move"].data["unit"] == "kcal"
    # steps, systolic, sleep, diastolic, workout, rings
    assert job.created == items(health).count() == 5 + 1 + 1 + 1 + 1 + 3


def test_importing_the_same_export_or_a_newer_overlapping_one_adds_nothing_twice(health, tmp_path):
    import_files(health, [export_zip(tmp_path, export_xml(steps=5))])
    before = items(health).count()

    again = import_files(health, [export_zip(tmp_path, export_xml(steps=5), name="again.zip")])
    assert again.created == 0
    assert again.updated == 0
    newer = import_files(health, [export_zip(tmp_path, export_xml(steps=8), name="newer.zip")])
    assert newer.created == 3
    assert items(health).count() == before + 3


def test_a_malformed_record_is_reported_with_its_line_and_the_rest_is_imported(health, tmp_path):
    bad = record(40, value="lots") + ' <Record type="HKQuantityTypeIdentifierStepCount" value="3"/>\n'
    job = import_files(health, [export_zip(tmp_path, export_xml(extra=bad))])

    assert job.status == "partial"
    messages = [e["error"] for e in job.item_errors]
    assert len(messages) == 2
    line = HEAD.count("\n") + 5 + BLOOD.count("\n") + SLEEP.count("\n") + 1
    assert messages[0].startswith(f"export.zip: apple_health_export/export.xml line {line}: Record skipped")
    assert "'lots' is not a number" in messages[0]
    assert "a date is missing" in messages[1]
    assert items(health, data__metric="steps").count() == 5
    assert items(health, kind="workout").count() == 1


def test_a_truncated_export_xml_keeps_what_came_before_the_cut(health, tmp_path):
    xml = export_xml(steps=30)
    cut = xml[: xml.index(record(20))]
    job = import_files(health, [export_zip(tmp_path, cut)])

    assert job.status == "partial"
    assert items(health, data__metric="steps").count() == 20
    assert any("the XML is broken here" in e["error"] for e in job.item_errors)


def test_a_killed_import_resumes_from_its_checkpoint_with_the_exact_total(health, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 7
    path = export_zip(tmp_path, export_xml(steps=40))
    stored, job = import_killed_after_first_batch_then_resumed(health, [path])

    assert 0 < stored < 40
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert items(health).count() == 40 + 1 + 1 + 1 + 1 + 3
    assert items(health).values("external_id").distinct().count() == items(health).count()


def test_record_types_and_since_filter_the_import(catalogue, owner, tmp_path):
    health = connect(owner, "apple-health", config={"record_types": ["sleep", "workouts"], "since": "2024-03-01"})
    import_files(health, [export_zip(tmp_path, export_xml())])
    assert sorted(items(health).values_list("kind", "data__metric")) == [("health_sample", "sleep"), ("workout", None)]


def test_sniff_describes_the_export_or_names_the_wrong_file(tmp_path):
    path = export_zip(tmp_path, export_xml())
    assert AppleHealth.sniff([path]).startswith("Apple Health export, ")
    assert "export.xml found" in AppleHealth.sniff([path])

    takeout = zip_of(tmp_path / "takeout-001.zip", {"Takeout/Google Photos/a.jpg": b"x"})
    with pytest.raises(ConfigError, match=r"takeout-001.zip is a Google Takeout archive, not an Apple Health export"):
        AppleHealth.sniff([takeout])
    empty = tmp_path / "export.zip"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"export.zip is empty \(0 bytes\)"):
        AppleHealth.sniff([str(empty)])
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes((tmp_path / "takeout-001.zip").read_bytes()[:-30])
    with pytest.raises(ConfigError, match=r"cut.zip is not a readable zip archive"):
        AppleHealth.sniff([str(truncated)])


def test_a_zip_bomb_and_names_outside_the_archive_are_refused_and_the_rest_imported(health, tmp_path, settings):
    settings.ARCHIVE_MAX_RATIO = 100
    path = zip_of(
        tmp_path / "export.zip",
        {
            "apple_health_export/export.xml": export_xml(),
            "../../evil/export.xml": export_xml(steps=1),
            "apple_health_export/bomb/export.xml": b"\0" * (4 * 1024 * 1024),
        },
    )
    job = import_files(health, [path])

    assert job.status == "partial"
    errors = " ".join(e["error"] for e in job.item_errors)
    assert "../../evil/export.xml was skipped: its name points outside the archive" in errors
    assert "bomb/export.xml was skipped" in errors
    assert "zip bomb" in errors
    assert items(health, data__metric="steps").count() == 5

    settings.ARCHIVE_MAX_TOTAL_BYTES = 1024
    with pytest.raises(ConfigError, match=r"export.zip would unpack to"):
        AppleHealth.sniff([path])


def test_daily_series_takes_the_largest_source_of_additive_metrics_and_averages_the_others(health, tmp_path):
    watch = "".join(record(n, source="Watch", value=100) for n in range(3))  # 300 steps, also counted by the phone
    heart = record(1, kind="HKQuantityTypeIdentifierHeartRate", unit="count/min", value=60) + record(
        2, kind="HKQuantityTypeIdentifierHeartRate", unit="count/min", value=80
    )
    import_files(health, [export_zip(tmp_path, export_xml(steps=5, extra=watch + heart))])

    assert daily_series(items(health), "steps") == [{"date": "2024-03-01", "value": 300.0}]  # not 360
    assert daily_series(items(health), "heart_rate") == [{"date": "2024-03-01", "value": 70.0}]
    assert daily_series(items(health), "sleep") == [{"date": "2024-03-01", "value": 90.0}]
    assert daily_series(items(health), "weight") == []


def test_a_damaged_export_xml_in_the_zip_keeps_the_records_before_the_damage(health, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("apple_health_export/export.xml", export_xml(steps=3000))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroes in the middle of the compressed stream
    path.write_bytes(bytes(data))

    job = import_files(health, [str(path)])

    assert job.status == "partial"
    assert any(
        e["error"].startswith("export.zip: apple_health_export/export.xml is damaged or cut short after ")
        for e in job.item_errors
    ), job.item_errors
    assert 0 < items(health, data__metric="steps").count() < 3000


def test_an_unzipped_export_with_a_localized_name_finds_its_routes_next_to_it(health, tmp_path):
    folder = tmp_path / "apple_health_export"
    (folder / "workout-routes").mkdir(parents=True)
    (folder / "workout-routes" / "route_2024-03-01_6.00pm.gpx").write_text(GPX)
    (folder / "exportar.xml").write_text(export_xml())

    assert "exportar.xml found" in AppleHealth.sniff([str(folder / "exportar.xml")])
    job = import_files(health, [folder / "exportar.xml"])
    assert job.status == "succeeded", job.error_message
    assert len(items(health, kind="workout").get().data["route"]) == 2
