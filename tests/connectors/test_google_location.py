"""Google Location History imports (connectors/google_takeout/location.py) through the engine: raw
Records.json points grouped into visits, Semantic Location History, the Android and iOS on-device
Timeline exports, bad input, re-imports and resumes. Every file here is made up by the test."""

from __future__ import annotations

import datetime
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from connectors.errors import ConfigError
from connectors.google_takeout import location
from connectors.google_takeout.location import GoogleLocationHistory
from tests.connectors.archive_helpers import (
    import_files,
    import_killed_after_first_batch_then_resumed,
    items,
    zip_of,
    zip_opens,
)
from tests.connectors.helpers import connect

T0 = datetime.datetime(2022, 1, 5, 8, 0, tzinfo=datetime.UTC)
HOME = (48.137154, 11.576124)
WORK = (48.150000, 11.600000)  # ~2.3 km from HOME


def point(lat, lon, moment, *, ms=False, accuracy=20):
    entry = {"latitudeE7": round(lat * 1e7), "longitudeE7": round(lon * 1e7), "accuracy": accuracy}
    if ms:
        entry["timestampMs"] = str(int(moment.timestamp() * 1000))
    else:
        entry["timestamp"] = moment.isoformat().replace("+00:00", "Z")
    return entry


def stay(lat, lon, start, minutes, step=2, **kwargs):
    """Points every `step` minutes, jittering ~20 m around a place."""
    return [
        point(lat + (0.0002 if n % 2 else 0), lon, start + datetime.timedelta(minutes=m), **kwargs)
        for n, m in enumerate(range(0, minutes + 1, step))
    ]


def records_json(locations) -> str:
    return json.dumps({"locations": locations}, indent=2)


def day_of_points(ms=False):
    """Home 08:00-08:30, a 4-minute stop (too short), work 09:00-12:00."""
    points = stay(*HOME, T0, 30, ms=ms)
    points += stay(48.144, 11.59, T0 + datetime.timedelta(minutes=40), 4, ms=ms)
    points += stay(*WORK, T0 + datetime.timedelta(hours=1), 180, ms=ms)
    return points


PLACE_VISIT = {
    "placeVisit": {
        "location": {
            "latitudeE7": 481371540,
            "longitudeE7": 115761240,
            "placeId": "ChIJ2V-Mo_l1nkcRfZixfUq4DAE",
            "address": "Marienplatz 1, 80331 München, Germany",
            "name": "Marienplatz",
            "semanticType": "TYPE_SEARCHED_ADDRESS",
        },
        "duration": {"startTimestamp": "2022-01-05T13:00:00.123Z", "endTimestamp": "2022-01-05T14:30:00Z"},
        "placeConfidence": "HIGH_CONFIDENCE",
    }
}
ACTIVITY_SEGMENT = {
    "activitySegment": {
        "startLocation": {"latitudeE7": 481500000, "longitudeE7": 116000000},
        "endLocation": {"latitudeE7": 481371540, "longitudeE7": 115761240},
        "duration": {"startTimestampMs": "1641387600000", "endTimestampMs": "1641388800000"},
        "distance": 2300,
        "activityType": "WALKING",
        "confidence": "HIGH",
    }
}
SEMANTIC = json.dumps({"timelineObjects": [ACTIVITY_SEGMENT, PLACE_VISIT]}, indent=1)

