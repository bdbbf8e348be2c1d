"""Google Takeout archives of Google Photos: the whole library, with the JSON sidecars that carry
capture time, description, people and location.

A Takeout export is one or more zip files ("takeout-...-001.zip", ...) holding
Takeout/Google Photos/<album or "Photos from YYYY">/<file> and, next to most files, a sidecar:
"<file>.json", or since 2024 "<file>.supplemental-metadata.json"; long names are cut so the
sidecar name fits 51 characters; a duplicate "IMG(1).jpg" has its sidecar at "IMG.jpg(1).json";
an edited "IMG-edited.jpg" shares the original's sidecar. A sidecar may sit in another part of a
multi-part export. The bin is exported too (sidecars with "trashed": true): those are not imported. https://support.google.com/accounts/answer/3024190

The import is streamed: the zips' central directories are read (names only), then each media
member is read in chunks, hashed and stored, and its sidecar (a few hundred bytes) parsed on its
own; nothing is extracted to disk and no archive is held in memory. The same photo in several
album folders is stored once (SHA-256); so is a photo already brought in through the Picker, whose
bytes differ (Google re-encodes Picker downloads): it is recognised by its file name, capture time
and dimensions (media_match.py), and its record gains the Takeout's location, which the Picker's
copy lacks.
The cursor checkpoints the position (archive, member), so a killed import resumes.
"""

from __future__ import annotations

import datetime
import json
import logging
import mimetypes
import posixpath
import re
import zipfile
from pathlib import Path

from django.conf import settings

from connectors import kinds
from connectors.archives import check_entries
from connectors.base import Batch, Record
from connectors.errors import ConfigError, ItemError
from connectors.google import media_match
from connectors.google.media_store import Dedup, max_media_bytes, recall_pick, spool_and_hash, store_file

log = logging.getLogger(__name__)

MEDIA_EXTENSIONS = {
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff", "dng", "cr2", "nef", "arw", "raw",
    "mp4", "mov", "m4v", "3gp", "avi", "mkv", "mpg", "mts", "m2ts", "wmv", "mp",
}  # fmt: skip
SIDECAR_LIMIT = 51  # Takeout cuts sidecar names to this many characters, ".json" included
DUPLICATE = re.compile(r"^(?P<stem>.+)\((?P<n>\d+)\)(?P<ext>\.[^.]+)$")
# The suffix of an edited copy is in the Google account's language (the list GooglePhotosTakeoutHelper
# keeps from its users' reports: English, German, French, Spanish, Portuguese, Dutch, Polish,
# Italian, Catalan, Japanese, Chinese).
EDITED_SUFFIXES = (
    "edited", "bearbeitet", "modifié", "ha editado", "editado", "bewerkt", "edytowane", "modificato", "editat",
    "編集済み", "编辑",
)  # fmt: skip
EDITED = re.compile(rf"^(?P<stem>.+)-({'|'.join(map(re.escape, EDITED_SUFFIXES))})(?P<ext>\.[^.]+)$", re.I)
CHUNK = 1024 * 1024


def is_media(name: str) -> bool:
    return not name.endswith("/") and name.rsplit(".", 1)[-1].lower() in MEDIA_EXTENSIONS and "." in name


def sidecar_candidates(member: str) -> list[str]:
    folder, filename = posixpath.split(member)
    names = []
    bases = [filename]
    edited = EDITED.match(filename)
    if edited:
        bases.append(edited.group("stem") + edited.group("ext"))
    for base in bases:
        duplicate = DUPLICATE.match(base)
        suffix = ""
        if duplicate:
            base, suffix = duplicate.group("stem") + duplicate.group("ext"), f"({duplicate.group('n')})"
        for middle in (".supplemental-metadata", ""):
            full = f"{base}{middle}"
            names.append(f"{full}{suffix}.json")
            names.append(f"{full[: SIDECAR_LIMIT - len('.json') - len(suffix)]}{suffix}.json")
        names.append(f"{posixpath.splitext(base)[0]}{suffix}.json")
    seen, ordered = set(), []
    for name in names:
        path = posixpath.join(folder, name)
        if path not in seen:
            seen.add(path)
            ordered.append(path)
    return ordered


