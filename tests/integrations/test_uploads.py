"""Archive uploads: a file sent in chunks (through the JSON API with a token, and with the session
as the upload page's script does), resumed from the server's offset after a dropped connection,
checked before any job exists, imported as a backfill job of the engine, and tidied afterwards
(deleted after a successful import unless kept, with the integration, with the account)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from integrations import lifecycle
from integrations.models import ApiToken, IntegrationType, JobKind, JobStatus, SyncJob, Upload, UploadStatus
from integrations.tasks import run_archive_import, run_sync
from integrations.uploads import imports, receive, storage
from tests.factories import make_integration

DATA = Path(__file__).resolve().parents[1] / "data"
pytestmark = pytest.mark.usefixtures("catalogue", "media_root")


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def api(owner):
    _token, plain = ApiToken.issue(owner, "tests")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def other_api(other_user):
    _token, plain = ApiToken.issue(other_user, "tests")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def spotify(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")


def spotify_export(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names or ("StreamingHistory_music_0.json", "Streaming_History_Audio_2025_0.json"):
            archive.write(DATA / "spotify" / name, f"Spotify Extended Streaming History/{name}")
    return buffer.getvalue()


def post(client, url, body, **extra):
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


def put_chunk(client, upload: dict, data: bytes, start: int, end: int, **extra):
    return client.put(
        upload["links"]["self"],
        data=data[start:end],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{end - 1}/{len(data)}",
        **extra,
    )


def create(client, data: bytes, *, filename="my_spotify_data.zip", fingerprint="1700000000", **target):
    return post(
        client, "/api/v1/uploads", {"filename": filename, "size": len(data), "fingerprint": fingerprint, **target}
    )


def send(client, data: bytes, *, chunk: int = 700, **create_args) -> dict:
    response = create(client, data, **create_args)
    assert response.status_code in (200, 201), response.json()
    upload = response.json()["upload"]
    offset = upload["offset"]
    while offset < len(data):
        answer = put_chunk(client, upload, data, offset, min(offset + chunk, len(data)))
        assert answer.status_code == 200, answer.json()
        upload = answer.json()["upload"]
        assert int(answer["Upload-Offset"]) == upload["offset"] > offset
        offset = upload["offset"]
    return upload


def start(client, uploads, **body):
    return post(client, "/api/v1/imports", {"uploads": [u["id"] for u in uploads], **body})


def upload_folder(upload: dict) -> Path:
    return storage.folder(Upload.objects.get(pk=upload["id"]))


# -- chunks, offsets, hashing -------------------------------------------------------------------


def test_an_export_sent_in_chunks_over_the_api_is_hashed_and_recognised(api, spotify):
    data = spotify_export()
    upload = send(api, data, chunk=500, integration=spotify.pk)
    assert len(data) > 1500  # several chunks really went
    assert upload["status"] == "complete"
    assert upload["offset"] == upload["size"] == len(data)
    assert upload["sha256"] == hashlib.sha256(data).hexdigest()
    assert upload["detail"] == "Spotify streaming history: 2 files"
    stored = upload_folder(upload) / "my_spotify_data.zip"
    assert stored.read_bytes() == data
    # HEAD tells the offset without a body, for a client that only wants to resume
    head = api.head(upload["links"]["self"])
    assert head.status_code == 200
    assert head["Upload-Offset"] == str(len(data))


def test_an_interrupted_upload_resumes_from_the_server_offset(api, spotify):
    data = spotify_export()
    first = create(api, data, integration=spotify.pk)
    assert first.status_code == 201
    upload = first.json()["upload"]
    assert put_chunk(api, upload, data, 0, 600).status_code == 200
    stored = Upload.objects.get(pk=upload["id"])
    # the connection drops in the middle of the next chunk: what arrived is not kept
    with pytest.raises(receive.UploadProblem, match="connection dropped"):
        receive.receive_chunk(stored, start=600, length=600, stream=io.BytesIO(data[600:900]))
    stored.refresh_from_db()
    assert stored.offset == 600
    assert (storage.path_of(stored)).stat().st_size == 600
    # a client sending from the wrong place is told the server's offset
    wrong = put_chunk(api, upload, data, 900, 1200)
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "offset_mismatch"
    assert wrong["Upload-Offset"] == "600"
    # a reloaded page announces the same file again and gets the unfinished upload back
    again = create(api, data, integration=spotify.pk)
    assert again.status_code == 200
    assert again.json()["resumed"] is True
    assert again.json()["upload"]["id"] == upload["id"]
    assert again.json()["upload"]["offset"] == 600
    # the rest arrives in another web process, which never hashed the first 600 bytes
    receive.HASHERS.forget(stored.pk)
    finished = send(api, data, integration=spotify.pk)
    assert finished["id"] == upload["id"]
    assert finished["sha256"] == hashlib.sha256(data).hexdigest()
    assert (upload_folder(finished) / "my_spotify_data.zip").read_bytes() == data


def test_a_chunk_sent_twice_is_refused_with_the_offset_and_changes_nothing(api, spotify):
    data = spotify_export()
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    assert put_chunk(api, upload, data, 0, 800).status_code == 200
    repeated = put_chunk(api, upload, data, 0, 800)
    assert repeated.status_code == 409
    assert repeated["Upload-Offset"] == "800"
    assert Upload.objects.get(pk=upload["id"]).offset == 800


# -- limits ------------------------------------------------------------------------------------


def test_a_file_over_the_size_cap_is_refused_before_any_byte(api, spotify, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    response = create(api, b"x" * 1001, integration=spotify.pk)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"  # a code a client can act on, not the generic "error"
    assert "accepts files up to" in error["message"]
    assert "UPLOAD_MAX_BYTES" in error["remediation"]
    assert not Upload.objects.exists()


def test_a_chunk_over_the_chunk_cap_is_refused(api, spotify, settings):
    settings.UPLOAD_CHUNK_MAX_BYTES = 512
    data = spotify_export()
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    response = put_chunk(api, upload, data, 0, 513)
    assert response.status_code == 413
    assert Upload.objects.get(pk=upload["id"]).offset == 0


def test_unfinished_uploads_per_person_are_capped(api, spotify, settings):
    settings.UPLOAD_MAX_CONCURRENT = 2
    for number in range(2):
        assert create(api, b"PK" * 100, filename=f"part{number}.zip", integration=spotify.pk).status_code == 201
    third = create(api, b"PK" * 100, filename="part3.zip", integration=spotify.pk)
    assert third.status_code == 409
    assert "unfinished uploads" in third.json()["error"]["message"]


def test_a_file_kind_the_hub_does_not_import_is_refused(api, spotify):
    response = create(api, b"MZ" * 10, filename="setup.exe", integration=spotify.pk)
    assert response.status_code == 400
    assert "not a kind of file the hub imports" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", ["/api/v1/uploads", "/api/v1/imports"])
def test_an_integration_number_too_large_for_an_integer_is_a_404(api, route):
    # JSON's 1e400 is float("inf"), which int() refuses with OverflowError, not ValueError.
    response = api.post(
        route, '{"filename": "a.zip", "size": 10, "uploads": [], "integration": 1e400}', "application/json"
    )
    assert response.status_code == 404, response.content[:300]
    assert response.json()["error"]["message"] == "No such integration."


def test_a_size_too_large_for_an_integer_is_a_400(api, spotify):
    body = f'{{"filename": "a.zip", "size": 1e400, "integration": {spotify.pk}}}'
    response = api.post("/api/v1/uploads", body, "application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["field"] == "size"
    assert not Upload.objects.exists()


@pytest.mark.parametrize("size", ["1.5", "true", '"1.5"', '"12abc"', '"\u00b2"', "[10]", "null", "-3"])
def test_a_size_that_is_not_a_whole_number_of_bytes_is_a_400(api, spotify, size):
    body = f'{{"filename": "a.zip", "size": {size}, "integration": {spotify.pk}}}'
    response = api.post("/api/v1/uploads", body, "application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["field"] == "size"
    assert not Upload.objects.exists()


@pytest.mark.parametrize("size", ["10", '"10"', "10.0"])
def test_a_size_in_whole_bytes_is_taken_as_sent(api, spotify, size):
    body = f'{{"filename": "a.zip", "size": {size}, "integration": {spotify.pk}}}'
    response = api.post("/api/v1/uploads", body, "application/json")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["upload"]["size"] == 10


def test_an_upload_offset_of_other_digits_is_a_400(api, spotify):
    data = spotify_export()
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    # "²" is a digit to str.isdigit() but not to int(); it arrives as the Latin-1 byte 0xB2.
    response = api.put(
        upload["links"]["self"], data=data[:10], content_type="application/octet-stream", HTTP_UPLOAD_OFFSET="²"
    )
    assert response.status_code == 400, response.content[:300]
    assert "Content-Range" in response.json()["error"]["message"]
    assert Upload.objects.get(pk=upload["id"]).offset == 0


# -- the wrong export ----------------------------------------------------------------------------


def test_a_file_that_does_not_start_like_its_kind_is_refused_at_the_first_chunk(api, spotify):
    data = b"This is a text file, not a zip at all." * 50
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    response = put_chunk(api, upload, data, 0, 500)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "wrong_export"
    assert "does not start like a zip archive" in response.json()["error"]["message"]
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.REJECTED
    assert not storage.folder(stored).exists()


def test_the_wrong_export_is_refused_before_any_job(api, spotify):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Takeout/Google Photos/IMG_0001.jpg.json", "{}")
    upload = send(api, buffer.getvalue(), filename="takeout-001.zip", integration=spotify.pk)
    assert upload["status"] == "rejected"
    assert "No streaming history was found" in upload["detail"]
    assert not upload_folder(upload).exists()
    response = start(api, [upload], integration=spotify.pk)
    assert response.status_code == 409
    assert not SyncJob.objects.filter(integration=spotify, kind=JobKind.BACKFILL).exists()


def test_a_json_file_that_is_not_a_streaming_history_is_refused(api, spotify):
    data = json.dumps([{"title": "a note", "body": "not a play"}]).encode()
    upload = send(api, data, filename="StreamingHistory_music_9.json", integration=spotify.pk)
    assert upload["status"] == "rejected"
    assert "is not a Spotify streaming history file" in upload["detail"]


# -- the import ------------------------------------------------------------------------------------


def test_the_import_is_a_backfill_job_and_the_archive_is_deleted_after_it(api, spotify):
    upload = send(api, spotify_export(), integration=spotify.pk)
    response = start(api, [upload], integration=spotify.pk)
    assert response.status_code == 202
    job = SyncJob.objects.get(pk=response.json()["job"]["id"])
    path = upload_folder(upload) / "my_spotify_data.zip"
    assert job.kind == JobKind.BACKFILL
    assert job.options == {"archive_paths": [str(path)]}
    assert Upload.objects.get(pk=upload["id"]).status == UploadStatus.IMPORTING

    result = run_archive_import(job.pk)

    job.refresh_from_db()
    # the export holds one unreadable entry (tests/data/spotify): reported, the rest imported
    assert job.status == JobStatus.PARTIAL
    assert job.failed == 1
    assert result["uploads_settled"] == 1
    plays = spotify.items.filter(kind="play").count()
    assert plays > 0
    assert job.created == plays
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.IMPORTED
    assert not path.exists()
    assert not storage.folder(stored).exists()

    # the same export again adds nothing twice
    second = send(api, spotify_export(), integration=spotify.pk)
    again = SyncJob.objects.get(pk=start(api, [second], integration=spotify.pk).json()["job"]["id"])
    run_archive_import(again.pk)
    again.refresh_from_db()
    assert again.status == JobStatus.PARTIAL
    assert again.created == 0
    assert spotify.items.filter(kind="play").count() == plays


def test_a_kept_archive_stays_after_the_import(api, spotify):
    upload = send(api, spotify_export(), integration=spotify.pk)
    job_id = start(api, [upload], integration=spotify.pk, keep_archive=True).json()["job"]["id"]
    run_archive_import(job_id)
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.IMPORTED
    assert stored.keep_archive
    assert storage.path_of(stored).read_bytes() == spotify_export()


def test_a_kept_archive_is_in_the_data_export(api, spotify, owner):
    import io
    import zipfile

    from timeline.models import DataExport
    from timeline.tasks import build_export

    upload = send(api, spotify_export(), integration=spotify.pk)
    run_archive_import(start(api, [upload], integration=spotify.pk, keep_archive=True).json()["job"]["id"])
    export = DataExport.objects.create(user=owner)
    assert build_export(export.pk) == "ready"
    export.refresh_from_db()
    from django.core.files.storage import default_storage

    with default_storage.open(export.file, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    kept = [name for name in archive.namelist() if name.startswith("archives/")]
    assert len(kept) == 1
    assert kept[0].endswith("my_spotify_data.zip")
    assert archive.read(kept[0]) == spotify_export()


def test_a_failed_import_keeps_the_files_so_it_can_be_started_again(api, spotify):
    cut = b'[{"endTime": "2025-05-01 12:00", "artistName": "A", "trac'
    upload = send(api, cut, filename="StreamingHistory_music_1.json", integration=spotify.pk)
    assert upload["status"] == "complete"  # its first bytes are those of a history file
    job_id = start(api, [upload], integration=spotify.pk).json()["job"]["id"]
    run_archive_import(job_id)
    assert SyncJob.objects.get(pk=job_id).status == JobStatus.FAILED
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.COMPLETE
    assert "could not be read as JSON" in stored.detail
    assert storage.path_of(stored).exists()


def test_an_import_finished_by_a_plain_sync_task_is_settled_by_the_sweep(api, spotify):
    upload = send(api, spotify_export(), integration=spotify.pk)
    job_id = start(api, [upload], integration=spotify.pk).json()["job"]["id"]
    run_sync(job_id)  # e.g. a stale job re-queued by sync_due, which knows nothing of uploads
    assert Upload.objects.get(pk=upload["id"]).status == UploadStatus.IMPORTING
    assert imports.sweep()["settled"] == 1
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.IMPORTED
    assert not storage.folder(stored).exists()


def test_stale_unfinished_uploads_expire_and_their_bytes_go(api, spotify):
    data = spotify_export()
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    put_chunk(api, upload, data, 0, 500)
    assert imports.sweep()["expired"] == 0
    Upload.objects.filter(pk=upload["id"]).update(expires_at="2000-01-01T00:00:00Z")
    assert imports.sweep()["expired"] == 1
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.EXPIRED
    assert not storage.folder(stored).exists()


def test_a_running_sync_makes_the_import_wait_and_keeps_the_files(api, spotify):
    from integrations.sync.jobs import queue_sync

    queue_sync(spotify, enqueue=False)
    upload = send(api, spotify_export(), integration=spotify.pk)
    response = start(api, [upload], integration=spotify.pk)
    assert response.status_code == 409
    assert "is running now" in response.json()["error"]["message"]
    assert Upload.objects.get(pk=upload["id"]).status == UploadStatus.COMPLETE


# -- permissions and privacy ----------------------------------------------------------------------


def test_another_users_upload_is_a_404_everywhere(api, other_api, spotify, client):
    data = spotify_export()
    upload = send(api, data, integration=spotify.pk)
    url = upload["links"]["self"]
    assert other_api.get(url).status_code == 404
    assert other_api.head(url).status_code == 404
    assert put_chunk(other_api, upload, data, 0, 100).status_code == 404
    assert other_api.delete(url).status_code == 404
    assert start(other_api, [upload], integration=spotify.pk).status_code == 404  # their integration too
    assert create(other_api, data, integration=spotify.pk).status_code == 404
    assert client.get(url).status_code == 401  # anonymous
    assert Upload.objects.get(pk=upload["id"]).status == UploadStatus.COMPLETE


def test_uploaded_files_are_never_reachable_by_a_url(api, spotify, client, settings, media_root):
    upload = send(api, spotify_export(), integration=spotify.pk)
    path = upload_folder(upload) / "my_spotify_data.zip"
    assert path.is_file()
    assert media_root in path.parents
    for static in [settings.STATIC_ROOT, *settings.STATICFILES_DIRS]:
        assert Path(static) not in path.parents
    relative = path.relative_to(media_root).as_posix()
    for prefix in ("/media/", "/static/", "/", f"/{settings.MEDIA_URL.strip('/')}/" if settings.MEDIA_URL else "/m/"):
        assert client.get(prefix + relative).status_code == 404
        assert api.get(prefix + relative).status_code == 404


def test_files_go_with_the_integration_and_with_the_account(api, spotify, owner, django_capture_on_commit_callbacks):
    kept = send(api, spotify_export(), integration=spotify.pk)
    job_id = start(api, [kept], integration=spotify.pk, keep_archive=True).json()["job"]["id"]
    run_archive_import(job_id)
    waiting = send(api, spotify_export(), integration=spotify.pk, fingerprint="2")
    folders = [upload_folder(kept), upload_folder(waiting)]
    assert all(folder.exists() for folder in folders)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the deletion is committed
        lifecycle.delete(spotify, delete_data=True)
    assert not any(folder.exists() for folder in folders)
    assert not Upload.objects.exists()

    other = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="Second")
    send(api, spotify_export(), integration=other.pk)
    photos = Path(storage.user_root(owner.pk)).parents[1] / "google-photos" / str(owner.pk) / "ab"
    photos.mkdir(parents=True)
    (photos / "photo.jpg").write_bytes(b"\xff\xd8 with a location in its EXIF")
    account = owner.pk
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete_account(owner)
    assert not storage.user_root(account).exists()
    assert not photos.parent.exists()


def test_an_upload_removed_while_a_chunk_arrives_is_a_404_and_leaves_no_bytes(
    api, spotify, monkeypatch, django_capture_on_commit_callbacks
):
    data = spotify_export()
    upload = create(api, data, integration=spotify.pk).json()["upload"]
    stored = Upload.objects.get(pk=upload["id"])
    folder = storage.folder(stored)
    write = receive._write

    def removed_meanwhile(upload, start, length, stream):
        # The person removes it (another tab, or the expiry sweep) after this chunk claimed it.
        with django_capture_on_commit_callbacks(execute=True):
            Upload.objects.get(pk=upload.pk).delete()
        return write(upload, start, length, stream)

    monkeypatch.setattr(receive, "_write", removed_meanwhile)
    response = put_chunk(api, upload, data, 0, 600)
    assert response.status_code == 404, response.content[:300]
    assert response.json()["error"]["code"] == "not_found"
    assert not folder.exists()  # the chunk's bytes did not stay behind, with no row to remove them


def test_removing_an_upload_removes_its_bytes(api, spotify, django_capture_on_commit_callbacks):
    upload = send(api, spotify_export(), integration=spotify.pk)
    folder = upload_folder(upload)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(upload["links"]["self"]).status_code == 200
    assert not folder.exists()
    assert not Upload.objects.exists()


def test_a_google_takeout_uploaded_in_two_parts_keeps_its_locations_to_its_owner(api, owner, other_client, tmp_path):
    from tests.connectors.test_google_photos import _takeout

    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="My photos")
    parts = [Path(p) for p in _takeout(tmp_path)]
    uploads = [send(api, part.read_bytes(), chunk=4096, filename=part.name, integration=photos.pk) for part in parts]
    assert [u["detail"] for u in uploads] == [
        "Google Takeout: 9 photos and videos",
        "Google Takeout: 1 photos and videos",
    ]
    job_id = start(api, uploads, integration=photos.pk).json()["job"]["id"]
    run_archive_import(job_id)
    job = SyncJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED
    eiffel = photos.items.get(title="IMG_0001.jpg")
    assert eiffel.data["geo"]["latitude"] == 48.8584
    # only its owner sees it
    assert other_client.get(f"/integrations/{photos.pk}/items/").status_code == 404
    assert "IMG_0001" not in other_client.get("/integrations/items/").content.decode()
    assert other_client.get(f"/api/v1/integrations/{photos.pk}").status_code == 404
    assert all(not upload_folder(u).exists() for u in uploads)


def test_a_zip_without_photos_is_not_a_google_photos_takeout(api, owner):
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="My photos")
    upload = send(api, spotify_export(), filename="takeout-001.zip", integration=photos.pk)
    assert upload["status"] == "rejected"
    assert "it is not a Google Photos Takeout" in upload["detail"]


def test_an_export_of_an_oauth_service_needs_its_integration_first(api):
    response = create(api, spotify_export(), type="spotify")
    assert response.status_code == 409
    assert "Connect Spotify first" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("name", "head", "accepted"),
    [
        ("export.zip", b"PK\x03\x04rest", True),
        ("export.zip", b"<html>", False),
        ("export.xml", b"\xef\xbb\xbf\n  <?xml version='1.0'?><HealthData>", True),
        ("export.xml", b"{}", False),
        ("history.json", b"  [ {", True),
        ("statement.ofx", b"OFXHEADER:100\r\nDATA:OFXSGML", True),
        ("statement.ofx", b"<?xml version='1.0'?><?OFX OFXHEADER='200'?>", True),
        ("money.qif", b"!Type:Bank\nD01/02/2025", True),
        ("money.qif", b"D01/02/2025", False),
        ("transactions.csv", "Date,Amount\n2025-01-01,3.50\n".encode("utf-16"), True),
        ("transactions.csv", "Date,Amount\n2025-01-01,3.50\n".encode("utf-16-le"), True),  # no byte order mark
        ("money.qif", "!Type:Bank\nD01/02/2025".encode("utf-16-be"), True),
        ("My Clippings.txt", "\ufeffBook (A)\r\n- Your Highlight".encode("utf-16"), True),
        ("transactions.csv", b"\x00\x01\x02binary", False),
    ],
)
def test_the_first_bytes_must_be_those_of_the_files_kind(name, head, accepted):
    assert (receive.first_bytes_problem(name, head) is None) is accepted