ANDROID = json.dumps(
    {
        "semanticSegments": [
            {
                "startTime": "2024-03-01T09:00:00.000+01:00",
                "endTime": "2024-03-01T10:00:00.000+01:00",
                "visit": {
                    "hierarchyLevel": 0,
                    "probability": 0.9,
                    "topCandidate": {
                        "placeId": "ChIJandroidPlace",
                        "semanticType": "WORK",
                        "probability": 0.8,
                        "placeLocation": {"latLng": "48.1500000°, 11.6000000°"},
                    },
                },
            },
            {
                "startTime": "2024-03-01T10:00:00.000+01:00",
                "endTime": "2024-03-01T10:20:00.000+01:00",
                "activity": {
                    "start": {"latLng": "48.15°, 11.6°"},
                    "end": {"latLng": "48.137154°, 11.576124°"},
                    "distanceMeters": 2310.5,
                    "topCandidate": {"type": "IN_PASSENGER_VEHICLE", "probability": 0.7},
                },
            },
            {
                "startTime": "2024-03-01T10:00:00.000+01:00",
                "endTime": "2024-03-01T12:00:00.000+01:00",
                "timelinePath": [{"point": "48.15°, 11.6°", "time": "2024-03-01T10:02:00.000+01:00"}],
            },
        ],
        "rawSignals": [
            {
                "position": {
                    "LatLng": f"{HOME[0]}°, {HOME[1]}°",
                    "accuracyMeters": 10,
                    "timestamp": f"2024-03-02T07:{m:02d}:00.000+01:00",
                }
            }
            for m in range(0, 40, 5)
        ]
        + [{"wifiScan": {"deliveryTime": "2024-03-02T08:00:00.000+01:00", "devicesRecords": []}}],
        "userLocationProfile": {"frequentPlaces": []},
    },
    indent=1,
)

IOS = json.dumps(
    [
        {
            "startTime": "2024-03-03T09:00:00.000+01:00",
            "endTime": "2024-03-03T11:00:00.000+01:00",
            "visit": {
                "hierarchyLevel": "0",
                "topCandidate": {
                    "probability": "0.95",
                    "semanticType": "Unknown",
                    "placeID": "ChIJiosPlace",
                    "placeLocation": "geo:48.137154,11.576124",
                },
                "probability": "0.9",
            },
        },
        {
            "startTime": "2024-03-03T11:00:00.000+01:00",
            "endTime": "2024-03-03T11:30:00.000+01:00",
            "activity": {
                "start": "geo:48.137154,11.576124",
                "end": "geo:48.150000,11.600000",
                "topCandidate": {"type": "walking", "probability": "0.5"},
                "distanceMeters": "2400.0",
            },
        },
        {"startTime": "2024-03-03T11:00:00.000+01:00", "endTime": "2024-03-03T13:00:00.000+01:00",
         "timelinePath": [{"point": "geo:48.14,11.58", "durationMinutesOffsetFromStartTime": "10"}]},
    ]
)  # fmt: skip


@pytest.fixture
def timeline(catalogue, owner):
    return connect(owner, "google-location-history")


def takeout(tmp_path, files: dict, name="takeout-20240101T000000Z-001.zip") -> str:
    return zip_of(tmp_path / name, files)


@pytest.mark.parametrize("ms", [False, True])
def test_raw_points_are_grouped_into_visits_of_ten_minutes_or_more(timeline, tmp_path, ms):
    # A German Takeout: the folder name is translated, the file is found by what it holds.
    path = takeout(tmp_path, {"Takeout/Standortverlauf/Records.json": records_json(day_of_points(ms=ms))})
    job = import_files(timeline, [path])

    assert job.status == "succeeded", job.error_message
    visits = list(items(timeline).order_by("occurred_at"))
    assert len(visits) == 2  # the 4-minute stop is no visit
    home, work = visits
    assert home.kind == "location_visit"
    assert home.occurred_at == T0
    assert home.data["start"] == "2022-01-05T08:00:00+00:00"
    assert home.data["end"] == "2022-01-05T08:30:00+00:00"
    assert location.distance_m(home.data["geo"], {"lat": HOME[0], "lon": HOME[1]}) < 30
    assert home.data["point_count"] == 16
    assert work.data["end"] == "2022-01-05T12:00:00+00:00"
    assert location.distance_m(work.data["geo"], {"lat": WORK[0], "lon": WORK[1]}) < 30

    again = import_files(timeline, [path])
    assert (again.created, again.updated) == (0, 0)


