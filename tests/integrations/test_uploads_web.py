"""The upload pages: an archive type's connect page (upload, then import into a new integration),
"Import an export" on an integration's page, with the session and its CSRF token exactly as the
page's script sends the chunks."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from integrations.models import (
    AuditAction,
    AuditEvent,
    Integration,
    IntegrationType,
    JobKind,
    JobStatus,
    JobTrigger,
    SyncJob,
    Upload,
    UploadStatus,
)
from integrations.tasks import run_archive_import
from integrations.uploads import storage
from tests.factories import make_integration, make_type
from tests.integrations.archive_connector import CSV_HEADER, KEY, KILL_AFTER_ROWS, ROWS_READ
from tests.integrations.test_uploads import put_chunk, spotify_export

pytestmark = pytest.mark.usefixtures("catalogue")

STEPS = f"{CSV_HEADER}\n2025-01-01,4200\n2025-01-02,9100\n2025-01-03,12000\n".encode()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def browser(owner):
    """A session client that enforces CSRF, like the browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


@pytest.fixture
def steps_type(db):
    return make_type(
        "step-export",
        display_name="Step export",
        auth_kind="archive",
        auth_schema=[],
        source_schema=[{"name": "since", "type": "date", "label": "Only records since"}],
        handler=KEY,
        is_available=True,
        supports_scheduling=False,
    )


def csrf_of(client, url) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return page.cookies["csrftoken"].value


