"""A photo's stored file is served to its owner as an image and nothing more. Its type comes from
the source (the Picker's mimeType, a file's extension): an SVG or another type a browser runs as a
document, opened at the photo's address, would be a page of the hub's own origin written by
whoever made the file. Only plain raster images are shown inline; anything else is a download, and
every photo answer forbids scripts, plugins and forms (a sandbox) whatever its type."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from timeline.ingest import ingest
from timeline.models import Entity

pytestmark = pytest.mark.usefixtures("catalogue")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"


@pytest.fixture
def photo_of(owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    photos = make_integration(owner, IntegrationType.objects.get(slug="google-photos"), name="Photos")

    def make(name: str, content: bytes, mime_type: str) -> Entity:
        stored = default_storage.save(f"google-photos/{owner.pk}/ab/{name}", ContentFile(content))
        item = SyncedItem.objects.create(
            user=owner, integration=photos, kind="photo", external_id=name, title=name, content_hash=name,
            occurred_at=timezone.now() - datetime.timedelta(days=1), fetched_at=timezone.now(),
            source_type="google-photos", source_name="Photos",
            data={"file": stored, "mime_type": mime_type, "filename": name, "sha256": name},
        )  # fmt: skip
        ingest(owner.pk, [item.pk])
        return Entity.objects.get(user=owner, sources__item=item)

    return make


def _sandboxed(response):
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_svg_photo_is_a_download_never_a_page_of_the_hub(owner_client, photo_of):
    entity = photo_of("drawing.svg", SVG, "image/svg+xml")
    response = owner_client.get(f"/timeline/records/{entity.pk}/photo/")
    assert response.status_code == 200
    assert response["Content-Type"] != "image/svg+xml"
    assert response["Content-Disposition"].startswith("attachment")
    _sandboxed(response)
    assert b"".join(response.streaming_content) == SVG  # the file itself, unchanged


@pytest.mark.parametrize("mime_type", ["image/svg+xml; charset=utf-8", "image/x-icon", "image/vnd.something+xml"])
def test_other_image_types_are_downloads_too(owner_client, photo_of, mime_type):
    entity = photo_of("odd.bin", SVG, mime_type)
    response = owner_client.get(f"/timeline/records/{entity.pk}/photo/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    _sandboxed(response)


def test_a_jpeg_still_shows_inline(owner_client, photo_of):
    entity = photo_of("IMG_0001.jpg", JPEG, "image/jpeg")
    response = owner_client.get(f"/timeline/records/{entity.pk}/photo/")
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == "inline"
    _sandboxed(response)
    page = owner_client.get(f"/timeline/records/{entity.pk}/").content.decode()
    assert f'src="/timeline/records/{entity.pk}/photo/"' in page
