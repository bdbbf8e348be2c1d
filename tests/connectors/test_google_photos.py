"""Google Photos end to end: connected through the real OAuth flow; picked items imported through
the Picker API contract fake (tests/fakes/google_photos.py); the whole library from a Google
Takeout archive (sidecars in tests/data/takeout/) by `manage.py import_google_takeout`."""

import datetime
import hashlib
import io
import json
import struct
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from connectors.google import takeout
from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, SyncedItem
from integrations.sync.jobs import cancel
from tests.connectors.helpers import DATA, live_items, sync
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
SIDECARS = DATA / "takeout"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def integration(owner_client, oauth_server, google_photos_api):
    integration = connect_with_oauth(owner_client, oauth_server, "google-photos", google_photos_api)
    return integration


def _pick(owner_client, integration, photos_api, items):
    """The user presses "Start picking", then picks `items` in Google Photos while the hub polls."""
    response = owner_client.post(reverse("oauth:photos_pick", args=[integration.pk]))
    assert response.status_code == 200, response.content[:300]
    session_id = next(iter(photos_api.sessions))
    photos_api.will_pick(session_id, items)
    photos_api.picks_after = 2
    return response, session_id


def test_the_type_is_available_does_not_schedule_and_identifies_the_account(integration):
    itype = IntegrationType.objects.get(slug="google-photos")
    assert itype.is_available
    assert not itype.supports_scheduling
    assert registry.get(itype.handler).__name__ == "GooglePhotosConnector"
    assert integration.account_identity == "alice@example.com"
    assert integration.sync_jobs.count() == 0  # nothing to sync until the user picks


def test_picked_items_are_polled_listed_downloaded_and_stored_once(owner_client, integration, google_photos_api):
    api = google_photos_api
    api.max_page = 1
    beach = api.item("beach.jpg", JPEG + b"beach", created="2025-07-14T16:20:00Z", size=(6000, 4000))
    clip = api.item("clip.mp4", b"\x00\x00\x00\x18ftypmp42", kind="VIDEO", camera=("Google", "Pixel 8"))
    page, session_id = _pick(owner_client, integration, api, [beach, clip])
    api.fail(r"^/v1/mediaItems$", *api.rate_limited(retry_after=1))
    assert b"/autoclose" in page.content
    assert 'target="_blank"' in page.content.decode()

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.options == {"picker_session": session_id}
    photo = live_items(integration).get(external_id=beach["id"])
    assert photo.kind == "photo"
    assert photo.title == "beach.jpg"
    assert photo.occurred_at == datetime.datetime(2025, 7, 14, 16, 20, tzinfo=datetime.UTC)
    assert (photo.data["width"], photo.data["height"]) == (6000, 4000)
    assert (photo.data["camera_make"], photo.data["camera_model"]) == ("Canon", "EOS R6")
    assert photo.data["sha256"] == hashlib.sha256(JPEG + b"beach").hexdigest()
    with default_storage.open(photo.data["file"]) as stored:
        assert stored.read() == JPEG + b"beach"
    assert live_items(integration).get(external_id=clip["id"]).kind == "video"
    downloads = api.requests_to(r"^/media/")
    assert sorted(r.path.rsplit("=", 1)[1] for r in downloads) == ["d", "dv"]
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in downloads)
    assert len(api.requests_to(r"^/v1/sessions/session-")) >= 3  # polled until picked
    assert session_id not in api.sessions  # deleted once imported
    assert len(api.requests_to(r"^/v1/mediaItems$")) == 3  # one 429, then one item per page


def test_picking_the_same_photo_again_or_the_same_bytes_under_another_id_adds_nothing(
    owner_client, integration, google_photos_api
):
    api = google_photos_api
    beach = api.item("beach.jpg", JPEG + b"beach")
    _pick(owner_client, integration, api, [beach])
    sync(integration)

    twin = api.item("beach (copy).jpg", JPEG + b"beach")  # another id, same bytes
    _pick(owner_client, integration, api, [beach, twin])
    api.downloads.clear()
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert api.downloads == [twin["id"]]  # the known id is not even downloaded again
    assert SyncedItem.objects.filter(integration=integration).count() == 1