def send_with_session(client, token, data, *, filename, chunk=20, **target):
    created = client.post(
        "/api/v1/uploads",
        data=json.dumps({"filename": filename, "size": len(data), "fingerprint": "1", **target}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert created.status_code == 201, created.json()
    upload = created.json()["upload"]
    while upload["offset"] < len(data):
        start = upload["offset"]
        answer = put_chunk(client, upload, data, start, min(start + chunk, len(data)), HTTP_X_CSRFTOKEN=token)
        assert answer.status_code == 200, answer.json()
        upload = answer.json()["upload"]
    return upload


def test_an_archive_types_connect_page_uploads_then_imports_into_a_new_integration(browser, owner, steps_type):
    page = browser.get("/integrations/connect/step-export/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Your archive stays on this server." in html
    assert "never sent to any other service" in html
    assert 'src="/static/js/upload.js"' in html
    assert "<script>" not in html
    token = page.cookies["csrftoken"].value
    upload = send_with_session(browser, token, STEPS, filename="steps.csv", type="step-export")
    assert upload["status"] == "complete"
    assert upload["detail"] == "Step counts: 1 file"
    assert upload["id"] in browser.get("/integrations/connect/step-export/").content.decode()  # after a reload too

    response = browser.post(
        "/integrations/connect/step-export/",
        {"csrfmiddlewaretoken": token, "name": "My steps", "upload": [upload["id"]]},
    )
    integration = Integration.objects.get(user=owner, type=steps_type)
    job = SyncJob.objects.get(integration=integration)
    assert response.status_code == 302
    assert response.url == job.get_absolute_url()
    assert integration.name == "My steps"
    assert integration.account_identity == "Step counts: 1 file"
    assert job.kind == JobKind.BACKFILL
    run_archive_import(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.created == 3
    assert not storage.folder(Upload.objects.get(pk=upload["id"])).exists()
    # the integration's page offers the next export
    detail = browser.get(integration.get_absolute_url()).content.decode()
    assert "Import a newer export" in detail
    assert f"/integrations/{integration.pk}/import/" in detail


def test_the_wrong_export_on_the_connect_page_creates_nothing(browser, owner, steps_type):
    token = csrf_of(browser, "/integrations/connect/step-export/")
    upload = send_with_session(browser, token, b"day;count\n2025-01-01;3\n", filename="steps.csv", type="step-export")
    assert upload["status"] == "rejected"
    assert "not a step count export" in upload["detail"]
    response = browser.post(
        "/integrations/connect/step-export/", {"csrfmiddlewaretoken": token, "name": "X", "upload": [upload["id"]]}
    )
    assert response.status_code == 400
    assert "cannot be imported now" in response.content.decode()
    assert not Integration.objects.filter(user=owner).exists()
    assert not SyncJob.objects.exists()


def test_a_newer_export_of_a_spotify_account_is_imported_from_its_page(browser, owner):
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    detail = browser.get(spotify.get_absolute_url()).content.decode()
    assert "Import an export" in detail
    url = f"/integrations/{spotify.pk}/import/"
    token = csrf_of(browser, url)
    upload = send_with_session(
        browser, token, spotify_export(), filename="my_spotify_data.zip", chunk=900, integration=spotify.pk
    )
    assert upload["status"] == "complete"
    response = browser.post(url, {"csrfmiddlewaretoken": token, "upload": [upload["id"]], "keep_archive": "on"})
    job = SyncJob.objects.get(integration=spotify, kind=JobKind.BACKFILL)
    assert response.status_code == 302
    assert response.url == job.get_absolute_url()
    run_archive_import(job.pk)
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.IMPORTED
    assert storage.path_of(stored).exists()


def test_chunks_with_the_session_need_the_csrf_token(browser, owner):
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    response = browser.post(
        "/api/v1/uploads",
        data=json.dumps({"filename": "a.zip", "size": 10, "integration": spotify.pk}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_another_users_import_page_and_upload_are_404(browser, other_client, owner):
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    token = csrf_of(browser, f"/integrations/{spotify.pk}/import/")
    upload = send_with_session(
        browser, token, spotify_export(), filename="my_spotify_data.zip", chunk=5000, integration=spotify.pk
    )
    assert other_client.get(f"/integrations/{spotify.pk}/import/").status_code == 404
    assert other_client.post(f"/integrations/uploads/{upload['id']}/remove/").status_code == 404
    assert Upload.objects.filter(pk=upload["id"]).exists()


def test_types_without_an_archive_connector_keep_the_coming_soon_page(browser):
    from tests.factories import make_type

    make_type("someday-export", auth_kind="archive", auth_schema=[], handler="", is_available=False)
    response = browser.get("/integrations/connect/someday-export/")
    assert response.status_code == 404
    assert "coming soon" in response.content.decode()


def test_without_javascript_the_file_goes_in_one_form_post(browser, owner, settings, media_root):
    settings.UPLOAD_CHUNK_MAX_BYTES = 700  # the same chunk path, several chunks
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    url = f"/integrations/{spotify.pk}/import/"
    token = csrf_of(browser, url)
    data = spotify_export()
    response = browser.post(
        f"{url}upload/",
        {"csrfmiddlewaretoken": token, "files": SimpleUploadedFile("my_spotify_data.zip", data)},
        follow=True,
    )
    assert response.status_code == 200
    assert "Uploaded my_spotify_data.zip: Spotify streaming history: 2 files." in response.content.decode()
    upload = Upload.objects.get(user=owner)
    assert upload.status == UploadStatus.COMPLETE
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert f'value="{upload.pk}"' in response.content.decode()  # ready to import on the page

    wrong = browser.post(
        f"{url}upload/",
        {"csrfmiddlewaretoken": token, "files": SimpleUploadedFile("my_spotify_data.zip", b"plain text" * 100)},
        follow=True,
    )
    assert "does not start like a zip archive" in wrong.content.decode()
    settings.UPLOAD_MAX_BYTES = 1000
    too_big = browser.post(
        f"{url}upload/",
        {"csrfmiddlewaretoken": token, "files": SimpleUploadedFile("big.zip", b"PK" * 2000)},
        follow=True,
    )
    assert "this hub accepts files up to 1000 bytes" in too_big.content.decode()
    # a body far over the cap is refused from its Content-Length, before it is read
    far_too_big = browser.post(
        f"{url}upload/",
        {"csrfmiddlewaretoken": token, "files": SimpleUploadedFile("big.zip", b"PK" * 40_000)},
        follow=True,
    )
    assert "larger than this hub accepts" in far_too_big.content.decode()
    assert Upload.objects.filter(user=owner, status=UploadStatus.COMPLETE).count() == 1


def test_the_api_says_which_types_import_archives(owner_client):
    types = {t["slug"]: t for t in owner_client.get("/api/v1/integrations").json()["types"]}
    assert types["spotify"]["imports_archives"] is True
    assert types["google-photos"]["imports_archives"] is True
    assert types["ical-feed"]["imports_archives"] is False
    assert types["apple-health"]["imports_archives"] is True


def test_an_import_from_the_page_is_audited_with_its_files(browser, owner):
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    url = f"/integrations/{spotify.pk}/import/"
    token = csrf_of(browser, url)
    upload = send_with_session(
        browser, token, spotify_export(), filename="my_spotify_data.zip", chunk=5000, integration=spotify.pk
    )
    browser.post(url, {"csrfmiddlewaretoken": token, "upload": [upload["id"]]})
    job = SyncJob.objects.get(integration=spotify)
    assert job.trigger == JobTrigger.UPLOAD
    event = AuditEvent.objects.get(integration=spotify, action=AuditAction.SYNC_QUEUED)
    assert event.detail["files"] == ["my_spotify_data.zip"]
    assert event.detail["job"] == job.pk


def test_the_sweep_command_reports_what_it_did(owner, capsys):
    from django.core.management import call_command

    call_command("sweep_uploads")
    assert "Expired 0 stale upload(s); settled 0 finished import(s)." in capsys.readouterr().out


def test_a_worker_killed_mid_import_resumes_from_the_last_batch_and_keeps_the_files_until_the_end(
    browser, owner, steps_type
):
    steps = STEPS + b"2025-01-04,800\n2025-01-05,15000\n"
    token = csrf_of(browser, "/integrations/connect/step-export/")
    upload = send_with_session(browser, token, steps, filename="steps.csv", type="step-export")
    browser.post(
        "/integrations/connect/step-export/", {"csrfmiddlewaretoken": token, "name": "S", "upload": [upload["id"]]}
    )
    job = SyncJob.objects.get(integration__type=steps_type)
    ROWS_READ.clear()
    KILL_AFTER_ROWS.append(3)  # batches of two rows: the first batch is stored, the second is lost
    with pytest.raises(SystemExit):
        run_archive_import(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.cursor_after == {"rows": 2}
    assert job.created == 2
    stored = Upload.objects.get(pk=upload["id"])
    assert stored.status == UploadStatus.IMPORTING
    assert storage.path_of(stored).exists()  # not deleted: the import has not finished

    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at="2000-01-01T00:00:00Z")  # the dead worker's job goes stale
    ROWS_READ.clear()
    run_archive_import(job.pk)
    job.refresh_from_db()
    assert ROWS_READ == ["2025-01-03", "2025-01-04", "2025-01-05"]  # from the checkpoint, not from the start
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert job.integration.items.count() == 5
    assert not storage.folder(stored).exists()


@pytest.mark.parametrize(
    ("slug", "words"),
    [("kindle-highlights", "a Kindle My Clippings file"), ("apple-health", "an Apple Health export")],
)
def test_the_file_field_says_which_export_to_choose_not_every_extension(browser, slug, words):
    page = browser.get(f"/integrations/connect/{slug}/").content.decode()
    label = page.split('<label for="archive-files">', 1)[1].split("</label>", 1)[0]
    assert words in label
    assert ".qfx" not in label  # the ten extensions every archive type accepts stay in accept=""