def _timestamp(value) -> datetime.datetime | None:
    """{"timestamp": "1622635200", ...} as Takeout writes it; None for anything else (a sidecar
    edited by hand or written by another tool), for 0 (the epoch: no time) and for a time no
    datetime holds."""
    if not isinstance(value, dict):
        return None
    try:
        seconds = int(value.get("timestamp"))
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC) if seconds else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _geo(value) -> dict | None:
    # Takeout writes 0.0, 0.0 when there is no location; off the globe or not numbers is none either.
    found = kinds.geo(value) if isinstance(value, dict) else None
    if found is None:
        return None
    return {"latitude": found["lat"], "longitude": found["lon"], "altitude": value.get("altitude")}


class Archives:
    """The parts of one export; sidecars are looked up across all of them."""

    def __init__(self, paths: list[str]):
        self.paths = [str(p) for p in paths]
        self.zips = []
        for path in self.paths:
            if not Path(path).is_file():
                raise ConfigError(
                    f"The archive {path} does not exist.", remediation="Check the path of the Takeout zip."
                )
            check_entries(path)
            try:
                self.zips.append(zipfile.ZipFile(path))
            except zipfile.BadZipFile:
                raise ConfigError(
                    f"{Path(path).name} is not a zip archive.",
                    remediation="Use the .zip files Google Takeout produced (choose the zip format, not tgz).",
                ) from None
        self.sidecars: dict[str, int] = {}
        for index, archive in enumerate(self.zips):
            for name in archive.namelist():
                if name.endswith(".json"):
                    self.sidecars.setdefault(name, index)

    def media(self):
        """(archive index, member index, ZipInfo) of every media file, in archive order."""
        for index, archive in enumerate(self.zips):
            for position, info in enumerate(archive.infolist()):
                if is_media(info.filename):
                    yield index, position, info

    def sidecar(self, member: str) -> tuple[dict | None, str, str]:
        """(metadata, its member name, the name of a sidecar that could not be read)."""
        for candidate in sidecar_candidates(member):
            index = self.sidecars.get(candidate)
            if index is None:
                continue
            try:
                with self.zips[index].open(candidate) as handle:
                    data = json.loads(handle.read(1024 * 1024))
            except (ValueError, KeyError, UnicodeDecodeError):
                log.info("Unreadable Takeout sidecar %s; the photo is imported without it", candidate)
                return None, "", candidate
            if isinstance(data, dict):
                return data, candidate, ""
        return None, "", ""

    def close(self):
        for archive in self.zips:
            archive.close()


def describe(paths: list[str]) -> str:
    """What these zips hold ("Google Takeout: 1,234 photos and videos in 2 parts"), read from
    their central directories only; ConfigError when they are not a Takeout of Google Photos."""
    archives = Archives(paths)
    try:
        count = sum(1 for _ in archives.media())
    finally:
        archives.close()
    if not count:
        names = ", ".join(Path(p).name for p in paths)
        raise ConfigError(
            f"No photos or videos were found in {names}: it is not a Google Photos Takeout.",
            remediation="In Google Takeout, export Google Photos in the zip format and upload those zip files.",
        )
    parts = f" in {len(paths)} parts" if len(paths) > 1 else ""
    return f"Google Takeout: {count:,} photos and videos{parts}"


def import_batches(connector, paths: list[str], cursor):
    ctx = connector.ctx
    archives = Archives(paths)
    resume = (cursor or {}).get("takeout") or {}
    dedup = Dedup(ctx)
    batch_size = max(1, min(settings.SYNC_BATCH_SIZE, 200))
    try:
        total = sum(1 for _ in archives.media())
        items, errors, position = [], [], None
        for index, member_index, info in archives.media():
            position = {"archive": index, "member": member_index}
            if (index, member_index) <= (resume.get("archive", -1), resume.get("member", -1)):
                continue
            try:
                raw = _read_member(ctx, archives, index, info, dedup)
            except ItemError as exc:
                errors.append(exc)
                raw = None
            if raw is not None:
                items.append(raw)
            if len(items) + len(errors) >= batch_size:
                yield Batch(items=items, errors=errors, cursor={"takeout": position}, total=total)
                items, errors = [], []
            ctx.heartbeat()
        yield Batch(items=items, errors=errors, cursor={"takeout": position or resume}, total=total)
    finally:
        archives.close()


