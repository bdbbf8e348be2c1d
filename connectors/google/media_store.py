"""Where Google Photos media lands, for the Picker and the Takeout import alike: each file stored
once per user, content-addressed (SHA-256), in the default storage (MEDIA_ROOT); and what an
import already holds (Dedup), so neither side stores a photo twice."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from connectors.google import media_match


def max_media_bytes() -> int:
    return int(settings.GOOGLE_PHOTOS_MAX_BYTES)


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


def pick_path(user_id, digest: str) -> str:
    return f"google-photos/{user_id}/{digest[:2]}/{digest}.pick.json"


def remember_pick(user_id, digest: str, raw: dict) -> None:
    """Keep what the Picker said about a photo beside its bytes: a Takeout of the same photo
    imported later adds its location to the same record, which needs the Picker's side again (the
    picking session, and so the item's metadata, is gone by then). The download URL is not kept."""
    picked = {k: v for k, v in raw["picked"].items() if k != "mediaFile"}
    picked["mediaFile"] = {k: v for k, v in (raw["picked"].get("mediaFile") or {}).items() if k != "baseUrl"}
    name = pick_path(user_id, digest)
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(json.dumps({**raw, "picked": picked}).encode()))


def recall_pick(user_id, digest: str) -> dict | None:
    name = pick_path(user_id, digest)
    if not default_storage.exists(name):
        return None
    try:
        with default_storage.open(name) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None


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
        self.hashes, keys, self.digests = set(), [], {}
        for external_id, value in versions.items():
            digest, key = media_match.split_version(value)
            if digest:
                self.hashes.add(digest)
                self.digests[external_id] = digest
            keys.append((key, external_id))
        self.captures = media_match.CaptureIndex(keys)

    def stored_match(self, key: str) -> tuple[str, str] | None:
        """(external id, SHA-256) of the stored record that holds the same photo, if any."""
        owner = self.captures.owner(key)
        return (owner, self.digests.get(owner, "")) if owner else None

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
