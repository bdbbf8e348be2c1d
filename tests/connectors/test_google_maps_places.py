"""Google Maps saved places imports (connectors/google_takeout/maps.py) through the engine: Saved
Places GeoJSON old and new, labelled places, saved list CSVs, Timeline files when asked, bad input,
re-imports and resumes. Every file here is made up by the test."""

from __future__ import annotations

import datetime
import json

import pytest

from connectors.errors import ConfigError
from connectors.google_takeout.maps import GoogleMapsPlaces, place_id
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect
from tests.connectors.test_google_location import SEMANTIC


def saved(n: int, *, lon=11.576124, lat=48.137154) -> dict:
    return {
        "geometry": {"coordinates": [lon, lat], "type": "Point"},
        "properties": {
            "date": f"2021-03-{1 + n % 28:02d}T10:00:00Z",
            "google_maps_url": f"http://maps.google.com/?cid={1000 + n}",
            "location": {
                "address": f"Street {n}, 80331 München, Deutschland",
                "country_code": "DE",
                "name": f"Place {n}",
            },
            "Comment": "Great coffee" if n == 1 else "",
        },
        "type": "Feature",
    }


OLD_SHAPE = {
    "geometry": {"coordinates": [2.2945, 48.8584], "type": "Point"},
    "properties": {
        "Google Maps URL": "http://maps.google.com/?cid=5555",
        "Location": {
            "Address": "Champ de Mars, Paris",
            "Business Name": "Eiffel Tower",
            "Country Code": "FR",
            "Geo Coordinates": {"Latitude": "48.8584", "Longitude": "2.2945"},
        },
        "Published": "2015-06-01T12:00:00Z",
        "Title": "Eiffel Tower",
        "Updated": "2016-06-01T12:00:00Z",
    },
    "type": "Feature",
}
NO_COORDINATES = {
    "geometry": {"coordinates": [0, 0], "type": "Point"},
    "properties": {
        "date": "2022-01-01T00:00:00Z",
        "google_maps_url": "http://maps.google.com/?cid=7777",
        "location": {"name": "Somewhere saved without coordinates"},
    },
    "type": "Feature",
}
LABELED = {"type": "FeatureCollection", "features": [
    {"geometry": {"coordinates": [11.6, 48.15], "type": "Point"},
     "properties": {"address": "Work Street 1, München", "name": "Work"}, "type": "Feature"}]}  # fmt: skip
WANT_TO_GO = (
    "Title,Note,URL,Comment\n"
    "Café Luitpold,Try the cake,https://www.google.com/maps/place/Caf%C3%A9/data=!4m2!3m1!1s0x479e75f:0x1a2b3c,\n"
    ",,,\n"
)


def collection(features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=2)


@pytest.fixture
def maps(catalogue, owner):
    return connect(owner, "google-maps")


def test_place_ids_from_urls():
    assert place_id("http://maps.google.com/?cid=12345") == "12345"
    assert place_id("https://www.google.com/maps/place/X/data=!4m2!3m1!1s0x47:0x1d") == "0x47:0x1d"
    assert place_id("https://www.google.com/maps/search/?api=1&query=x&query_place_id=ChIJabc") == "ChIJabc"
    assert place_id("") == ""


def test_saved_places_labelled_places_and_lists(maps, tmp_path):
    path = zip_of(tmp_path / "takeout-001.zip", {
        "Takeout/Maps (Meine Orte)/Gespeicherte Orte.json": collection([saved(1), saved(2), OLD_SHAPE, NO_COORDINATES]),
        "Takeout/Maps/Markierte Orte.json": json.dumps(LABELED),
        "Takeout/Gespeichert/Möchte ich hin.csv": WANT_TO_GO,
    })  # fmt: skip
    job = import_files(maps, [path])

    assert job.status == "succeeded", job.error_message
    assert items(maps).count() == 6
    first = items(maps, data__provider_place_id="1001").get()
    assert first.kind == "place"
    assert first.title == "Place 1"
    assert first.data["geo"] == {"lat": 48.137154, "lon": 11.576124}
    assert first.data["address"] == "Street 1, 80331 München, Deutschland"
    assert first.data["url"] == "http://maps.google.com/?cid=1001"
    assert first.data["category"] == "starred"
    assert first.data["comment"] == "Great coffee"
    assert first.occurred_at == datetime.datetime(2021, 3, 2, 10, 0, tzinfo=datetime.UTC)
    eiffel = items(maps, data__provider_place_id="5555").get()
    assert (eiffel.title, eiffel.data["geo"]) == ("Eiffel Tower", {"lat": 48.8584, "lon": 2.2945})
    assert eiffel.data["updated_at"] == "2016-06-01T12:00:00+00:00"
    assert items(maps, data__provider_place_id="7777").get().data["geo"] is None
    work = items(maps, data__category="labeled").get()
    assert (work.title, work.data["geo"]) == ("Work", {"lat": 48.15, "lon": 11.6})
    cafe = items(maps, data__category="Möchte ich hin").get()
    assert cafe.title == "Café Luitpold"
    assert cafe.data["provider_place_id"] == "0x479e75f:0x1a2b3c"
    assert cafe.data["note"] == "Try the cake"

    again = import_files(maps, [path])
    assert (again.created, again.updated) == (0, 0)