def test_a_pick_never_finished_ends_with_what_to_do(owner_client, integration, google_photos_api, settings):
    settings.GOOGLE_PHOTOS_PICKER_MAX_WAIT = 0.3
    _pick(owner_client, integration, google_photos_api, [])
    google_photos_api.picks_after = 0  # the user never presses Done
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "Nothing was picked" in job.error_message
    assert "Start a new pick" in job.remediation


# -- Google Takeout ---------------------------------------------------------------------------------


def _takeout(tmp_path) -> list[str]:
    """A two-part export with the awkward cases Takeout produces."""
    root = "Takeout/Google Photos/"
    long = "A_very_long_filename_from_a_phone_camera_2021.jpg"
    part1 = tmp_path / "takeout-20250101T000000Z-001.zip"
    with zipfile.ZipFile(part1, "w") as z:
        z.writestr(root + "Photos from 2021/IMG_0001.jpg", JPEG + b"eiffel")
        z.write(SIDECARS / "IMG_0001.jpg.json", root + "Photos from 2021/IMG_0001.jpg.json")
        z.writestr(root + "Trip to Paris/IMG_0001.jpg", JPEG + b"eiffel")  # the same photo in an album
        z.write(SIDECARS / "IMG_0001.jpg.json", root + "Trip to Paris/IMG_0001.jpg.json")
        z.write(SIDECARS / "metadata.json", root + "Trip to Paris/metadata.json")
        z.writestr(root + "Photos from 2021/IMG_0002.jpg", JPEG + b"second")
        z.write(
            SIDECARS / "IMG_0002.jpg.supplemental-metadata.json",
            root + "Photos from 2021/IMG_0002.jpg.supplemental-metadata.json",
        )
        z.writestr(root + f"Photos from 2021/{long}", JPEG + b"long")
        z.write(
            SIDECARS / "A_very_long_filename_from_a_phone_camera_2021..json",
            root + "Photos from 2021/A_very_long_filename_from_a_phone_camera_2021..json",
        )
        z.writestr(root + "Photos from 2021/IMG_0003(1).jpg", JPEG + b"dup-one")
        z.write(SIDECARS / "IMG_0003.jpg(1).json", root + "Photos from 2021/IMG_0003.jpg(1).json")
        z.writestr(root + "Photos from 2021/IMG_0004.jpg", JPEG + b"orig")
        z.writestr(root + "Photos from 2021/IMG_0004-edited.jpg", JPEG + b"edited")
        z.write(SIDECARS / "IMG_0004.jpg.json", root + "Photos from 2021/IMG_0004.jpg.json")
        z.writestr(
            zipfile.ZipInfo(root + "Photos from 2021/Screenshot.png", (2021, 6, 9, 8, 30, 0)), b"\x89PNG nosidecar"
        )
        z.writestr(root + "Photos from 2021/broken.jpg", JPEG + b"broken sidecar")
        z.write(SIDECARS / "broken.jpg.json", root + "Photos from 2021/broken.jpg.json")
        z.writestr("Takeout/archive_browser.html", "<html></html>")
    part2 = tmp_path / "takeout-20250101T000000Z-002.zip"
    with zipfile.ZipFile(part2, "w") as z:
        z.writestr(root + "Photos from 2021/VID_0001.mp4", b"\x00\x00\x00\x18ftypmp42video")
        z.write(
            SIDECARS / "VID_0001.mp4.supplemental-metadata.json",
            root + "Photos from 2021/VID_0001.mp4.supplemental-metadata.json",
        )
    return [str(part1), str(part2)]


def _import_takeout(integration, paths) -> str:
    out = io.StringIO()
    call_command("import_google_takeout", str(integration.pk), *paths, stdout=out)
    return out.getvalue()