def test_raw_points_can_be_left_out(catalogue, owner, tmp_path):
    timeline = connect(owner, "google-location-history", config={"group_raw_points": False})
    path = takeout(
        tmp_path, {"Takeout/L/Records.json": records_json(day_of_points()), "Takeout/L/2022_JANUARY.json": SEMANTIC}
    )
    job = import_files(timeline, [path])
    assert job.status == "succeeded", job.error_message
    assert items(timeline).count() == 2
    assert not items(timeline, data__source="records").exists()


def test_imprecise_points_do_not_split_a_stay():
    stays = location.Stays("records")
    points = stay(*HOME, T0, 30)
    points.insert(5, point(*WORK, T0 + datetime.timedelta(minutes=9), accuracy=1500))
    found = []
    for entry in points:
        position = location.raw_position(entry, "locations.item")
        if location.precise(position):
            found.append(stays.add(position[0], position[1]))
    found.append(stays.close())
    visits = [v for v in found if v]
    assert len(visits) == 1
    assert visits[0]["point_count"] == 16


def test_semantic_location_history(timeline, tmp_path):
    name = "Takeout/Location History (Timeline)/Semantic Location History/2022/2022_JANUARY.json"
    path = takeout(tmp_path, {name: SEMANTIC})
    job = import_files(timeline, [path])

    assert job.status == "succeeded", job.error_message
    visit = items(timeline, data__provider_place_id="ChIJ2V-Mo_l1nkcRfZixfUq4DAE").get()
    assert visit.data["place_name"] == "Marienplatz"
    assert visit.data["address"] == "Marienplatz 1, 80331 München, Germany"
    assert visit.data["geo"] == {"lat": 48.137154, "lon": 11.576124}
    assert visit.data["start"] == "2022-01-05T13:00:00.123000+00:00"
    assert visit.title == "At Marienplatz"
    assert visit.data["google"] == {"placeConfidence": "HIGH_CONFIDENCE"}  # what else Google said, kept
    move = items(timeline, data__activity="walking").get()
    assert move.data["distance_m"] == 2300
    assert move.data["start_geo"] == {"lat": 48.15, "lon": 11.6}
    assert move.data["end_geo"] == {"lat": 48.137154, "lon": 11.576124}
    assert move.data["geo"] == move.data["start_geo"]
    assert move.occurred_at == datetime.datetime(2022, 1, 5, 13, 0, tzinfo=datetime.UTC)
    assert move.data["end"] == "2022-01-05T13:20:00+00:00"


def test_android_on_device_export(timeline, tmp_path):
    path = tmp_path / "Timeline.json"
    path.write_text(ANDROID, encoding="utf-8")
    job = import_files(timeline, [path])

    assert job.status == "succeeded", job.error_message
    visit = items(timeline, data__provider_place_id="ChIJandroidPlace").get()
    assert visit.data["geo"] == {"lat": 48.15, "lon": 11.6}
    assert visit.data["start"] == "2024-03-01T09:00:00+01:00"
    assert visit.data["semantic_type"] == "WORK"
    assert visit.data["google"] == {"hierarchyLevel": 0, "probability": 0.9}
    assert visit.occurred_at == datetime.datetime(2024, 3, 1, 8, 0, tzinfo=datetime.UTC)
    drive = items(timeline, data__activity="driving").get()
    assert drive.data["distance_m"] == 2310.5
    assert drive.data["end_geo"] == {"lat": 48.137154, "lon": 11.576124}
    grouped = items(timeline, data__source="timeline-raw").get()  # 07:00-07:35 at home
    assert grouped.data["start"] == "2024-03-02T07:00:00+01:00"
    assert grouped.data["end"] == "2024-03-02T07:35:00+01:00"
    assert items(timeline).count() == 3  # the timelinePath segment is no record


def test_ios_on_device_export(timeline, tmp_path):
    path = tmp_path / "location-history.json"
    path.write_text(IOS, encoding="utf-8")
    job = import_files(timeline, [path])

    assert job.status == "succeeded", job.error_message
    visit = items(timeline, data__provider_place_id="ChIJiosPlace").get()
    assert visit.data["geo"] == {"lat": 48.137154, "lon": 11.576124}
    assert visit.data["probability"] == 0.95
    walk = items(timeline, data__activity="walking").get()
    assert walk.data["distance_m"] == 2400.0
    assert walk.data["end_geo"] == {"lat": 48.15, "lon": 11.6}
    assert items(timeline).count() == 2


