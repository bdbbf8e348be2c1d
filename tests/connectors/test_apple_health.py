"""Apple Health export.zip imports (connectors/apple_health), through the engine, with the awkward
variants of real exports: the broken internal DTD and stray control characters of iOS 16+, Records
repeated inside a Correlation, routes in workout-routes/*.gpx, damaged elements and files. Samples
are stored as day series (one record per record type, source and day, every sample inside)."""

from __future__ import annotations

import datetime
import re
import zipfile

import pytest

from connectors.apple_health import AppleHealth, daily_series, series
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


def record(n: int, kind="HKQuantityTypeIdentifierStepCount", unit="count", value=None, source="Test\x0bPhone", every=1):
    at = datetime.datetime(2024, 3, 1, 8) + datetime.timedelta(minutes=n * every)  # one a minute from 08:00
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


def samples(integration, metric: str) -> list[dict]:
    """Every stored sample of a metric, across its day series."""
    found = []
    for day in items(integration, kind="health_series", data__metric=metric).order_by("occurred_at"):
        found += day.data["samples"]
    return found


@pytest.fixture(params=["in the worker", "reader process"])
def health(catalogue, owner, request, monkeypatch):
    if request.param == "reader process":  # what a big export takes (reader.py): the same results
        monkeypatch.setattr(AppleHealth, "reader_process_from", 0)
    return connect(owner, "apple-health", config={"record_types": []})


def test_an_ios16_export_with_a_broken_dtd_and_control_characters_is_imported(health, tmp_path):
    job = import_files(health, [export_zip(tmp_path, export_xml())])

    assert job.status == "succeeded", job.error_message
    # The day's steps are one record holding every sample, with the day's aggregates.
    steps = items(health, kind="health_series", data__metric="steps").get()
    assert steps.data["source"] == "TestPhone"  # the control character is gone
    assert steps.data["date"] == "2024-03-01"
    assert steps.data["unit"] == "count"
    assert steps.data["hk_type"] == "HKQuantityTypeIdentifierStepCount"
    assert (steps.data["count"], steps.data["sum"], steps.data["min"], steps.data["max"]) == (5, 60.0, 10.0, 14.0)
    assert steps.data["value"] == 60.0
    assert steps.data["start"] == "2024-03-01T08:00:00+01:00"
    assert steps.data["end"] == "2024-03-01T08:04:59+01:00"
    assert steps.occurred_at.isoformat() == "2024-03-01T07:00:00+00:00"
    assert steps.title == "Steps on 1 Mar 2024: 60 count (5 samples, TestPhone)"
    first = steps.data["samples"][0]
    assert first == {"start": "2024-03-01T08:00:00+01:00", "end": "2024-03-01T08:00:59+01:00", "value": 10.0}
    assert [s["value"] for s in steps.data["samples"]] == [10.0, 11.0, 12.0, 13.0, 14.0]
    sleep = items(health, kind="health_series", data__metric="sleep").get()
    assert sleep.data["samples"] == [
        {
            "start": "2024-03-01T01:00:00+01:00",
            "end": "2024-03-01T02:30:00+01:00",
            "value": 90.0,
            "category": "asleep_core",
        }
    ]
    assert sleep.data["unit"] == "min"
    assert sleep.data["minutes"] == {"asleep_core": 90.0}
    assert sleep.data["value"] == 90.0
    # The systolic value appears at the top level and again inside its Correlation: stored once.
    assert len(samples(health, "blood_pressure_systolic")) == 1
    assert samples(health, "blood_pressure_systolic")[0]["value"] == 121.0
    assert len(samples(health, "blood_pressure_diastolic")) == 1
    pressure = items(health, kind="health_series", data__metric="blood_pressure_diastolic").get()
    assert (pressure.data["avg"], pressure.data["min"], pressure.data["max"]) == (79.0, 79.0, 79.0)
    assert "sum" not in pressure.data  # a measure that does not add up
    workout = items(health, kind="workout").get()
    assert workout.data["activity"] == "running"
    assert workout.data["duration_s"] == 1800.0
    assert workout.data["distance_m"] == 5200.0
    assert workout.data["energy_kcal"] == 320.0
    assert workout.data["route"][0] == {"lat": 52.52, "lon": 13.4, "time": "2024-03-01T17:00:00Z", "elevation": 34.1}
    assert len(workout.data["route"]) == 2
    rings = {r.data["metric"]: r for r in items(health, kind="health_sample", data__category="activity_ring")}
    assert set(rings) == {"move", "exercise_time", "stand_hours"}
    assert rings["move"].data["value"] == 410.5
    assert rings["move"].data["goal"] == 500.0
    assert rings["move"].data["unit"] == "kcal"
    # the days of steps, systolic, sleep, diastolic; the workout; the rings
    assert job.created == items(health).count() == 1 + 1 + 1 + 1 + 1 + 3


