"""Uploading a Spotify export in real headless Chromium: the file goes in chunks with a live
progress bar, the connection drops half-way, the page is reloaded and the same file chosen again
goes on from the server's offset (no byte sent twice), then the import runs in a real worker to a
finished job and the uploaded archive is deleted."""

from __future__ import annotations

import re
import zipfile

import pytest

from tests.browser.conftest import worker_log
from tests.factories import PASSWORD, make_integration, make_user
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.peer]

DATA_FILES = ("StreamingHistory_music_0.json", "Streaming_History_Audio_2025_0.json")
CHUNK = 512


def _export(tmp_path):
    from tests.connectors.helpers import DATA

    path = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in DATA_FILES:
            archive.write(DATA / "spotify" / name, f"Spotify Extended Streaming History/{name}")
    return path


def test_upload_a_spotify_export_resume_after_a_reload_and_import_it(
    new_page, live_server, worker, subprocess_env, settings, tmp_path, artifacts, catalogue
):
    from integrations.models import IntegrationType, JobKind, SyncJob, Upload, UploadStatus
    from integrations.uploads import storage

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_CHUNK_MAX_BYTES = CHUNK  # a small file still goes in several chunks
    subprocess_env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)  # the worker settles the same files
    worker([])
    owner = make_user("listener@example.com")
    spotify = make_integration(owner, IntegrationType.objects.get(slug="spotify"), name="My Spotify")
    archive = _export(tmp_path)
    size = archive.stat().st_size
    assert size > 4 * CHUNK

    page = new_page()
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(owner.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.goto(spotify.get_absolute_url())
    page.get_by_role("link", name="Import an export").click()
    page.get_by_text("Your archive stays on this server.").wait_for()

    # -- the connection drops after three chunks ------------------------------------------------------
    ranges: list[str] = []
    state = {"dropped": False}

    def network(route):
        request = route.request
        if request.method == "PUT":
            if state["dropped"]:
                route.abort("connectionreset")
                return
            ranges.append(request.headers.get("content-range", ""))
            if len(ranges) == 3:
                state["dropped"] = True
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/.*"), network)
    page.locator("#archive-upload[data-ready]").wait_for(state="attached")  # its script has run
    page.locator("#archive-files").set_input_files(str(archive))
    row = page.locator("#upload-list .upload-row").first
    row.get_by_text("Connection problem; trying again").wait_for()
    percent = int(row.get_attribute("data-percent"))
    assert 0 < percent < 100  # the bar shows the part that arrived
    upload = Upload.objects.get(user=owner)
    assert upload.offset == 3 * CHUNK
    page.screenshot(path=str(artifacts / "upload-interrupted.png"), full_page=True)

    # -- a reload, and the same file again -----------------------------------------------------------
    # The connection stays down until the reload is done: a retry of the old page can then not land
    # a chunk while the test reads the server's offset, which the new page must resume from.
    page.reload()
    unfinished = page.locator("#unfinished-uploads .upload-row")
    unfinished.get_by_text(re.compile(r"unfinished: \d+%")).wait_for()
    page.unroute(re.compile(r".*/api/v1/uploads/.*"))
    upload.refresh_from_db()
    stored = upload.offset
    assert 3 * CHUNK <= stored < size
    resumed: list[str] = []
    page.on("request", lambda r: resumed.append(r.headers.get("content-range", "")) if r.method == "PUT" else None)
    page.locator("#archive-upload[data-ready]").wait_for(state="attached")  # its script has run
    page.locator("#archive-files").set_input_files(str(archive))
    row = page.locator("#upload-list .upload-row").first
    row.get_by_text("✔ uploaded").wait_for()
    assert row.locator(".progress").get_attribute("aria-valuenow") == "100"
    assert resumed, "nothing was sent after the reload"
    assert resumed[0].startswith(f"bytes {stored}-")  # on from the server's offset, not from zero
    upload.refresh_from_db()
    assert upload.status == UploadStatus.COMPLETE
    assert Upload.objects.filter(user=owner).count() == 1
    assert storage.path_of(upload).read_bytes() == archive.read_bytes()
    page.screenshot(path=str(artifacts / "upload-complete.png"), full_page=True)

    # -- import it: a backfill job in the worker, to the end ----------------------------------------
    page.locator("#uploaded-files input[name=upload]").first.wait_for()
    page.get_by_role("button", name="Import").click()
    progress = page.locator(".job-progress")
    progress.and_(page.locator("[data-status=partial], [data-status=succeeded]")).wait_for(timeout=60_000)
    job = SyncJob.objects.get(integration=spotify, kind=JobKind.BACKFILL)
    assert job.created == spotify.items.filter(kind="play").count() > 0
    assert page.url.endswith(job.get_absolute_url())
    # The page's Details panel follows the bar, without a reload (it said "Queued" beside 100%).
    page.locator(f"#job-details-{job.pk}").get_by_text(job.get_status_display()).wait_for()
    page.screenshot(path=str(artifacts / "upload-imported.png"), full_page=True)
    wait_for(
        lambda: Upload.objects.get(pk=upload.pk).status == UploadStatus.IMPORTED,
        seconds=60,
        explain=lambda: f"the upload was not settled\n{worker_log(tmp_path)}",
    )
    # Deleted after the import ("keep the archive" was not ticked), by the worker just after it
    # marked the upload imported: waited for, not read once.
    wait_for(
        lambda: not storage.folder(upload).exists(),
        seconds=60,
        explain=lambda: f"the archive was kept\n{worker_log(tmp_path)}",
    )