def test_a_takeout_export_is_imported_with_its_sidecars_and_without_duplicates(integration, tmp_path):
    paths = _takeout(tmp_path)
    output = _import_takeout(integration, paths)

    assert "succeeded" in output
    items = {i.title: i for i in live_items(integration)}
    assert len(items) == 9  # ten media files, one the same photo in two folders
    eiffel = items["IMG_0001.jpg"]
    assert eiffel.occurred_at == datetime.datetime(2021, 6, 1, 12, 0, tzinfo=datetime.UTC)
    assert eiffel.data["geo"] == {"latitude": 48.8584, "longitude": 2.2945, "altitude": 35.0}
    assert eiffel.data["people"] == ["Alice", "Bob"]
    assert eiffel.summary == "Eiffel tower at noon"
    assert items["IMG_0002.jpg"].data["geo"] is None  # 0.0, 0.0 means no location
    assert items["IMG_0002.jpg"].data["favorited"] is True
    assert items["A_very_long_filename_from_a_phone_camera_2021.jpg"].data["sidecar"].endswith("2021..json")
    assert items["IMG_0003(1).jpg"].data["sidecar"].endswith("IMG_0003.jpg(1).json")
    assert items["IMG_0004-edited.jpg"].data["sidecar"].endswith("IMG_0004.jpg.json")  # shares the original's
    screenshot = items["Screenshot.png"]
    assert screenshot.data["time_source"] == "archive"
    assert screenshot.occurred_at == datetime.datetime(2021, 6, 9, 8, 30, tzinfo=datetime.UTC)
    assert items["broken.jpg"].data["sidecar"] is None  # unreadable sidecar: imported without it
    assert items["broken.jpg"].data["sidecar_unreadable"].endswith("broken.jpg.json")
    video = items["VID_0001.mp4"]
    assert video.kind == "video"
    assert video.data["archive"] == "takeout-20250101T000000Z-002.zip"
    assert video.data["extra"] == {"newFieldFromGoogle": "kept"}
    with default_storage.open(eiffel.data["file"]) as stored:
        assert stored.read() == JPEG + b"eiffel"

    job = integration.sync_jobs.first()
    assert job.kind == "backfill"
    assert job.unmapped_fields == ["newFieldFromGoogle"]

    _import_takeout(integration, paths)  # again: nothing new
    assert integration.sync_jobs.first().created == 0
    assert SyncedItem.objects.filter(integration=integration).count() == 9


def test_a_zip_time_is_read_in_the_persons_zone_and_a_sidecar_timestamp_is_not(integration, tmp_path):
    from integrations.timezones import set_zone

    set_zone(integration.user, "Europe/Berlin")
    _import_takeout(integration, _takeout(tmp_path))

    items = {i.title: i for i in live_items(integration)}
    # 08:30 on the exporting machine's clock, in June in Berlin (UTC+2)
    assert items["Screenshot.png"].occurred_at == datetime.datetime(2021, 6, 9, 6, 30, tzinfo=datetime.UTC)
    # photoTakenTime is a Unix timestamp: the same instant wherever the person lives
    assert items["IMG_0001.jpg"].occurred_at == datetime.datetime(2021, 6, 1, 12, 0, tzinfo=datetime.UTC)


def test_a_photo_picked_before_is_not_duplicated_by_the_takeout(owner_client, integration, google_photos_api, tmp_path):
    api = google_photos_api
    _pick(owner_client, integration, api, [api.item("IMG_0002.jpg", JPEG + b"second")])
    sync(integration)

    _import_takeout(integration, _takeout(tmp_path))

    assert (
        SyncedItem.objects.filter(
            integration=integration, data__sha256=hashlib.sha256(JPEG + b"second").hexdigest()
        ).count()
        == 1
    )
    assert live_items(integration).count() == 9


def test_a_file_that_is_not_a_zip_is_refused_before_anything_runs(integration, tmp_path):
    bogus = tmp_path / "takeout.tgz"
    bogus.write_bytes(b"\x1f\x8b not a zip")
    with pytest.raises(CommandError, match="not a zip archive"):
        _import_takeout(integration, [str(bogus)])
    assert not integration.sync_jobs.exists()


def test_importing_into_another_type_is_refused(owner, integration, tmp_path):
    from tests.factories import make_integration

    other = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    with pytest.raises(CommandError, match="not a Google Takeout archive"):
        _import_takeout(other, _takeout(tmp_path))
    for job in integration.sync_jobs.filter(status="queued"):
        cancel(job)


# -- the same photo through the Picker and a Takeout, with different bytes -------------------------

TAKEN = "2021-06-02T12:00:00Z"  # IMG_0002's photoTakenTime in tests/data/takeout