def _read_member(ctx, archives: Archives, index: int, info: zipfile.ZipInfo, dedup: Dedup) -> dict | None:
    sidecar, sidecar_name, unreadable = archives.sidecar(info.filename)
    if (sidecar or {}).get("trashed") is True:  # Takeout exports the bin too
        log.info("%s was deleted in Google Photos (it is in the bin); skipped", info.filename)
        return None
    if info.file_size == 0:  # an upload Google never finished: nothing to show or to match
        raise ItemError(
            f"{info.filename} is empty (0 bytes); nothing was read from it. Download it from Google Photos "
            "if it is there, or export it again.",
            external_id=info.filename,
        )
    if info.file_size > max_media_bytes():
        raise ItemError(
            f"{info.filename} is larger than the import limit ({info.file_size // (1024 * 1024)} MB).",
            external_id=info.filename,
        )
    try:
        with archives.zips[index].open(info) as handle:
            spool, digest, size = spool_and_hash(iter(lambda: handle.read(CHUNK), b""))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ItemError(
            f"{info.filename} could not be read from the archive ({exc}).", external_id=info.filename
        ) from None
    try:
        text = media_match.text_instead_of_media(spool)
        if text:
            raise ItemError(
                f"{info.filename} is not a photo or video: it is text ({text}); it was not imported. "
                "Download it from Google Photos if it should be one.",
                external_id=info.filename,
            )
        if dedup.seen_hash(digest):
            return None
        file_time = None
        if _timestamp((sidecar or {}).get("photoTakenTime")) is None:
            # No sidecar (a Live Photo's video has none; some go missing): the file's own capture time.
            from connectors.apple_photos import media_meta  # (the Apple Photos connector imports this module)

            file_time = media_meta.read(spool).get("taken")
        size_px = media_match.image_size(spool)
        capture = capture_key(info.filename, sidecar, size_px)
        if dedup.seen_capture(capture):
            located = _location_for_pick(ctx, dedup.stored_match(capture), sidecar, archives.paths[index], info)
            if located is None:
                log.info("%s is a photo already imported (through the Picker); skipped", info.filename)
            return located
        filename = posixpath.basename(info.filename)
        mime_type = mimetypes.guess_type(filename)[0] or ""
        name = store_file(spool, ctx.integration.user_id, digest, filename, mime_type)
    finally:
        spool.close()
    return {
        "takeout": True,
        "member": info.filename,
        "archive": Path(archives.paths[index]).name,
        "sha256": digest,
        "size": size,
        "file": name,
        "mime_type": mime_type,
        "sidecar": sidecar,
        "sidecar_name": sidecar_name,
        "sidecar_unreadable": unreadable,
        "file_time": _iso(file_time),
        "zip_time": _iso(zip_time(info)),  # zip (DOS) times are local: see transform
        "width": size_px[0] if size_px else None,
        "height": size_px[1] if size_px else None,
        "capture": capture,
    }


def zip_time(info: zipfile.ZipInfo) -> datetime.datetime | None:
    """The time the zip keeps for a member, or None: zips rebuilt by some tools write a DOS date of
    0, which zipfile reads as month 0, day 0."""
    try:
        return datetime.datetime(*info.date_time)
    except ValueError:
        return None


def _location_for_pick(ctx, match, sidecar: dict | None, archive: str, info: zipfile.ZipInfo) -> dict | None:
    """The picked photo's record again, with this Takeout original's location added (Google strips
    it from Picker downloads), or None when there is nothing to add: no location in the sidecar, the
    photo came from a Takeout already, or the Picker's side was not kept."""
    geo = _geo((sidecar or {}).get("geoData")) or _geo((sidecar or {}).get("geoDataExif"))
    if geo is None or match is None or match[0].startswith("takeout:") or not match[1]:
        return None
    pick = recall_pick(ctx.integration.user_id, match[1])
    if pick is None or (pick.get("picked") or {}).get("id") != match[0]:
        return None
    log.info("%s is a photo picked before: its location is added to that record", info.filename)
    return {**pick, "takeout_match": {"geo": geo, "archive": Path(archive).name, "member": info.filename}}


