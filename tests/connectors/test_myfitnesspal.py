"""MyFitnessPal export zip imports (connectors/myfitnesspal.py), through the engine."""

from __future__ import annotations

import pytest

from connectors.errors import ConfigError
from connectors.myfitnesspal import MyFitnessPal
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect

NUTRITION = (
    "Date,Meal,Calories,Fat (g),Saturated Fat,Carbohydrates (g),Sodium (mg),Protein (g),Note\n"
    "2024-01-02,Breakfast,350.5,12,3,40,210,15,\n"
    "2024-01-02,Lunch,700,25,8,80,900,35,salad\n"
    "2024-01-03,Breakfast,lots,1,1,1,1,1,\n"
    "2024-01-03,Dinner\n"
)
EXERCISE = (
    "Date,Exercise,Type,Exercise Calories,Exercise Minutes,Sets,Reps Per Set,Kilograms,Steps,Note\n"
    "2024-01-02,Running (jogging),Cardiovascular,300,30,,,,,\n"
    "2024-01-02,Running (jogging),Cardiovascular,150,15,,,,,evening\n"
    "2024-01-02,Bench Press,Strength,,,3,10,40,,\n"
)
MEASUREMENT = "Date,Weight,Body Fat %\n2024-01-02,72.4,18.5\n2024-01-09,72.0,\n"


def export(tmp_path, nutrition=NUTRITION, name="File-Export-2024-01-01-to-2024-01-31.zip"):
    return zip_of(
        tmp_path / name,
        {
            "Nutrition-Summary-2024-01-01-to-2024-01-31.csv": nutrition,
            "Exercise-Summary-2024-01-01-to-2024-01-31.csv": EXERCISE,
            "Measurement-Summary-2024-01-01-to-2024-01-31.csv": MEASUREMENT,
        },
    )


@pytest.fixture
def mfp(catalogue, owner):
    return connect(owner, "myfitnesspal", config={"weight_unit": "kg"})


def test_meals_exercises_and_measurements_are_imported(mfp, tmp_path):
    job = import_files(mfp, [export(tmp_path)])

    assert job.status == "partial"
    errors = [e["error"] for e in job.item_errors]
    label = "File-Export-2024-01-01-to-2024-01-31.zip: Nutrition-Summary-2024-01-01-to-2024-01-31.csv"
    assert errors == [
        f"{label} line 4: row skipped, Calories 'lots' is not a number.",
        f"{label} line 5: the row has 2 columns, the header 9 (no Calories, Note).",
    ]
    lunch = items(mfp, kind="health_sample", data__metric="nutrition", data__category="lunch").get()
    assert lunch.data["value"] == 700.0
    assert lunch.data["unit"] == "kcal"
    assert lunch.data["nutrients"] == {
        "fat": 25.0, "saturated_fat": 8.0, "carbohydrates": 80.0, "sodium": 900.0, "protein": 35.0,
    }  # fmt: skip
    assert lunch.data["start"] == "2024-01-02T00:00:00+00:00"
    runs = items(mfp, kind="workout", data__activity="Running (jogging)")
    assert runs.count() == 2  # two runs on one day stay two
    assert sorted(r.data["duration_s"] for r in runs) == [900.0, 1800.0]
    bench = items(mfp, kind="workout", data__activity="Bench Press").get()
    assert bench.data["sets"] == 3.0
    weights = items(mfp, data__metric="weight")
    assert weights.count() == 2
    assert {w.data["unit"] for w in weights} == {"kg"}
    assert items(mfp, data__metric="body_fat_percent").get().data["unit"] == "%"
    assert items(mfp).count() == 2 + 3 + 3


def test_a_newer_export_corrects_a_meal_and_adds_nothing_twice(mfp, tmp_path):
    import_files(mfp, [export(tmp_path)])
    job = import_files(mfp, [export(tmp_path, NUTRITION.replace("Lunch,700", "Lunch,650"), "newer.zip")])
    assert job.created == 0
    assert job.updated == 1
    assert items(mfp, data__category="lunch").get().data["value"] == 650.0


def test_a_killed_import_resumes_with_the_exact_total(mfp, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 2
    stored, job = import_killed_after_first_batch_then_resumed(mfp, [export(tmp_path)])
    assert 0 < stored < 8
    assert job.status == "partial"
    assert items(mfp).count() == 8
    assert job.failed == 2


def test_sniff(tmp_path):
    assert MyFitnessPal.sniff([export(tmp_path)]).startswith("MyFitnessPal export, ")
    spotify = zip_of(tmp_path / "my_spotify_data.zip", {"MyData/StreamingHistory0.json": "[]"})
    with pytest.raises(ConfigError, match=r"my_spotify_data.zip is a Spotify data export, not a MyFitnessPal export"):
        MyFitnessPal.sniff([spotify])


def test_numbers_that_are_not_finite_are_refused_and_decimal_commas_are_read(mfp, tmp_path):
    """A file re-saved by a spreadsheet in a comma-decimal locale writes "72,4" (72.4, never 724);
    NaN or Infinity cannot be stored (nor charted) and name their row instead."""
    measurement = "Date;Weight;Body Fat %\n02.01.2024;72,4;18,5\n2024-01-03;NaN;\n2024-01-04;1,250;inf\n"
    path = zip_of(tmp_path / "export.zip", {"Measurement-Summary-2024-01-01-to-2024-01-31.csv": measurement})
    job = import_files(mfp, [path])

    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "export.zip: Measurement-Summary-2024-01-01-to-2024-01-31.csv line 3: row skipped, "
        "Weight 'NaN' is not a number.",
        "export.zip: Measurement-Summary-2024-01-01-to-2024-01-31.csv line 4: row skipped, "
        "Body Fat % 'inf' is not a number.",
    ]
    weight = items(mfp, data__metric="weight").get()
    assert weight.data["value"] == 72.4
    assert weight.data["start"] == "2024-01-02T00:00:00+00:00"  # a dotted date is day-first
    assert items(mfp, data__metric="body_fat_percent").get().data["value"] == 18.5


def test_one_unreadable_file_of_the_export_is_named_and_the_others_imported(mfp, tmp_path):
    path = zip_of(
        tmp_path / "export.zip",
        {
            "Nutrition-Summary-2024-01-01-to-2024-01-31.csv": NUTRITION,
            "Exercise-Summary-2024-01-01-to-2024-01-31.csv": "\ufeff",  # re-saved empty by a spreadsheet
            "Measurement-Summary-2024-01-01-to-2024-01-31.csv": "Weight,Body Fat %\n72.4,18.5\n",  # no Date
        },
    )
    job = import_files(mfp, [path])

    assert job.status == "partial", job.error_message
    errors = [e["error"] for e in job.item_errors]
    assert "export.zip: Exercise-Summary-2024-01-01-to-2024-01-31.csv is empty. Upload the file again." in errors
    assert (
        "export.zip: Measurement-Summary-2024-01-01-to-2024-01-31.csv has no Date column; its columns are: "
        "Weight, Body Fat %. Upload the file exactly as the service exported it." in errors
    )
    assert items(mfp, data__metric="nutrition").count() == 2


def test_an_export_resaved_in_a_day_first_locale_is_read_day_first_throughout(mfp, tmp_path):
    measurement = "Date,Weight\n28/01/2024,72.4\n05/02/2024,72.1\n"
    path = zip_of(tmp_path / "export.zip", {"Measurement-Summary-2024-01-01-to-2024-02-29.csv": measurement})
    job = import_files(mfp, [path])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    starts = sorted(i.data["start"][:10] for i in items(mfp, data__metric="weight"))
    assert starts == ["2024-01-28", "2024-02-05"]