def _jpeg(width: int, height: int, payload: bytes) -> bytes:
    """A JPEG header as cameras write it: APP0, then the frame header (SOF0) with the dimensions."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + payload


def _one_photo_takeout(tmp_path, content: bytes) -> list[str]:
    path = tmp_path / "takeout-20250301T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Takeout/Google Photos/Photos from 2021/IMG_0002.jpg", content)
        z.write(
            SIDECARS / "IMG_0002.jpg.supplemental-metadata.json",
            "Takeout/Google Photos/Photos from 2021/IMG_0002.jpg.supplemental-metadata.json",
        )
    return [str(path)]


def test_a_picked_photo_and_its_takeout_original_with_other_bytes_are_one_record(
    owner_client, integration, google_photos_api, tmp_path
):
    api = google_photos_api
    # Google re-encodes the Picker download ("=d", location stripped): other bytes than the original.
    picked = api.item("IMG_0002.jpg", JPEG + b"re-encoded by Google", created=TAKEN)
    _pick(owner_client, integration, api, [picked])
    sync(integration)

    _import_takeout(integration, _takeout(tmp_path))

    same = [i for i in live_items(integration) if i.data["filename"] == "IMG_0002.jpg"]
    assert len(same) == 1
    assert same[0].data["source"] == "picker"  # the first import stays
    assert live_items(integration).count() == 9  # the Takeout's ten files, one the same photo twice


def test_a_takeout_photo_picked_later_is_neither_downloaded_nor_stored_again(
    owner_client, integration, google_photos_api, tmp_path
):
    api = google_photos_api
    _import_takeout(integration, _one_photo_takeout(tmp_path, _jpeg(4000, 3000, b"original with GPS")))
    original = live_items(integration).get()
    assert (original.data["width"], original.data["height"]) == (4000, 3000)  # read from the JPEG header

    picked = api.item("img_0002.JPG", _jpeg(4000, 3000, b"re-encoded"), created="2021-06-02T12:00:00.250Z")
    _pick(owner_client, integration, api, [picked])
    api.downloads.clear()
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert api.downloads == []
    assert list(live_items(integration)) == [original]


def test_same_name_and_time_but_other_dimensions_are_two_photos(owner_client, integration, google_photos_api, tmp_path):
    api = google_photos_api
    _import_takeout(integration, _one_photo_takeout(tmp_path, _jpeg(4000, 3000, b"a photo")))

    other = api.item("IMG_0002.jpg", _jpeg(1200, 1600, b"another photo"), created=TAKEN, size=(1200, 1600))
    _pick(owner_client, integration, api, [other])
    sync(integration)

    assert sorted(i.data["source"] for i in live_items(integration)) == ["picker", "takeout"]


def _takeout_with_location(tmp_path, content: bytes, geo: dict) -> list[str]:
    sidecar = json.loads((SIDECARS / "IMG_0002.jpg.supplemental-metadata.json").read_text())
    sidecar["geoData"] = {**sidecar["geoData"], **geo}
    path = tmp_path / "takeout-20250401T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Takeout/Google Photos/Photos from 2021/IMG_0002.jpg", content)
        z.writestr(
            "Takeout/Google Photos/Photos from 2021/IMG_0002.jpg.supplemental-metadata.json", json.dumps(sidecar)
        )
    return [str(path)]


def test_a_takeout_original_adds_its_location_to_the_photo_picked_before(
    owner_client, integration, google_photos_api, tmp_path
):
    """Google strips the location from Picker downloads; the Takeout original of the same photo
    (other bytes, same name, time and dimensions) has it: the picked record gains it, and the
    photo is still one record, with the Picker's file."""
    api = google_photos_api
    picked = api.item("IMG_0002.jpg", _jpeg(4000, 3000, b"re-encoded, no GPS"), created=TAKEN)
    _pick(owner_client, integration, api, [picked])
    sync(integration)
    before = live_items(integration).get()
    assert "geo" not in before.data

    paths = _takeout_with_location(
        tmp_path, _jpeg(4000, 3000, b"original with GPS"), {"latitude": 48.8584, "longitude": 2.2945, "altitude": 35.0}
    )
    _import_takeout(integration, paths)

    after = live_items(integration).get()
    assert after.pk == before.pk
    assert after.external_id == picked["id"]
    assert after.data["source"] == "picker"
    assert after.data["geo"] == {"latitude": 48.8584, "longitude": 2.2945, "altitude": 35.0}
    assert after.data["location_from"] == {
        "source": "takeout",
        "archive": "takeout-20250401T000000Z-001.zip",
        "member": "Takeout/Google Photos/Photos from 2021/IMG_0002.jpg",
    }
    assert (after.data["file"], after.data["camera_make"]) == (before.data["file"], "Canon")  # the Picker's side kept
    assert "baseUrl" not in json.dumps(after.data)

    _import_takeout(integration, paths)  # again: nothing new, nothing lost
    again = live_items(integration).get()
    assert again.data["geo"] == after.data["geo"]