def test_a_sample_keeps_its_device_version_and_metadata_where_they_differ_from_its_day(health, tmp_path):
    watch = 'sourceVersion="10.4" device="&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch&gt;"'
    heart = "".join(
        f' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min"'
        f" {watch.replace('10.4', '10.5') if n == 2 else watch}"
        f' startDate="2024-03-01 0{n}:00:00 +0100" endDate="2024-03-01 0{n}:00:00 +0100" value="{60 + n}">\n'
        f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{n}"/>\n'
        " </Record>\n"
        for n in (3, 1, 2)  # out of order in the file: stored in time order
    )
    import_files(health, [export_zip(tmp_path, export_xml(extra=heart))])

    day = items(health, kind="health_series", data__metric="heart_rate").get()
    assert day.data["device"] == "<<HKDevice: 0x1>, name:Apple Watch>"
    assert day.data["source_version"] == "10.4"
    assert day.data["unit"] == "count/min"
    assert day.data["samples"] == [
        {"start": f"2024-03-01T0{n}:00:00+01:00", "end": f"2024-03-01T0{n}:00:00+01:00", "value": 60.0 + n,
         "metadata": {"HKMetadataKeyHeartRateMotionContext": str(n)}, **({"source_version": "10.5"} if n == 2 else {})}
        for n in (1, 2, 3)
    ]  # fmt: skip
    assert (day.data["avg"], day.data["min"], day.data["max"], day.data["count"]) == (62.0, 61.0, 63.0, 3)
    assert day.title == "Heart rate on 1 Mar 2024: average 62 count/min (3 samples, Watch)"


def test_importing_the_same_export_or_a_newer_overlapping_one_adds_nothing_twice(health, tmp_path):
    import_files(health, [export_zip(tmp_path, export_xml(steps=5))])
    before = items(health).count()
    day = items(health, kind="health_series", data__metric="steps").get()

    again = import_files(health, [export_zip(tmp_path, export_xml(steps=5), name="again.zip")])
    assert again.created == 0
    assert again.updated == 0
    assert items(health, kind="health_series", data__metric="steps").get().content_hash == day.content_hash
    # A newer export: three more samples on the same day update that day's record, no new row.
    newer = import_files(health, [export_zip(tmp_path, export_xml(steps=8), name="newer.zip")])
    assert newer.created == 0
    assert newer.updated == 1
    assert items(health).count() == before
    assert [s["value"] for s in samples(health, "steps")] == [10.0 + n for n in range(8)]
    # And one reaching into the next days adds those days.
    later = "".join(record(n, every=24 * 60) for n in range(1, 3))
    latest = import_files(health, [export_zip(tmp_path, export_xml(steps=8, extra=later), name="latest.zip")])
    assert (latest.created, latest.updated) == (2, 0)
    assert len(samples(health, "steps")) == 10
    # An older export again (fewer samples) takes nothing away.
    import_files(health, [export_zip(tmp_path, export_xml(steps=2), name="older.zip")])
    assert len(samples(health, "steps")) == 10


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
    assert len(samples(health, "steps")) == 5
    assert items(health, kind="workout").count() == 1


def _lines_of_bad_records(xml: str) -> list[int]:
    return [n for n, text in enumerate(xml.split("\n"), 1) if 'value="bad"' in text or 'duration="long"' in text]


def _export_with_bad_records_throughout(records: int) -> str:
    body = []
    for n in range(records):
        body.append(record(n, value="bad" if n % 97 == 13 else None, every=7))
        if n % 300 == 150:  # a Record with metadata lines, and a Workout whose start tag spans two lines
            body.append(record(n, every=7)[:-3] + '>\n  <MetadataEntry key="k" value="v"/>\n </Record>\n')
            body.append(WORKOUT.replace('duration="30"', 'duration="long"'))
    return export_xml(steps=0, extra="".join(body))