def test_the_same_visit_in_two_shapes_is_stored_once(timeline, tmp_path):
    old = takeout(tmp_path, {"Takeout/LH/Semantic/2022_JANUARY.json": SEMANTIC})
    newer = [
        {"startTime": "2022-01-05T14:00:00.000+01:00", "endTime": "2022-01-05T15:30:00.000+01:00",
         "visit": {"topCandidate": {"placeID": "ChIJ2V-Mo_l1nkcRfZixfUq4DAE",
                                    "placeLocation": "geo:48.137154,11.576124"}}}
    ]  # fmt: skip
    ios = tmp_path / "ios.json"
    ios.write_text(json.dumps(newer), encoding="utf-8")
    import_files(timeline, [old])
    job = import_files(timeline, [ios])
    assert job.created == 0
    assert items(timeline, data__provider_place_id="ChIJ2V-Mo_l1nkcRfZixfUq4DAE").count() == 1


def test_malformed_json_keeps_what_came_before_and_names_the_record(timeline, tmp_path):
    good = json.dumps({"timelineObjects": [ACTIVITY_SEGMENT, PLACE_VISIT]})
    broken = good[: good.index('"placeVisit"')] + '"placeVisit": {"location": ]]]'
    path = takeout(tmp_path, {"Takeout/x/2022_JANUARY.json": broken, "Takeout/x/2022_FEBRUARY.json": SEMANTIC})
    job = import_files(timeline, [path])

    assert job.status == "partial"
    [error] = job.item_errors
    assert error["error"].startswith("takeout-20240101T000000Z-001.zip: Takeout/x/2022_JANUARY.json")
    assert "is not valid JSON after record 1" in error["error"]
    assert items(timeline).count() == 2  # the activity of January equals February's: stored once


def test_an_unknown_date_format_names_the_file_and_record(timeline, tmp_path):
    bad = json.loads(SEMANTIC)
    bad["timelineObjects"][0]["activitySegment"]["duration"] = {"startTimestamp": "5. Januar 2022"}
    points = day_of_points()
    points[3]["timestamp"] = "yesterday"
    points[4]["timestamp"] = "today"
    path = takeout(tmp_path, {"Takeout/a/2022_JANUARY.json": json.dumps(bad),
                              "Takeout/a/Records.json": records_json(points)})  # fmt: skip
    job = import_files(timeline, [path])

    assert job.status == "partial"
    messages = [e["error"] for e in job.item_errors]
    assert any(
        "Takeout/a/2022_JANUARY.json record 1: skipped, the start time '5. Januar 2022' is not a date" in m
        for m in messages
    )
    assert any("Takeout/a/Records.json record 4: skipped, the time 'yesterday'" in m for m in messages)
    assert "Records.json: 2 positions had times the hub cannot read" in job.remediation
    assert items(timeline, data__place_name="Marienplatz").count() == 1
    assert items(timeline, data__source="records").count() == 2


def test_a_truncated_zip_member_keeps_the_visits_read_before(timeline, tmp_path, settings):
    points = []
    for day in range(60):
        start = T0 + datetime.timedelta(days=day)
        points += stay(*HOME, start, 30) + stay(*WORK, start + datetime.timedelta(hours=1), 60)
    text = records_json(points)
    path = takeout(tmp_path, {"Takeout/L/Records.json": text})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("Takeout/L/Records.json")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    with open(path, "r+b") as handle:
        handle.seek(start + info.compress_size * 3 // 4)
        handle.write(b"\x00" * 40)  # the deflate stream is damaged three quarters in
    job = import_files(timeline, [path])

    assert job.status == "partial", job.item_errors
    [error] = job.item_errors
    # zlib may notice the damage, or inflate it to garbage that the JSON parser refuses.
    assert error["error"].startswith("takeout-20240101T000000Z-001.zip: Takeout/L/Records.json is ")
    assert "damaged or cut short" in error["error"] or "is not valid JSON after record" in error["error"]
    assert 20 < items(timeline).count() < 120  # the visits read before the damage


def test_a_zero_byte_file_is_named(timeline, tmp_path):
    files = {"Takeout/a/Records.json": "", "Takeout/a/2022_JANUARY.json": SEMANTIC, "Takeout/a/other.json": ""}
    path = takeout(tmp_path, files)
    job = import_files(timeline, [path])
    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "takeout-20240101T000000Z-001.zip: Takeout/a/Records.json is empty (0 bytes); nothing was read from it."
    ]  # other.json, empty, may be anything: it is not named
    assert items(timeline).count() == 2
    empty = tmp_path / "Records.json"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"Records.json is empty \(0 bytes\)"):
        GoogleLocationHistory.sniff([str(empty)])