def test_a_takeout_original_without_location_leaves_the_picked_photo_as_it_was(
    owner_client, integration, google_photos_api, tmp_path
):
    api = google_photos_api
    picked = api.item("IMG_0002.jpg", _jpeg(4000, 3000, b"re-encoded"), created=TAKEN)
    _pick(owner_client, integration, api, [picked])
    sync(integration)
    before = live_items(integration).get()

    _import_takeout(integration, _one_photo_takeout(tmp_path, _jpeg(4000, 3000, b"original")))  # geo 0,0

    after = live_items(integration).get()
    assert after.data == before.data


# -- what real exports hold ------------------------------------------------------------------------


def test_a_member_with_a_zeroed_zip_time_is_imported_without_a_time_and_the_rest_too(integration, tmp_path):
    """Zips rebuilt by some tools carry a DOS date of 0 (month 0, day 0): no time, not a failed import."""
    root = "Takeout/Google Photos/Photos from 2021/"
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo(root + "Screenshot.png", (1980, 0, 0, 0, 0, 0)), b"\x89PNG no sidecar")
        z.writestr(root + "IMG_0002.jpg", JPEG + b"second")
        z.write(SIDECARS / "IMG_0002.jpg.supplemental-metadata.json", root + "IMG_0002.jpg.supplemental-metadata.json")

    assert "succeeded" in _import_takeout(integration, [str(path)])

    items = {i.title: i for i in live_items(integration)}
    assert set(items) == {"Screenshot.png", "IMG_0002.jpg"}
    assert items["Screenshot.png"].occurred_at is None
    assert items["Screenshot.png"].data["time_source"] is None
    assert items["IMG_0002.jpg"].occurred_at == datetime.datetime(2021, 6, 2, 12, 0, tzinfo=datetime.UTC)


def test_sidecar_times_of_the_wrong_shape_or_out_of_range_are_no_time_not_a_failed_import(integration, tmp_path):
    """A sidecar edited by hand or written by another tool: its photo is imported without the time
    it cannot give (the zip's time stands in), and the other photos are imported."""
    root = "Takeout/Google Photos/Photos from 2021/"
    sidecars = {
        "flat.jpg": {"title": "flat.jpg", "photoTakenTime": "1622635200"},
        "far.jpg": {"title": "far.jpg", "photoTakenTime": {"timestamp": "99999999999999"}},
        "listed.jpg": {"title": ["listed.jpg"], "photoTakenTime": [1622635200], "creationTime": 5},
    }
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, sidecar in sidecars.items():
            z.writestr(zipfile.ZipInfo(root + name, (2021, 6, 9, 8, 30, 0)), JPEG + name.encode())
            z.writestr(root + name + ".json", json.dumps(sidecar))
        z.writestr(root + "IMG_0002.jpg", JPEG + b"second")
        z.write(SIDECARS / "IMG_0002.jpg.supplemental-metadata.json", root + "IMG_0002.jpg.supplemental-metadata.json")

    assert "succeeded" in _import_takeout(integration, [str(path)])

    items = {i.title: i for i in live_items(integration)}
    assert set(items) == {*sidecars, "IMG_0002.jpg"}
    for name in sidecars:
        assert items[name].data["time_source"] == "archive"
        assert items[name].occurred_at == datetime.datetime(2021, 6, 9, 8, 30, tzinfo=datetime.UTC)
    assert items["IMG_0002.jpg"].occurred_at == datetime.datetime(2021, 6, 2, 12, 0, tzinfo=datetime.UTC)