def test_every_problem_names_the_line_its_element_begins_on_anywhere_in_a_big_file(health, tmp_path):
    xml = _export_with_bad_records_throughout(3000)  # ~0.6 MB: many of the parser's pieces
    expected = _lines_of_bad_records(xml)
    assert len(expected) > 40

    job = import_files(health, [export_zip(tmp_path, xml)])

    named = sorted(int(re.search(r"export.xml line (\d+):", e["error"]).group(1)) for e in job.item_errors)
    assert named == expected


def test_lines_are_exact_whatever_the_size_of_the_pieces_fed_to_the_parser(tmp_path, monkeypatch):
    from connectors.apple_health import health_xml
    from connectors.archives import Member
    from connectors.base import Context

    comment = '<!-- an exporter\'s note\n <Record type="X" value="1"/>\n-->\n'  # a "<Record" the parser never reports
    events = "".join(
        f'  <WorkoutEvent type="HKWorkoutEventTypeLap" date="2024-03-01 18:{n:02d}:00 +0100"/>\n' for n in range(40)
    )
    long_workout = WORKOUT.replace('duration="30"', 'duration="long"').replace(" </Workout>", events + " </Workout>")
    one_line = "".join(record(n, value="bad" if n == 17 else None, every=3)[:-1] for n in range(20)) + "\n"
    xml = _export_with_bad_records_throughout(400).replace(
        "</HealthData>", comment + long_workout + one_line + comment + record(1, value="bad") + "</HealthData>"
    )
    path = tmp_path / "export.xml"
    path.write_text(xml)
    connector = AppleHealth(Context(config={"record_types": []}, secrets={}, http=None))
    found = {}
    for size in (97, 1000, 64 * 1024):
        monkeypatch.setattr(health_xml, "FEED_BYTES", size)
        with open(path, "rb") as stream:
            found[size] = list(connector.parse_here(Member("", str(path), path.stat().st_size), stream))
        lines = [int(str(t).split(" line ")[1].split(":")[0]) for _e, t in found[size] if not isinstance(t, dict)]
        assert lines == _lines_of_bad_records(xml), size
    # The same entries in the same order (an interrupted import resumes by their numbers).
    assert [(e, str(t)) for e, t in found[97]] == [(e, str(t)) for e, t in found[64 * 1024]]


def test_a_broken_tag_is_reported_with_a_line_and_what_came_before_is_imported(health, tmp_path):
    broken = ' <Record type="HKQuantityTypeIdentifierStepCount" value=">\n'
    job = import_files(health, [export_zip(tmp_path, export_xml(extra=broken))])

    assert job.status == "partial"
    # libxml2 notices the damage where the unclosed quote ends, a few lines on: that line is named.
    assert any(re.search(r"export.xml line \d+: the XML is broken here \(.+\)", e["error"]) for e in job.item_errors), (
        job.item_errors
    )
    assert len(samples(health, "steps")) == 5  # what came before the damage
    assert items(health, kind="health_series", data__metric="sleep").count() == 1


def test_a_truncated_export_xml_keeps_what_came_before_the_cut(health, tmp_path):
    xml = export_xml(steps=30)
    cut = xml[: xml.index(record(20))]
    job = import_files(health, [export_zip(tmp_path, cut)])

    assert job.status == "partial"
    assert len(samples(health, "steps")) == 20
    assert any("the XML is broken here" in e["error"] for e in job.item_errors)