def display_name(member: str, sidecar: dict | None) -> str:
    """The sidecar's title is the full original name (Takeout cuts long file names), except for an
    "-edited" copy, which shares its original's sidecar and keeps its own name."""
    member_name = posixpath.basename(member)
    title = (sidecar or {}).get("title")
    return member_name if EDITED.match(member_name) or not isinstance(title, str) else (title.strip() or member_name)


def capture_key(member: str, sidecar: dict | None, size_px) -> str:
    # Only the sidecar's capture time counts: creationTime is the upload, the zip time the export.
    taken = _timestamp((sidecar or {}).get("photoTakenTime"))
    dims = media_match.dimensions(*size_px) if size_px else ""
    return media_match.capture_key(display_name(member, sidecar), taken, dims)


KNOWN_SIDECAR = {
    "title", "description", "imageViews", "creationTime", "photoTakenTime", "geoData", "geoDataExif", "people",
    "url", "googlePhotosOrigin", "favorited", "photoLastModifiedTime", "modificationTime", "appSource", "trashed",
}  # fmt: skip


def transform(raw: dict, zone: datetime.tzinfo = datetime.UTC) -> Record:
    """`zone`: the person's, where a zip time or a camera's time (written without offset) is read.
    The capture time: the sidecar's photoTakenTime, else the file's own (EXIF, QuickTime), else the
    sidecar's creationTime (the upload), else the zip's time (the export)."""
    sidecar = raw.get("sidecar") or {}
    taken, time_source = _timestamp(sidecar.get("photoTakenTime")), "sidecar"
    if taken is None and raw.get("file_time"):
        taken, time_source = datetime.datetime.fromisoformat(raw["file_time"]), "file"
        taken = taken if taken.tzinfo is not None else taken.replace(tzinfo=zone)  # a camera's local time
    if taken is None:
        taken, time_source = _timestamp(sidecar.get("creationTime")), "sidecar"
    if taken is None and raw.get("zip_time"):
        taken, time_source = datetime.datetime.fromisoformat(raw["zip_time"]), "archive"
        taken = taken if taken.tzinfo is not None else taken.replace(tzinfo=zone)
    filename = display_name(raw["member"], sidecar)
    unmapped = sorted(set(sidecar) - KNOWN_SIDECAR)
    data = {
        "source": "takeout",
        "filename": filename,
        "album": posixpath.basename(posixpath.dirname(raw["member"])),
        "archive": raw["archive"],
        "member": raw["member"],
        "mime_type": raw["mime_type"],
        "sha256": raw["sha256"],
        "size": raw["size"],
        "file": raw["file"],
        "description": sidecar.get("description", ""),
        "geo": _geo(sidecar.get("geoData")) or _geo(sidecar.get("geoDataExif")),
        "people": [p.get("name") for p in sidecar.get("people") or [] if isinstance(p, dict) and p.get("name")],
        "taken_at": taken.isoformat() if taken else None,
        "time_source": time_source if taken else None,
        "created_at": _iso(_timestamp(sidecar.get("creationTime"))),
        "favorited": bool(sidecar.get("favorited")),
        "google_photos_url": sidecar.get("url", ""),
        "sidecar": raw.get("sidecar_name") or None,
        "width": raw.get("width"),
        "height": raw.get("height"),
    }
    if raw.get("sidecar_unreadable"):
        data["sidecar_unreadable"] = raw["sidecar_unreadable"]
    if unmapped:
        data["extra"] = {key: sidecar[key] for key in unmapped}
    is_video = (raw["mime_type"] or "").startswith("video/")
    return Record(
        external_id=f"takeout:{raw['sha256']}",
        kind="video" if is_video else "photo",
        title=filename,
        summary=sidecar.get("description", ""),
        occurred_at=taken,
        data=data,
        version=media_match.version(raw["sha256"], raw.get("capture", "")),
        unmapped=unmapped,
    )


def _iso(value):
    return value.isoformat() if value else None