def test_an_empty_file_in_a_takeout_is_named_in_the_errors_not_imported_as_a_photo(integration, tmp_path):
    root = "Takeout/Google Photos/Photos from 2021/"
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(root + "IMG_0009.jpg", b"")  # an upload Google never finished
        z.writestr(root + "IMG_0002.jpg", JPEG + b"second")
        z.write(SIDECARS / "IMG_0002.jpg.supplemental-metadata.json", root + "IMG_0002.jpg.supplemental-metadata.json")

    assert "partial" in _import_takeout(integration, [str(path)])

    assert [i.title for i in live_items(integration)] == ["IMG_0002.jpg"]
    job = integration.sync_jobs.first()
    assert [e["external_id"] for e in job.item_errors] == [root + "IMG_0009.jpg"]
    assert "IMG_0009.jpg is empty (0 bytes)" in job.item_errors[0]["error"]


@pytest.mark.parametrize(
    "geo",
    [{"latitude": 95.0, "longitude": 200.0}, {"latitude": "48.85", "longitude": "east"}, {"latitude": None}],
)
def test_a_sidecar_location_off_the_globe_or_not_numbers_is_no_location(integration, tmp_path, geo):
    paths = _takeout_with_location(tmp_path, _jpeg(4000, 3000, b"original"), geo)
    _import_takeout(integration, paths)
    assert live_items(integration).get().data["geo"] is None


def test_a_sidecar_taken_time_of_zero_is_no_time_not_1970(integration, tmp_path):
    root = "Takeout/Google Photos/Photos from 2021/"
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    sidecar = {"title": "scan.jpg", "photoTakenTime": {"timestamp": "0"}, "creationTime": {"timestamp": "1622721600"}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(root + "scan.jpg", JPEG + b"scan")
        z.writestr(root + "scan.jpg.json", json.dumps(sidecar))
    _import_takeout(integration, [str(path)])
    assert live_items(integration).get().occurred_at == datetime.datetime(2021, 6, 3, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    "edited",
    ["IMG_0004-edited.jpg", "IMG_0004-bewerkt.jpg", "IMG_0004-edytowane.jpg", "IMG_0004-modificato.jpg",
     "IMG_0004-ha editado.jpg", "IMG_0004-editat.jpg", "IMG_0004-編集済み.jpg", "IMG_0004-编辑.jpg"],
)  # fmt: skip
def test_an_edited_copy_named_in_the_accounts_language_shares_its_originals_sidecar(edited):
    """Takeout names an edited copy in the Google account's language (the list GooglePhotosTakeoutHelper
    keeps from its users' reports); without its original's sidecar it would take the export's time."""
    folder = "Takeout/Google Photos/Photos from 2021/"
    assert folder + "IMG_0004.jpg.json" in takeout.sidecar_candidates(folder + edited)
    assert takeout.display_name(folder + edited, {"title": "IMG_0004.jpg"}) == edited


def test_a_file_without_a_sidecar_takes_its_time_from_its_own_headers_not_the_export(integration, tmp_path):
    """Takeout writes no sidecar for the video of a Live Photo, and sidecars go missing; the zip's
    time is when the export was made. The file's own capture time comes first."""
    from tests.connectors.test_apple_photos import exif_tiff, jpeg, movie

    root = "Takeout/Google Photos/Photos from 2020/"
    exported = (2025, 5, 1, 9, 0, 0)
    shot = exif_tiff([], [(0x9003, 2, "2020:02:02 09:00:00"), (0x9011, 2, "+01:00")])
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo(root + "IMG_1235.JPG", exported), jpeg(40, 30, shot))
        z.writestr(
            zipfile.ZipInfo(root + "IMG_1234.MP4", exported),
            movie(1920, 1080, datetime.datetime(2020, 2, 2, 8, 0, 2, tzinfo=datetime.UTC)),
        )
        z.writestr(zipfile.ZipInfo(root + "Screenshot.png", exported), b"\x89PNG no time inside")

    _import_takeout(integration, [str(path)])

    items = {i.title: i for i in live_items(integration)}
    assert items["IMG_1235.JPG"].occurred_at == datetime.datetime(2020, 2, 2, 8, 0, tzinfo=datetime.UTC)
    assert items["IMG_1234.MP4"].occurred_at == datetime.datetime(2020, 2, 2, 8, 0, 2, tzinfo=datetime.UTC)
    assert items["IMG_1234.MP4"].data["time_source"] == "file"
    assert items["Screenshot.png"].data["time_source"] == "archive"


