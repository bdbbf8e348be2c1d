"""'Download all my data': built by the worker's task with progress, JSON Lines per kind with
provenance and links, served to its owner only, from the page and the API."""

import datetime
import io
import json
import zipfile

import pytest
from django.utils import timezone

from integrations.models import ApiToken, IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import DataExport
from timeline.tasks import build_export

pytestmark = pytest.mark.usefixtures("catalogue")
T0 = datetime.datetime(2026, 2, 2, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def data(owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")
    end = (T0 + datetime.timedelta(hours=1)).isoformat()
    rows = [
        (feed, "meet", "event", {"uid": "m", "start": T0.isoformat(), "end": end}),
        (photos, "pic", "photo", {"sha256": "p", "width": 1, "height": 1}),
    ]
    items = [
        SyncedItem.objects.create(
            user=owner,
            integration=i,
            kind=kind,
            external_id=ext,
            title=ext,
            content_hash=ext,
            occurred_at=T0 + datetime.timedelta(minutes=10 if kind == "photo" else 0),
            data=d,
            source_type=i.type.slug,
            source_name=i.name,
            fetched_at=timezone.now(),
        )
        for i, ext, kind, d in rows
    ]
    ingest(owner.pk, [i.pk for i in items])


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_export_is_built_by_the_task_and_downloaded_by_its_owner_only(
    owner_client, owner, other_user, data, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = owner_client.post("/timeline/export/")
    export = DataExport.objects.get(user=owner)
    assert response.url == f"/timeline/export/{export.pk}/"
    assert len(queued) == 1  # the worker's task is queued once the request commits
    assert "waiting for a worker" in owner_client.get(response.url).content.decode()
    assert build_export(export.pk) == "ready"

    page = owner_client.get(response.url).content.decode()
    assert "Download the zip" in page
    archive = _zip(owner_client.get(f"/timeline/export/{export.pk}/download/"))
    names = set(archive.namelist())
    assert {"records/event.jsonl", "records/photo.jsonl", "items.jsonl", "places.jsonl", "people.jsonl"} <= names
    event = json.loads(archive.read("records/event.jsonl").decode().splitlines()[0])
    assert event["sources"][0]["integration_name"] == "Feed"
    assert event["sources"][0]["external_id"] == "meet"
    assert event["links"][0]["reason"] == "taken_during"
    assert len(archive.read("items.jsonl").decode().splitlines()) == 2

    client.force_login(other_user)
    assert client.get(f"/timeline/export/{export.pk}/download/").status_code == 404
    assert client.get(f"/timeline/export/{export.pk}/").status_code == 404


def test_the_api_starts_an_export_reports_progress_and_serves_the_zip(client, owner, data):
    token = ApiToken.issue(owner, "t")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    started = client.post("/api/v1/exports", **auth)
    assert started.status_code == 202
    export_id = started.json()["id"]
    assert client.post("/api/v1/exports", **auth).json()["id"] == export_id  # one at a time
    build_export(export_id)
    answer = client.get(f"/api/v1/exports/{export_id}", **auth).json()
    assert answer["status"] == "ready"
    assert answer["percent"] == 100
    archive = _zip(client.get(answer["download_url"], **auth))
    assert "records/event.jsonl" in archive.namelist()


def test_deleting_the_account_deletes_the_export_file(owner, data, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    export = DataExport.objects.create(user=owner)
    build_export(export.pk)
    export.refresh_from_db()
    assert default_storage.exists(export.file)
    with django_capture_on_commit_callbacks(execute=True):
        owner.delete()
    assert not default_storage.exists(export.file)


def test_the_account_page_offers_the_export(owner_client):
    page = owner_client.get("/accounts/preferences/").content.decode()
    assert 'href="/timeline/export/"' in page
    assert "Download all my data" in page


def test_an_export_of_many_people_and_places_holds_them_in_memory_a_chunk_at_a_time(owner, settings, tmp_path):
    """Records and stored items were read a thousand at a time, but every place and every person
    at once: an address book of 12,000 people was 12,000 objects in the worker's memory. They are
    read in chunks too, so the worker's peak stays the same for 12,000 people as for 2,000, and
    every one is in the zip once."""
    import tracemalloc

    from timeline.models import Person, Place

    settings.MEDIA_ROOT = tmp_path / "media"

    def add(count, start):
        Person.objects.bulk_create(
            Person(user=owner, name=f"Person {start + n} " + "x" * 150, email=f"p{start + n}@example.com")
            for n in range(count)
        )
        Place.objects.bulk_create(Place(user=owner, name=f"Place {start + n} " + "y" * 150) for n in range(count))

    def peak() -> int:
        export = DataExport.objects.create(user=owner)
        tracemalloc.start()
        try:
            assert build_export(export.pk) == "ready"
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    add(2000, 0)
    small = peak()
    add(10000, 2000)
    big = peak()
    assert big < small * 1.5, (small, big)
    export = DataExport.objects.filter(user=owner, status="ready").get()
    with zipfile.ZipFile(settings.MEDIA_ROOT / export.file) as archive:
        people = [json.loads(line)["id"] for line in archive.read("people.jsonl").decode().splitlines()]
        places = [json.loads(line)["id"] for line in archive.read("places.jsonl").decode().splitlines()]
    assert sorted(people) == sorted(set(people)) == sorted(Person.objects.values_list("pk", flat=True))
    assert sorted(places) == sorted(set(places)) == sorted(Place.objects.values_list("pk", flat=True))