def test_a_killed_import_resumes_with_the_exact_total(timeline, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 3
    points = []
    for day in range(6):
        start = T0 + datetime.timedelta(days=day)
        points += stay(*HOME, start, 30) + stay(*WORK, start + datetime.timedelta(hours=1), 60)
    path = takeout(tmp_path, {"Takeout/L/Records.json": records_json(points), "Takeout/L/2022_JANUARY.json": SEMANTIC})
    stored, job = import_killed_after_first_batch_then_resumed(timeline, [path])
    assert 0 < stored < 14
    assert job.status == "succeeded", job.error_message
    assert items(timeline).count() == 14


def test_sniff_accepts_each_shape_and_refuses_other_exports(tmp_path):
    semantic = takeout(tmp_path, {"Takeout/Standortverlauf/Semantic/2022/2022_JANUARY.json": SEMANTIC})
    assert GoogleLocationHistory.sniff([semantic]).startswith("Google Location History export, ")
    for name, text in (("Timeline.json", ANDROID), ("ios.json", IOS), ("Records.json", records_json(day_of_points()))):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert name in GoogleLocationHistory.sniff([str(path)])
    fotos = {"Takeout/Google Fotos/x/IMG_1.jpg": b"\xff\xd8jpeg", "Takeout/Google Fotos/x/IMG_1.jpg.json": "{}"}
    photos = takeout(tmp_path, fotos, "photos.zip")
    part = r"is a part of a Google Takeout archive that holds no Google Location History files"
    with pytest.raises(ConfigError, match=rf"photos.zip {part}"):
        GoogleLocationHistory.sniff([photos])
    with pytest.raises(ConfigError, match=rf"photos.zip {part}"):
        GoogleLocationHistory.sniff([semantic, photos])
    qif = tmp_path / "money.qif"
    qif.write_text("!Type:Bank\nD01/02/2020\nT-1.00\n^\n")
    with pytest.raises(ConfigError, match=r"money.qif is a Quicken QIF file, not a Google Location History export"):
        GoogleLocationHistory.sniff([str(qif)])
    youtube = tmp_path / "watch-history.json"
    youtube.write_text(json.dumps([{"header": "YouTube", "titleUrl": "https://www.youtube.com/watch?v=x"}]))
    with pytest.raises(ConfigError, match=r"watch-history.json is a YouTube watch history export, not a Google Loc"):
        GoogleLocationHistory.sniff([str(youtube)])
    only_empty = takeout(tmp_path, {"Takeout/a/Records.json": ""}, "empty.zip")
    with pytest.raises(ConfigError, match=rf"empty.zip {part}"):
        GoogleLocationHistory.sniff([only_empty])


def test_a_big_records_file_is_streamed_in_bounded_memory(tmp_path):
    """~6 MB of points: the parser must not hold the file (nor its points) in memory."""
    path = tmp_path / "Records.json"
    with open(path, "w") as out:
        out.write('{"locations": [')
        moment = T0
        for n in range(30_000):
            moment += datetime.timedelta(minutes=1)
            entry = point(HOME[0] + (n // 60) * 0.01, HOME[1], moment)  # a new place every hour
            entry["activity"] = [{"activity": [{"type": "STILL", "confidence": 100}], "timestamp": entry["timestamp"]}]
            out.write(("," if n else "") + json.dumps(entry))
        out.write("]}")
    assert path.stat().st_size > 5 * 1024**2
    from connectors import archives

    member = archives.Member("", str(path), path.stat().st_size)
    tracemalloc.start()
    with open(path, "rb") as stream:
        count = sum(1 for _, raw in location.read(member, stream) if isinstance(raw, dict))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 30_000 // 60
    assert peak < 2 * 1024**2  # ~1 MB of parser buffers, whatever the size of the file


def test_each_part_of_a_multi_part_takeout_is_checked_on_upload_then_imported(catalogue, owner, settings, tmp_path):
    """The connect page as the browser uses it: each part is checked as it arrives (a YouTube file
    is refused, naming it), then the import of both parts runs."""
    from django.test import Client

    from integrations.models import Integration, SyncJob
    from integrations.tasks import run_archive_import
    from tests.integrations.test_uploads_web import send_with_session

    settings.MEDIA_ROOT = tmp_path / "media"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    page = browser.get("/integrations/connect/google-location-history/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    parts = []
    contents = (
        {"Takeout/Standortverlauf/Records.json": records_json(day_of_points())},
        {"Takeout/Standortverlauf/Semantic/2022/2022_JANUAR.json": SEMANTIC},
    )
    for n, files in enumerate(contents, start=1):
        data = Path(takeout(tmp_path, files, f"takeout-00{n}.zip")).read_bytes()
        upload = send_with_session(browser, token, data, filename=f"takeout-00{n}.zip", chunk=4096,
                                   type="google-location-history")  # fmt: skip
        assert upload["status"] == "complete", upload
        parts.append(upload)
    assert "Records.json found" in parts[0]["detail"]
    wrong = json.dumps([{"header": "YouTube", "titleUrl": "https://www.youtube.com/watch?v=x"}]).encode()
    refused = send_with_session(browser, token, wrong, filename="watch-history.json", type="google-location-history")
    assert refused["status"] == "rejected"
    assert (
        "watch-history.json is a YouTube watch history export, not a Google Location History export"
        in (refused["detail"])
    )

    response = browser.post(
        "/integrations/connect/google-location-history/",
        {
            "csrfmiddlewaretoken": token,
            "name": "Timeline",
            "group_raw_points": "on",
            "upload": [p["id"] for p in parts],
        },
    )
    assert response.status_code == 302
    integration = Integration.objects.get(user=owner, type__slug="google-location-history")
    job = SyncJob.objects.get(integration=integration)
    run_archive_import(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error_message
    assert job.created == 4  # two grouped stays, one place visit, one walk


def test_a_zip_cut_short_is_refused_naming_it(tmp_path):
    whole = takeout(tmp_path, {"Takeout/L/2022_JANUARY.json": SEMANTIC * 20}, "takeout-002.zip")
    cut = tmp_path / "takeout-003.zip"
    cut.write_bytes(Path(whole).read_bytes()[:-200])  # the central directory is lost
    with pytest.raises(ConfigError, match=r"takeout-003.zip is not a readable zip archive: it is damaged or was cut"):
        GoogleLocationHistory.sniff([str(cut)])


def test_a_takeout_of_thousands_of_json_files_is_checked_opening_the_zip_a_few_times(tmp_path, monkeypatch):
    """Each head read through Member.head re-reads the zip's central directory: over thousands of
    Fit or Keep JSON files that took minutes. The check and the import open each zip a few times."""
    files = {f"Takeout/Fit/Alle Daten/raw_{n}.json": json.dumps({"Data Points": [n]}) for n in range(300)}
    path = takeout(tmp_path, {**files, "Takeout/LH/2022_JANUARY.json": SEMANTIC})
    opened = zip_opens(monkeypatch, path)
    assert "2022_JANUARY.json found" in GoogleLocationHistory.sniff([path])
    assert len(opened) < 10


def awkward_points(seed: int, count: int) -> list:
    """Raw positions in every notation Records.json holds, and the odd ones: stays and moves, times
    with and without milliseconds, with 9 fraction digits, offsets, epoch milliseconds, echoes of
    earlier fixes, coordinates as strings or floats, missing or (0, 0), imprecise or string
    accuracies, points a hair inside and outside the 100 m radius, stays across the antimeridian
    and at the pole, and unreadable times."""
    import random

    rng = random.Random(seed)
    moment = T0
    places = [HOME, WORK, (0.0004, 179.9995), (89.9995, 10.0), (-33.86, 151.2)]
    place = places[0]
    out = []
    for _ in range(count):
        moment += datetime.timedelta(
            seconds=rng.choice((20, 45, 60, 90, 130, 200)), microseconds=rng.randint(0, 999999)
        )
        if rng.random() < 0.04:
            place = rng.choice(places)
        kind = rng.random()
        if kind < 0.08:  # exactly about the radius, north of the first point of the stay
            lat, lon = place[0] + rng.choice((99.95, 99.99, 100.0, 100.01, 100.05)) / 111_195, place[1]
        elif place[1] > 179.99 and kind < 0.3:  # the other side of the antimeridian
            lat, lon = place[0] + rng.gauss(0, 0.0002), -179.9999 + rng.gauss(0, 0.0001)
        else:
            lat, lon = place[0] + rng.gauss(0, 0.0004), place[1] + rng.gauss(0, 0.0006)
        lon = lon - 360 if lon > 180 else lon
        entry = {"latitudeE7": round(lat * 1e7), "longitudeE7": round(lon * 1e7)}
        when = moment - datetime.timedelta(minutes=5) if rng.random() < 0.02 else moment  # an echo
        style = rng.random()
        if style < 0.3:
            entry["timestampMs"] = str(int(when.timestamp() * 1000))
        elif style < 0.5:
            entry["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif style < 0.6:
            entry["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif style < 0.7:
            entry["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z"
        elif style < 0.8:
            entry["timestamp"] = (when + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f+01:00")
        else:
            entry["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            entry["timestampMs"] = "0"  # ignored: timestamp comes first
        odd = rng.random()
        if odd < 0.01:
            entry["timestamp"] = rng.choice(("yesterday", "2022-13-45T10:00:00.000Z", "", 12.5))
            entry.pop("timestampMs", None)
        elif odd < 0.02:
            entry["latitudeE7"] = str(entry["latitudeE7"])
        elif odd < 0.03:
            entry["longitudeE7"] = float(entry["longitudeE7"]) + 0.5
        elif odd < 0.04:
            entry.pop("latitudeE7")
        elif odd < 0.045:
            entry["latitudeE7"] = entry["longitudeE7"] = 0
        elif odd < 0.05:
            entry["latitudeE7"] = 950_000_000
        accuracy = rng.random()
        if accuracy < 0.05:
            entry["accuracy"] = rng.choice((199, 200, 201, 200.5, 1500, "35", "far", None))
        elif accuracy < 0.9:
            entry["accuracy"] = rng.randint(3, 60)
        out.append(entry)
    return out


def read_all(path: Path) -> list:
    from connectors import archives

    member = archives.Member("", str(path), path.stat().st_size)
    with open(path, "rb") as stream:
        return [(index, type(found).__name__, found) for index, found in location.read(member, stream)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_records_path_reads_exactly_what_the_general_path_reads(tmp_path, seed):
    """A Records.json is read on the fast path (ijson.items, inlined times and distances); the same
    positions in a file that also names rawSignals go through the general path: the same visits,
    errors and notices come out, in the same order."""
    points = awkward_points(seed, 6000)
    (tmp_path / "fast").mkdir()
    (tmp_path / "general").mkdir()
    fast, general = tmp_path / "fast" / "Records.json", tmp_path / "general" / "Records.json"
    fast.write_text(records_json(points))
    general.write_text(json.dumps({"rawSignals": [], "locations": points}, indent=2))
    assert location.is_records_json(fast.read_bytes()[:8192])
    assert not location.is_records_json(general.read_bytes()[:8192])
    got, expected = read_all(fast), read_all(general)
    assert len([v for v in expected if v[1] == "dict"]) > 50
    assert any(v[1] == "ItemError" for v in expected)
    assert any(v[1] == "Notice" for v in expected)
    assert [(i, kind, str(v), getattr(v, "external_id", "")) for i, kind, v in got] == [
        (i, kind, str(v), getattr(v, "external_id", "")) for i, kind, v in expected
    ]
    assert [v for _, kind, v in got if kind == "dict"] == [v for _, kind, v in expected if kind == "dict"]


def test_the_distance_shortcut_decides_as_the_haversine_does():
    import random

    rng = random.Random(7)
    for _ in range(200_000):
        lat_c = rng.uniform(-90, 90) if rng.random() < 0.2 else rng.choice((0.0, 48.1, -33.9, 89.9999, -89.99999))
        lon_c = rng.uniform(-180, 180) if rng.random() < 0.5 else rng.choice((179.99999, -179.99999, 0.0))
        distance = rng.choice((rng.uniform(0, 300), 100 + rng.gauss(0, 0.2)))
        bearing = rng.uniform(0, 2 * 3.141592653589793)
        import math

        lat = max(-90.0, min(90.0, lat_c + distance * math.cos(bearing) / 111_195))
        lon = lon_c + distance * math.sin(bearing) / 111_195 / max(math.cos(math.radians(lat_c)), 1e-6)
        lon = (lon + 180) % 360 - 180
        assert location.within_radius(lat_c, lon_c, lat, lon) == (
            location.haversine_m(lat_c, lon_c, lat, lon) <= location.CLUSTER_RADIUS_M
        ), (lat_c, lon_c, lat, lon)


def test_entries_whose_fields_have_the_wrong_type_are_named_and_the_rest_imported(timeline, tmp_path):
    """Hand-edited or forged files: a field that should be an object holds text, a number is out of
    any range. Each such entry is an item error with its record number, never an internal error."""
    visit = PLACE_VISIT["placeVisit"]
    android = json.loads(ANDROID)
    segment = android["semanticSegments"][0]
    semantic = {
        "timelineObjects": [
            {"placeVisit": {**visit, "duration": "all day"}},
            {"placeVisit": {**visit, "location": "Marienplatz"}},
            {"placeVisit": {**visit, "location": {"latitudeE7": 1e300, "longitudeE7": 1}}},
            {"activitySegment": {**ACTIVITY_SEGMENT["activitySegment"], "startLocation": [1, 2]}},
            PLACE_VISIT,
        ]
    }
    timeline_file = {
        "semanticSegments": [
            {**segment, "visit": {**segment["visit"], "topCandidate": "work"}},
            {**segment, "visit": {**segment["visit"], "topCandidate": {"placeLocation": {"latLng": 5}}}},
            {**segment, "startTime": "2024-03-05T09:00:00.000+01:00", "endTime": "2024-03-05T10:00:00.000+01:00"},
        ]
    }
    path = takeout(
        tmp_path,
        {
            "Takeout/Location History/2022_JANUARY.json": json.dumps(semantic),
            "Takeout/Timeline.json": json.dumps(timeline_file),
        },
    )
    job = import_files(timeline, [path])

    assert job.status != "failed", job.error_message
    places = {item.data["place_name"] or item.data["provider_place_id"] for item in items(timeline)}
    assert "Marienplatz" in places
    assert "ChIJandroidPlace" in places
    assert job.status == "partial"
    zip_name = "takeout-20240101T000000Z-001.zip"
    assert [e["external_id"] for e in job.item_errors] == [
        f"{zip_name}: Takeout/Location History/2022_JANUARY.json#1",
        f"{zip_name}: Takeout/Location History/2022_JANUARY.json#2",
        f"{zip_name}: Takeout/Timeline.json#1",
    ]
    assert job.item_errors[0]["error"] == (
        f"{zip_name}: Takeout/Location History/2022_JANUARY.json record 1: skipped, "
        "its fields are not shaped as Google writes them."
    )