def test_a_text_file_named_like_a_photo_in_a_takeout_is_named_in_the_errors(integration, tmp_path):
    root = "Takeout/Google Photos/Photos from 2021/"
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(root + "IMG_0009.jpg", "<html><body>Quota exceeded</body></html>")
        z.writestr(root + "IMG_0002.jpg", JPEG + b"second")
    assert "partial" in _import_takeout(integration, [str(path)])
    assert [i.title for i in live_items(integration)] == ["IMG_0002.jpg"]
    [error] = integration.sync_jobs.first().item_errors
    assert error["external_id"] == root + "IMG_0009.jpg"
    assert "is not a photo or video: it is text (an HTML page" in error["error"]


def test_photos_the_person_deleted_are_not_imported_from_the_takeouts_bin(integration, tmp_path):
    """Takeout exports the bin too ("Bin"/"Trash", sidecars with "trashed": true): what the person
    deleted in Google Photos does not come back on their timeline."""
    sidecar = json.loads((SIDECARS / "IMG_0002.jpg.supplemental-metadata.json").read_text())
    path = tmp_path / "takeout-20250501T000000Z-001.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Takeout/Google Photos/Bin/IMG_0009.jpg", JPEG + b"deleted")
        z.writestr(
            "Takeout/Google Photos/Bin/IMG_0009.jpg.supplemental-metadata.json",
            json.dumps({**sidecar, "title": "IMG_0009.jpg", "trashed": True}),
        )
        z.writestr("Takeout/Google Photos/Photos from 2021/IMG_0002.jpg", JPEG + b"second")
        z.writestr(
            "Takeout/Google Photos/Photos from 2021/IMG_0002.jpg.supplemental-metadata.json", json.dumps(sidecar)
        )
    assert "succeeded" in _import_takeout(integration, [str(path)])
    assert [i.title for i in live_items(integration)] == ["IMG_0002.jpg"]


def test_a_takeout_zip_of_more_files_than_the_limit_is_refused_before_its_directory_is_read(tmp_path, settings):
    from connectors.errors import ConfigError
    from connectors.google import takeout

    settings.ARCHIVE_MAX_ENTRIES = 10
    path = tmp_path / "takeout-001.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(20):
            archive.writestr(f"Takeout/Google Photos/Album/IMG_{n}.jpg", b"\xff\xd8\xff")
    with pytest.raises(ConfigError, match=r"takeout-001.zip holds 20 files, more than the import limit \(10\)"):
        takeout.describe([str(path)])


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("rateLimitExceeded", "PERMISSION_DENIED"),
        ("dailyLimitExceeded", "PERMISSION_DENIED"),
        ("RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"),
    ],
)
def test_a_quota_403_from_the_picker_waits_instead_of_asking_to_sign_in_again(
    owner_client, integration, google_photos_api, settings, reason, state
):
    """Google answers a used-up quota with 403 (rateLimitExceeded, dailyLimitExceeded,
    RESOURCE_EXHAUSTED): nothing the person can fix by signing in again. The import waits and the
    connection stays connected, as for Google Calendar and Gmail."""
    from integrations.models import Status
    from tests.fakes.oauth_api import google_error

    settings.SYNC_MAX_WAIT = 0  # any wait holds the job instead of a worker
    api = google_photos_api
    beach = api.item("beach.jpg", JPEG + b"beach", created="2025-07-14T16:20:00Z")
    _pick(owner_client, integration, api, [beach])
    body = google_error(403, "Quota exceeded for quota metric 'Requests'", reason, state)
    body["error"]["errors"][0]["domain"] = "usageLimits"
    api.fail(r"^/v1/mediaItems$", 403, body, times=10)

    held = sync(integration)

    integration.refresh_from_db()
    assert integration.status != Status.NEEDS_REAUTH, integration.status_detail
    # A wait within reach is retried (bounded tries); one until Google's new day holds the job.
    assert held.error_class == "rate_limit" or held.status == JobStatus.QUEUED, held.error_message
    assert "re-authenticate" not in (held.remediation or "").lower()
