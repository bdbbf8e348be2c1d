"""Google Photos: the Picker API for items the user picks, Google Takeout for the whole library.

Since 31 March 2025 the Library API only lists media the app itself created, so a user's own
photos are reached through the Picker API (plain HTTP: the client library ships no discovery
document for it). https://developers.google.com/photos/picker/guides/get-started-picker

1. `create_session()` (sessions.create) returns a pickerUri the user opens to pick items.
2. A sync job with options {"picker_session": id} polls sessions.get at the session's
   pollingConfig.pollInterval until mediaItemsSet is true (or pollingConfig.timeoutIn passes),
3. lists the picked items (mediaItems.list, paginated by nextPageToken), reads their metadata
   (creation time, camera, dimensions) and downloads their bytes from baseUrl (=d for photos,
   =dv for videos) with the bearer token, then deletes the session.
   https://developers.google.com/photos/picker/guides/media-items

Dedup: a picked item already imported (same media item id) is not downloaded again, nor one whose
file name, capture time and dimensions match a photo already imported from a Takeout archive
(media_match.py: the two sides' bytes differ); bytes whose SHA-256 is already stored under another
id are skipped.
Files are stored once, content-addressed, in the default storage (MEDIA_ROOT).
A job with options {"archive_paths": [...]} imports a Takeout archive instead (takeout.py).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import mimetypes
import re
import tempfile
import time

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.dateparse import parse_datetime

from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError
from connectors.google import media_match
from connectors.google.common import api_base, require_tokens
from connectors.registry import registry

log = logging.getLogger(__name__)

PICKER_BASE = "https://photospicker.googleapis.com"
USERINFO_BASE = "https://openidconnect.googleapis.com"
PAGE_SIZE = 100
DURATION = re.compile(r"^([\d.]+)s$")


def max_media_bytes() -> int:
    return int(settings.GOOGLE_PHOTOS_MAX_BYTES)


def _seconds(value, default: float) -> float:
    match = DURATION.match(str(value or ""))
    return float(match.group(1)) if match else default


def storage_path(user_id, digest: str, filename: str = "", mime_type: str = "") -> str:
    ext = (filename.rsplit(".", 1)[-1].lower() if "." in filename else "") or (
        (mimetypes.guess_extension(mime_type) or ".bin").lstrip(".")
    )
    return f"google-photos/{user_id}/{digest[:2]}/{digest}.{ext[:8]}"


def store_file(spool, user_id, digest: str, filename: str, mime_type: str = "") -> str:
    """Keep the bytes once per user (content-addressed); returns the storage name."""
    name = storage_path(user_id, digest, filename, mime_type)
    if not default_storage.exists(name):
        spool.seek(0)
        saved = default_storage.save(name, File(spool))
        if saved != name:  # a concurrent import saved it first: keep one copy
            default_storage.delete(saved)
    return name


def spool_and_hash(chunks) -> tuple[tempfile.SpooledTemporaryFile, str, int]:
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the caller closes it
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in chunks:
            spool.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest(), size


class Dedup:
    """Media item ids, content hashes and capture keys already stored for the integration (the
    record version is the SHA-256 of the bytes and the capture key), plus those seen in this run."""

    def __init__(self, ctx):
        versions = ctx.known_versions()
        self.ids = set(versions)
        self.hashes, keys = set(), []
        for value in versions.values():
            digest, key = media_match.split_version(value)
            if digest:
                self.hashes.add(digest)
            keys.append(key)
        self.captures = media_match.CaptureIndex(keys)

    def seen_hash(self, digest: str) -> bool:
        if digest in self.hashes:
            return True
        self.hashes.add(digest)
        return False

    def seen_capture(self, key: str) -> bool:
        """The same photo (name, capture time, dimensions) is stored already or came earlier in
        this run; otherwise remember it."""
        if self.captures.matches(key):
            return True
        self.captures.add(key)
        return False


def created_at(item: dict) -> datetime.datetime | None:
    created = parse_datetime(item.get("createTime") or "")
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return created


def picked_capture_key(item: dict) -> str:
    media = item.get("mediaFile") or {}
    meta = media.get("mediaFileMetadata") or {}
    dims = media_match.dimensions(meta.get("width"), meta.get("height"))
    return media_match.capture_key(media.get("filename", ""), created_at(item), dims)


@registry.register("google_photos")
class GooglePhotosConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"photo": "photo", "video": "photo"}

    @staticmethod
    def typed_fields(item) -> dict:
        return {"media_type": "video" if item.kind == "video" else "photo"}

    @classmethod
    def page_actions(cls, integration, urls):
        return [("Pick photos in Google Photos", urls.url("oauth:photos_pick", integration.pk))]

    @classmethod
    def sniff(cls, paths: list[str]) -> str:
        """The uploaded files are a Google Takeout of Google Photos (ConfigError saying why not)."""
        from connectors.google import takeout

        return takeout.describe(paths)

    def _url(self, default: str, path: str) -> str:
        return api_base(self.ctx, default) + path

    def _get(self, url, **kwargs):
        return self.http.get(url, auth=require_tokens(self.ctx).auth, **kwargs)

    def test_connection(self) -> str:
        info = self._get(self._url(USERINFO_BASE, "/v1/userinfo")).json()
        return info.get("email") or info.get("sub") or "Google account"

    # -- picker sessions ---------------------------------------------------------------------
    def create_session(self) -> dict:
        """sessions.create: the caller sends the user to the returned pickerUri."""
        response = self.http.post(self._url(PICKER_BASE, "/v1/sessions"), json={}, auth=require_tokens(self.ctx).auth)
        return response.json()

    def _session(self, session_id: str) -> dict:
        return self._get(self._url(PICKER_BASE, f"/v1/sessions/{session_id}")).json()

    def _wait_until_picked(self, session_id: str) -> dict:
        session = self._session(session_id)
        polling = session.get("pollingConfig") or {}
        limit = min(_seconds(polling.get("timeoutIn"), 1800), float(settings.GOOGLE_PHOTOS_PICKER_MAX_WAIT))
        deadline = time.monotonic() + limit
        while not session.get("mediaItemsSet"):
            if time.monotonic() >= deadline:
                raise ConfigError(
                    "Nothing was picked in Google Photos before the picking session ended.",
                    remediation="Start a new pick from the integration's page and press Done in Google Photos.",
                )
            self.ctx.heartbeat()
            time.sleep(min(_seconds(polling.get("pollInterval"), 5), 10))
            session = self._session(session_id)
            polling = session.get("pollingConfig") or polling
        return session

    def _delete_session(self, session_id: str):
        try:
            self.http.request(
                "DELETE", self._url(PICKER_BASE, f"/v1/sessions/{session_id}"), auth=require_tokens(self.ctx).auth
            )
        except Exception as exc:  # noqa: BLE001 - clean-up only: the session expires on its own
            log.info("Could not delete picker session: %s", exc)

    # -- sync ----------------------------------------------------------------------------------
    def list_changes(self, cursor):
        paths = self.ctx.options.get("archive_paths") or []
        if paths:
            from connectors.google import takeout

            yield from takeout.import_batches(self, paths, cursor)
            return
        session_id = self.ctx.options.get("picker_session")
        if not session_id:
            log.info("Google Photos sync without a picking session or archive: nothing to import")
            return
        self._wait_until_picked(session_id)
        dedup = Dedup(self.ctx)
        page = None
        while True:
            params = {"sessionId": session_id, "pageSize": PAGE_SIZE}
            if page:
                params["pageToken"] = page
            response = self._get(self._url(PICKER_BASE, "/v1/mediaItems"), params=params).json()
            items = []
            for item in response.get("mediaItems") or []:
                if item["id"] in dedup.ids:
                    continue
                key = picked_capture_key(item)
                if dedup.seen_capture(key):
                    # Imported from a Takeout already (other bytes, same photo): not even downloaded.
                    log.info("Picked item %s is a photo already imported; skipped", item["id"])
                    dedup.ids.add(item["id"])
                    continue
                fetched = self._download(item, dedup, key)
                if fetched is not None:
                    items.append(fetched)
                dedup.ids.add(item["id"])
            page = response.get("nextPageToken")
            yield Batch(items=items, cursor=None)
            if not page:
                break
        self._delete_session(session_id)

    def _download(self, item: dict, dedup: Dedup, capture: str) -> dict | None:
        media = item.get("mediaFile") or {}
        suffix = "=dv" if item.get("type") == "VIDEO" else "=d"
        response = self._get(media["baseUrl"] + suffix, stream=True)
        spool, digest, size = spool_and_hash(self.http.stream_capped(response, max_bytes=max_media_bytes()))
        try:
            if dedup.seen_hash(digest):
                log.info("Picked item %s has the same bytes as one already imported; skipped", item["id"])
                return None
            name = store_file(
                spool, self.ctx.integration.user_id, digest, media.get("filename", ""), media.get("mimeType", "")
            )
        finally:
            spool.close()
        self.ctx.heartbeat()
        return {"picked": item, "sha256": digest, "size": size, "file": name, "capture": capture}

    # -- records -------------------------------------------------------------------------------
    def transform(self, raw) -> Record:
        if "takeout" in raw:
            from connectors.google import takeout

            return takeout.transform(raw)
        item = raw["picked"]
        media = item.get("mediaFile") or {}
        meta = media.get("mediaFileMetadata") or {}
        created = created_at(item)
        known = {"width", "height", "cameraMake", "cameraModel", "photoMetadata", "videoMetadata"}
        unmapped = sorted(f"mediaFileMetadata.{k}" for k in set(meta) - known)
        data = {
            "source": "picker",
            "media_item_id": item["id"],
            "type": item.get("type", ""),
            "filename": media.get("filename", ""),
            "mime_type": media.get("mimeType", ""),
            "width": meta.get("width"),
            "height": meta.get("height"),
            "camera_make": meta.get("cameraMake", ""),
            "camera_model": meta.get("cameraModel", ""),
            "photo": meta.get("photoMetadata") or {},
            "video": meta.get("videoMetadata") or {},
            "sha256": raw["sha256"],
            "size": raw["size"],
            "file": raw["file"],
        }
        if unmapped:
            data["extra"] = {k.split(".", 1)[1]: meta[k.split(".", 1)[1]] for k in unmapped}
        return Record(
            external_id=item["id"],
            kind="video" if item.get("type") == "VIDEO" else "photo",
            title=media.get("filename") or item["id"],
            occurred_at=created,
            data=data,
            version=media_match.version(raw["sha256"], raw.get("capture", "")),
            unmapped=unmapped,
        )
