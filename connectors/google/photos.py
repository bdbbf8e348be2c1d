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
id are skipped. A Takeout imported after the pick adds its location to the picked photo's record
(the Picker's copy has none), instead of storing the photo a second time.
Files are stored once, content-addressed, in the default storage (MEDIA_ROOT): media_store.py,
shared with the Takeout import.
A job with options {"archive_paths": [...]} imports a Takeout archive instead (takeout.py).
"""

from __future__ import annotations

import datetime
import logging
import re
import time

from django.conf import settings
from django.utils.dateparse import parse_datetime

from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError, from_status
from connectors.google import media_match, takeout
from connectors.google.common import quota_error, reasons_in, require_tokens
from connectors.google.media_store import Dedup, max_media_bytes, remember_pick, spool_and_hash, store_file
from connectors.http import retry_after_seconds
from connectors.masking import quote_body
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import api_base

log = logging.getLogger(__name__)

PICKER_BASE = "https://photospicker.googleapis.com"
USERINFO_BASE = "https://openidconnect.googleapis.com"
PAGE_SIZE = 100
DURATION = re.compile(r"^([\d.]+)s$")


def _seconds(value, default: float) -> float:
    match = DURATION.match(str(value or ""))
    return float(match.group(1)) if match else default


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
        return api_base("google", default, self.ctx) + path

    def _get(self, url, **kwargs):
        return self._request("GET", url, **kwargs)

    def _request(self, method: str, url: str, **kwargs):
        """A Picker API call. Google's 403 that means a quota (rateLimitExceeded, dailyLimitExceeded,
        RESOURCE_EXHAUSTED in its error JSON) is a wait, as for the other Google connectors, not a
        reason to sign in again; any other refusal is what its status means."""
        response = self.http.request(method, url, auth=require_tokens(self.ctx).auth, allow=(403, 429), **kwargs)
        if response.status_code not in (403, 429):
            return response
        with response:
            text = next(response.iter_content(16 * 1024), b"").decode("utf-8", "replace")
        retry_after = retry_after_seconds(response)
        limited = quota_error(response.status_code, reasons_in(text), retry_after, response.reason or "")
        if limited is not None:
            raise limited
        raise from_status(
            response.status_code,
            retry_after=retry_after,
            body=quote_body(text[:2000], self.http.hidden_in_errors()),
        )

    def test_connection(self) -> str:
        info = self._get(self._url(USERINFO_BASE, "/v1/userinfo")).json()
        return info.get("email") or info.get("sub") or "Google account"

    # -- picker sessions ---------------------------------------------------------------------
    def create_session(self) -> dict:
        """sessions.create: the caller sends the user to the returned pickerUri."""
        response = self._request("POST", self._url(PICKER_BASE, "/v1/sessions"), json={})
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
            yield from takeout.import_batches(self, paths, cursor)
            return
        session_id = self.ctx.options.get("picker_session")
        if not session_id:
            log.info("Google Photos sync without a picking session or archive: nothing to import")
            return
        self._wait_until_picked(session_id)
        dedup = Dedup(self.ctx)
        page = None
        pages = PageGuard("Google Photos", what="picked items")
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
            page = pages.follow(response.get("nextPageToken"))
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
        raw = {"picked": item, "sha256": digest, "size": size, "file": name, "capture": capture}
        remember_pick(self.ctx.integration.user_id, digest, raw)
        return raw

    # -- records -------------------------------------------------------------------------------
    def transform(self, raw) -> Record:
        if "takeout" in raw:
            return takeout.transform(raw, self.ctx.zone())
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
        if match := raw.get("takeout_match"):
            # The Picker's copy has no location; the Takeout original of the same photo had one.
            data["geo"] = match["geo"]
            data["location_from"] = {"source": "takeout", "archive": match["archive"], "member": match["member"]}
        return Record(
            external_id=item["id"],
            kind="video" if item.get("type") == "VIDEO" else "photo",
            title=media.get("filename") or item["id"],
            occurred_at=created,
            data=data,
            version=media_match.version(raw["sha256"], raw.get("capture", "")),
            unmapped=unmapped,
        )
