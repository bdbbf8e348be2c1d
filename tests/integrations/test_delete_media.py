"""Deleting an integration with its data removes the media files only its records held (photos
carry where they were taken in their EXIF), and keeps those another integration still holds."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from connectors.google.media_store import pick_path, remember_pick, store_file
from integrations import lifecycle
from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")


def photo(integration, external_id: str, payload: bytes):
    digest = hashlib.sha256(payload).hexdigest()
    name = store_file(io.BytesIO(payload), integration.user_id, digest, f"{external_id}.jpg", "image/jpeg")
    SyncedItem.objects.create(
        user=integration.user, integration=integration, kind="photo", external_id=external_id,
        title=external_id, occurred_at=timezone.now(), data={"file": name, "sha256": digest},
        content_hash=digest, source_type=integration.type.slug, source_name=integration.name,
        fetched_at=timezone.now(),
    )  # fmt: skip
    return name


def test_deleting_photos_with_their_data_removes_the_files_no_other_integration_holds(
    owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    photos_type = IntegrationType.objects.get(slug="google-photos")
    picker, takeout = (
        make_integration(owner, photos_type, name="Picker"),
        make_integration(owner, photos_type, name="T"),
    )
    only_picked = photo(picker, "beach", b"\xff\xd8 beach with GPS")
    both = photo(picker, "hike", b"\xff\xd8 hike")
    assert photo(takeout, "hike-takeout", b"\xff\xd8 hike") == both  # stored once per person
    picks = {}
    for payload in (b"\xff\xd8 beach with GPS", b"\xff\xd8 hike"):  # what the Picker said of each
        digest = hashlib.sha256(payload).hexdigest()
        remember_pick(owner.pk, digest, {"picked": {"id": digest[:8], "mediaFile": {"baseUrl": "x"}}})
        picks[payload] = pick_path(owner.pk, digest)

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete(picker, delete_data=True)
    assert not default_storage.exists(only_picked)
    assert not default_storage.exists(picks[b"\xff\xd8 beach with GPS"])
    assert default_storage.exists(both)
    assert default_storage.exists(picks[b"\xff\xd8 hike"])

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.delete(takeout, delete_data=False)  # the records (and their files) are kept
    assert default_storage.exists(both)