def test_a_killed_import_resumes_from_its_checkpoint_with_the_exact_total(health, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 7
    forty_days = "".join(record(n, every=24 * 60) for n in range(40))
    path = export_zip(tmp_path, export_xml(steps=0, extra=forty_days))
    stored, job = import_killed_after_first_batch_then_resumed(health, [path])

    assert 0 < stored < 40
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert items(health).count() == 40 + 1 + 1 + 1 + 1 + 3
    assert items(health).values("external_id").distinct().count() == items(health).count()
    assert [s["value"] for s in samples(health, "steps")] == [10.0 + n for n in range(40)]


def test_record_types_and_since_filter_the_import(catalogue, owner, tmp_path):
    health = connect(owner, "apple-health", config={"record_types": ["sleep", "workouts"], "since": "2024-03-01"})
    import_files(health, [export_zip(tmp_path, export_xml())])
    assert sorted(items(health).values_list("kind", "data__metric")) == [("health_series", "sleep"), ("workout", None)]

    later = connect(owner, "apple-health", config={"record_types": ["steps"], "since": "2024-03-02"}, name="Later")
    days = "".join(record(n, every=24 * 60) for n in range(3))  # 1, 2 and 3 March
    import_files(later, [export_zip(tmp_path, export_xml(steps=0, extra=days), name="later.zip")])
    assert sorted(items(later).values_list("data__date", flat=True)) == ["2024-03-02", "2024-03-03"]


def interleaved(order_seed: int) -> tuple[str, dict]:
    """Steps from two sources over six days, the days and sources shuffled in the file (a few
    samples each), with sleep records in the middle cutting the steps in two parts: the export and
    {(source, day): [values]} expected."""
    import random

    rng = random.Random(order_seed)
    expected: dict[tuple[str, str], list[float]] = {}
    rows = []
    for day in range(6):
        for source in ("Phone", "Watch"):
            for n in range(4):
                value = day * 100 + n + (50 if source == "Watch" else 0)
                rows.append(record(day * 24 * 60 + n * 10, source=source, value=value))
                expected.setdefault((source, f"2024-03-0{day + 1}"), []).append(float(value))
    rng.shuffle(rows)
    middle = len(rows) // 2
    return HEAD + "".join(rows[:middle]) + SLEEP + "".join(rows[middle:]) + "</HealthData>\n", expected


def stored_days(integration) -> dict:
    return {
        (day.data["source"], day.data["date"]): [s["value"] for s in day.data["samples"]]
        for day in items(integration, kind="health_series", data__metric="steps")
    }


def test_a_day_whose_samples_come_in_several_parts_of_the_file_is_one_record_with_every_sample(
    health, tmp_path, settings, monkeypatch
):
    # Two open groups at most and batches of three: days are handed out early, come back later in
    # the file (after other days, after the sleep records) and in later batches, merged each time.
    monkeypatch.setattr(series, "MAX_OPEN_GROUPS", 2)
    settings.SYNC_BATCH_SIZE = 3
    xml, expected = interleaved(1)
    job = import_files(health, [export_zip(tmp_path, xml)])

    assert job.status == "succeeded", job.error_message
    assert items(health, kind="health_series", data__metric="steps").count() == 12
    assert stored_days(health) == {key: sorted(values) for key, values in expected.items()}
    for day in items(health, kind="health_series", data__metric="steps"):
        assert day.data["count"] == 4
        assert day.data["sum"] == sum(expected[(day.data["source"], day.data["date"])])
    assert daily_series(items(health), "steps")[0] == {"date": "2024-03-01", "value": 50 * 4 + 6.0}

    # The same samples in another order: nothing changes, not even a hash.
    hashes = dict(items(health).values_list("external_id", "content_hash"))
    again = import_files(health, [export_zip(tmp_path, interleaved(2)[0], name="again.zip")])
    assert (again.created, again.updated) == (0, 0)
    assert dict(items(health).values_list("external_id", "content_hash")) == hashes


def test_a_killed_import_of_interleaved_days_resumes_with_every_sample_once(health, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(series, "MAX_OPEN_GROUPS", 2)
    settings.SYNC_BATCH_SIZE = 3
    xml, expected = interleaved(3)
    stored, job = import_killed_after_first_batch_then_resumed(health, [export_zip(tmp_path, xml)])

    assert stored > 0
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert stored_days(health) == {key: sorted(values) for key, values in expected.items()}
    assert items(health).values("external_id").distinct().count() == items(health).count() == 12 + 1


def test_open_groups_stay_bounded_and_hand_out_the_least_recently_fed():
    groups = series.OpenGroups(max_groups=2, max_samples=6)

    def add(key, n):
        at = f"2024-03-01T08:0{n}:00+01:00"
        groups.add(key, (at, at, float(n), "", "count", None, None, None))

    add(("a",), 1)
    add(("b",), 2)
    add(("a",), 3)
    add(("a",), 3)  # the same sample again: a row, made a sample once (below)
    assert list(groups.overflow()) == []
    add(("c",), 4)
    assert [key for key, _ in groups.overflow()] == [("b",)]  # "a" was fed after "b"
    for n in range(5, 9):
        add(("c",), n)
    handed = list(groups.overflow())  # 8 rows open: the oldest group goes, the one being fed stays
    assert [(key, len(rows)) for key, rows in handed] == [(("a",), 3)]
    assert [s["value"] for s in series.samples_of(handed[0][1], categorical=False).values()] == [1.0, 3.0]
    assert [(key, len(rows)) for key, rows in groups.flush()] == [(("c",), 5)]
    assert groups.samples == 0


def test_rows_become_samples_as_the_records_said_them_the_first_of_each_kept():
    at, later = "2024-03-01T08:00:00+01:00", "2024-03-01T08:30:00+01:00"
    rows = [
        (at, later, 30.0, "asleep_core", "min", "Watch", "10.4", {"k": "v"}),
        (at, later, 30.0, "asleep_core", "min", "Phone", None, None),  # the same sample, from a Correlation
        (later, later, 0.0, "", "min", None, None, None),  # a category sample without a state
    ]
    assert list(series.samples_of(rows, categorical=True).values()) == [
        {"start": at, "end": later, "value": 30.0, "unit": "min", "category": "asleep_core", "device": "Watch",
         "source_version": "10.4", "metadata": {"k": "v"}},
        {"start": later, "end": later, "value": 0.0, "unit": "min", "category": None},
    ]  # fmt: skip
    assert list(series.samples_of([(at, at, 5.0, "", "", None, None, None)], categorical=False).values()) == [
        {"start": at, "end": at, "value": 5.0, "unit": ""}
    ]


def test_a_stored_day_expands_to_the_same_samples_it_was_built_from():
    def sample(n, **extra):
        at = f"2024-03-01T08:0{n}:00+01:00"
        return {"start": at, "end": at, "value": float(n), "unit": "count", **extra}

    originals = [sample(1, device="Watch"), sample(2), sample(3, device="Phone", source_version="2")]
    meta = {"metric": "steps", "hk_type": "HKQuantityTypeIdentifierStepCount", "source": "S", "date": "2024-03-01"}
    data = series.build(meta, {series.identity(s): dict(s) for s in originals}, additive=True, sleep=False)

    assert data["device"] == "Watch"
    assert data["samples"][0] == {
        "start": "2024-03-01T08:01:00+01:00",
        "end": "2024-03-01T08:01:00+01:00",
        "value": 1.0,
    }
    back = series.expand(data)
    assert [{k: v for k, v in s.items() if v is not None} for s in back.values()] == originals
    again = series.build(meta, back, additive=True, sleep=False)
    assert again == data


def test_health_times_are_read_exactly_without_datetime_per_sample():
    assert series.iso("2024-03-31 02:30:00 -0930") == "2024-03-31T02:30:00-09:30"
    for text in ("2024-03-01 08:00:00 +0100", "2023-10-29 02:30:00 +0200", "2023-10-29 02:30:00 +0100",
                 "1999-12-31 23:59:59 -0500", "2024-02-29 00:00:00 +0545"):  # fmt: skip
        exact = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        assert series.epoch(series.iso(text)) == exact.timestamp()
    for bad in ("2024-02-30 08:00:00 +0100", "2024-03-01 24:00:00 +0100", "2024-03-01T08:00:00+01:00", "yesterday"):
        with pytest.raises(ValueError, match="is not in Health's format"):
            series.iso(bad)
    with pytest.raises(ValueError, match="a date is missing"):
        series.iso(None)


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
    assert len(samples(health, "steps")) == 5

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
    assert 0 < len(samples(health, "steps")) < 3000


def test_an_unzipped_export_with_a_localized_name_finds_its_routes_next_to_it(health, tmp_path):
    folder = tmp_path / "apple_health_export"
    (folder / "workout-routes").mkdir(parents=True)
    (folder / "workout-routes" / "route_2024-03-01_6.00pm.gpx").write_text(GPX)
    (folder / "exportar.xml").write_text(export_xml())

    assert "exportar.xml found" in AppleHealth.sniff([str(folder / "exportar.xml")])
    job = import_files(health, [folder / "exportar.xml"])
    assert job.status == "succeeded", job.error_message
    assert len(items(health, kind="workout").get().data["route"]) == 2