def test_timeline_files_only_when_asked(catalogue, owner, tmp_path):
    files = {"Takeout/Maps/Saved Places.json": collection([saved(1)]), "Takeout/LH/2022_JANUARY.json": SEMANTIC}
    path = zip_of(tmp_path / "takeout-001.zip", files)
    off = connect(owner, "google-maps", name="Off")
    job = import_files(off, [path])
    assert job.status == "partial"
    assert "Takeout/LH/2022_JANUARY.json holds Timeline visits, which were not imported" in job.remediation
    assert items(off).count() == 1

    on = connect(owner, "google-maps", name="On", config={"include_timeline": True})
    job = import_files(on, [path])
    assert job.status == "succeeded", job.error_message
    assert items(on, kind="place").count() == 1
    assert items(on, kind="location_visit").count() == 2
    assert items(on, data__place_name="Marienplatz").get().data["provider_place_id"] == "ChIJ2V-Mo_l1nkcRfZixfUq4DAE"


def test_malformed_geojson_keeps_what_came_before(maps, tmp_path):
    text = collection([saved(1), saved(2), saved(3)])
    broken = text[: text.index('"Place 3"')] + "}}}"
    path = tmp_path / "Saved Places.json"
    path.write_text(broken, encoding="utf-8")
    job = import_files(maps, [path])
    assert job.status == "partial"
    [error] = job.item_errors
    assert error["error"].startswith("Saved Places.json is not valid JSON after record 2")
    assert items(maps).count() == 2


def test_a_killed_import_resumes_with_the_exact_total(maps, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 4
    files = {"Takeout/M/Saved Places.json": collection([saved(n) for n in range(15)]), "Takeout/S/L.csv": WANT_TO_GO}
    path = zip_of(tmp_path / "takeout-001.zip", files)
    stored, job = import_killed_after_first_batch_then_resumed(maps, [path])
    assert 0 < stored < 16
    assert job.status == "succeeded", job.error_message
    assert items(maps).count() == 16


def test_sniff(tmp_path):
    path = tmp_path / "Saved Places.json"
    path.write_text(collection([saved(1)]), encoding="utf-8")
    assert GoogleMapsPlaces.sniff([str(path)]).startswith("Google Maps saved places export, ")
    other = tmp_path / "watch-history.json"
    other.write_text(
        json.dumps([{"header": "YouTube", "title": "Watched x", "titleUrl": "https://www.youtube.com/watch?v=x"}])
    )
    with pytest.raises(ConfigError, match=r"watch-history.json is a YouTube watch history export, not a Google Maps"):
        GoogleMapsPlaces.sniff([str(other)])


def test_features_whose_fields_have_the_wrong_type_are_named_and_the_rest_imported(maps, tmp_path):
    features = [
        {**saved(1), "properties": {**saved(1)["properties"], "location": "Marienplatz"}},
        {**saved(2), "geometry": {"coordinates": "11.5, 48.1"}},
        saved(3),
    ]
    path = tmp_path / "Saved Places.json"
    path.write_text(collection(features), encoding="utf-8")
    job = import_files(maps, [path])

    assert job.status == "partial", job.error_message
    assert [e["error"] for e in job.item_errors] == [
        "Saved Places.json feature 1: skipped, its fields are not shaped as Google writes them."
    ]
    assert items(maps).count() == 2
    assert items(maps, data__name="Place 2").get().data["geo"] is None  # not the string's characters
